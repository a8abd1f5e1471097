"""The dashboard in a real browser with JavaScript off: sign in, read the charts and the tile map in Russian
and English, filter through the plain GET form; screenshots into test-artifacts/screenshots/dashboard/.

Database set-up happens before Playwright starts: Playwright's sync API runs an event loop in this thread,
and Django refuses ORM calls from a thread with a running loop.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from browser_support import Screenshots, chromium_context
from django.urls import reverse
from django_otp.oath import TOTP
from playwright.sync_api import Page, expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from kartoteka.accounts.models import User
from kartoteka.accounts.testing import totp_enrolled
from kartoteka.demo import generate
from kartoteka.law.services import ledger_recompute
from kartoteka.people.models import Person
from kartoteka.reports import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SEED = 4


def _setup() -> tuple[str, str, tuple[bytes, int, int, int, int]]:
    generate.demo_load(persons=40, seed=SEED)
    ledger_recompute(actor=None, person_ids=[str(p) for p in Person.objects.values_list("id", flat=True)])
    services.summaries_refresh()
    user = User.objects.get(username="demo-caseworker")
    enrolment = totp_enrolled(user)
    device = enrolment.device
    return (
        user.username,
        generate.demo_password(SEED),
        (enrolment.seed, device.step, device.t0, device.digits, device.drift),
    )


def _code(totp: tuple[bytes, int, int, int, int]) -> str:
    key, step, t0, digits, drift = totp
    token = TOTP(key, step, t0, digits, drift)
    token.time = time.time()
    return f"{token.token():0{digits}d}"


def _submit(page: Page, selector: str) -> None:
    with page.expect_response(lambda r: r.request.resource_type == "document", timeout=90_000) as answer:
        page.locator(selector).first.click()
    assert answer.value.status < 400, answer.value.url


def _language(page: Page, code: str) -> None:
    page.select_option("#lang-select", code)
    _submit(page, "form.lang button[type=submit]")
    expect(page.locator("html")).to_have_attribute("lang", code)


def test_it_shows_the_dashboard_and_the_tile_map_in_russian_and_english_without_javascript(
    live_server: LiveServer, agent_ready: Path, tmp_path: Path
) -> None:
    username, password, totp = _setup()
    shots = Screenshots("dashboard")
    base = live_server.url
    dashboard = base + reverse("reports:dashboard")
    with sync_playwright() as playwright, chromium_context(playwright, tmp_path, javascript=False) as ctx:
        page = ctx.new_page()
        # The first view of a filter combination draws ~15 charts (seconds on a busy 2-core machine);
        # the helpers' 10 s suits ordinary pages, not this one.
        page.set_default_timeout(90_000)
        page.set_default_navigation_timeout(90_000)
        page.goto(dashboard)
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        _submit(page, "main form[method=post] button[type=submit]")
        page.fill("#id_code", _code(totp))
        _submit(page, "main form[method=post] button[type=submit]")
        expect(page).to_have_url(dashboard)
        expect(page.locator("h1")).to_have_text("Сводка")
        expect(page.locator("#fig-incidents_by_month > svg > title")).to_contain_text("Инциденты по месяцам")
        expect(page.locator(".visible-note").first).to_contain_text("доступны вам")
        box = page.locator("#fig-tile_map > svg").bounding_box()
        assert box is not None and box["width"] > 500  # drawn at full size, without any script
        shots.take(page, "dashboard-ru")
        page.locator("#fig-tile_map").screenshot(path=str(shots.folder / "tile-map-ru.png"))

        _language(page, "en")
        expect(page.locator("h1")).to_have_text("Dashboard")
        expect(page.locator("#fig-tile_map > svg > title")).to_contain_text("Incidents by region")
        expect(page.locator(".visible-note").first).to_contain_text("visible to you")
        shots.take(page, "dashboard-en")
        page.locator("#fig-tile_map").screenshot(path=str(shots.folder / "tile-map-en.png"))

        page.fill("#id_date_from", "2023-01")
        page.fill("#id_date_to", "2023-12")
        _submit(page, "form.filters button[type=submit]")
        expect(page).to_have_url(re.compile(r"date_from=2023-01"))
        expect(page.locator("#id_date_from")).to_have_value("2023-01")
        shots.take(page, "dashboard-en-filtered-2023")
    assert (shots.folder / "tile-map-ru.png").stat().st_size > 5000
    assert (shots.folder / "tile-map-en.png").stat().st_size > 5000
