"""Clerical review in a real browser with JavaScript off: the queue, the pair side by side with the
differing region marked, "same person" by a plain form POST, then the merge undone from the person's merge
history; Russian first, then English.

Database set-up happens before Playwright starts and checks after it stops (Django refuses ORM calls from a
thread with a running event loop).
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_support import Screenshots, chromium_context
from django.urls import reverse
from django_otp.oath import TOTP
from playwright.sync_api import Locator, Page, expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from kartoteka.accounts.models import Team
from kartoteka.accounts.testing import totp_enrolled
from kartoteka.linkage import services
from kartoteka.linkage.models import CandidatePair, MergeEvent
from kartoteka.linkage.types import PairScore
from kartoteka.people import services as people
from kartoteka.people.models import Record
from kartoteka.people.services import PersonInput
from kartoteka.registry.models import Region
from kartoteka.testing.factories import user_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
FIRST = "Морозов Павел Олегович"
SECOND = "Морозов П.О."


@dataclass(frozen=True)
class Scene:
    username: str
    totp: tuple[bytes, int, int, int, int]
    pair_id: uuid.UUID
    kept: uuid.UUID  # the older person, who takes both records
    absorbed: uuid.UUID
    absorbed_record: uuid.UUID


def _scene_make() -> Scene:
    team = Team.objects.create(name="Команда Юг")
    user = user_make("reviewer", teams=(team,))
    enrolment = totp_enrolled(user)
    device = enrolment.device
    for code in ("RU-SVE", "RU-PER"):
        Region.objects.get_or_create(code=code, defaults={"name_ru": code, "name_en": code, "status": "ru"})
    a = people.person_create(
        actor=user, team=team, data=PersonInput(full_name=FIRST, home_region_code="RU-SVE")
    )
    b = people.person_create(
        actor=user, team=team, data=PersonInput(full_name=SECOND, home_region_code="RU-PER")
    )
    run = services.link_run_create(
        actor=user, kind="dedupe", engine="duckdb", model_version="t",
        params={"review_threshold": 0.5, "accept_threshold": 0.95}, team=team,
    )  # fmt: skip
    ra, rb = (Record.objects.get(person=p).id for p in (a, b))
    services.candidate_pairs_store(run=run, pairs=[PairScore(ra, rb, 0.83, 3.1, {"name": 2, "region": 0})])
    return Scene(
        "reviewer",
        (enrolment.seed, device.step, device.t0, device.digits, device.drift),
        CandidatePair.objects.get().id,
        a.id,
        b.id,
        rb,
    )


def _code(scene: Scene) -> str:
    key, step, t0, digits, drift = scene.totp
    totp = TOTP(key, step, t0, digits, drift)
    totp.time = time.time()
    return f"{totp.token():0{digits}d}"


def _post(page: Page, button: Locator) -> None:
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.request.resource_type == "document"
    ) as answer:
        button.click()
    assert answer.value.status < 400, f"POST {answer.value.url} answered {answer.value.status}"


def _sign_in(page: Page, base: str, scene: Scene) -> None:
    page.goto(base + reverse("linkage:queue"))
    page.fill("#id_username", scene.username)
    page.fill("#id_password", PASSWORD)
    _post(page, page.locator("main form[method=post] button[type=submit]").first)
    page.fill("#id_code", _code(scene))
    _post(page, page.locator("main form[method=post] button[type=submit]").first)
    expect(page).to_have_url(base + reverse("linkage:queue"))


def test_it_reviews_a_pair_and_undoes_the_merge_without_javascript(
    live_server: LiveServer, agent_ready: Path, tmp_path: Path
) -> None:
    scene = _scene_make()
    shots = Screenshots("linkage-review")
    base = live_server.url
    with sync_playwright() as playwright, chromium_context(playwright, tmp_path, javascript=False) as ctx:
        page = ctx.new_page()
        _sign_in(page, base, scene)
        expect(page.locator("h1")).to_have_text("Проверка возможных совпадений")
        expect(page.locator("main")).not_to_contain_text(FIRST)  # no names in the queue
        page.locator(f'a[href="{reverse("linkage:pair", args=[scene.pair_id])}"]').click()
        expect(page.locator("main table").first).to_contain_text(FIRST)
        expect(page.locator("main table").first).to_contain_text(SECOND)
        expect(page.locator("mark", has_text="RU-SVE")).to_have_count(1)
        shots.take(page, "pair-ru")
        _post(page, page.get_by_role("button", name="Один человек"))
        expect(page).to_have_url(base + reverse("linkage:queue"))
        expect(page.locator("[role=status]")).to_contain_text("один человек")

        page.goto(base + reverse("people:detail", args=[scene.kept]))
        page.get_by_role("link", name="История объединений").click()
        expect(page).to_have_url(base + reverse("linkage:person_merges", args=[scene.kept]))
        shots.take(page, "merge-history-ru")
        _post(page, page.get_by_role("button", name="Отменить это объединение"))
        expect(page.locator("[role=status]")).to_contain_text("Отменено")
        page.select_option("#lang-select", "en")
        _post(page, page.locator("form.lang button[type=submit]"))
        expect(page.locator("h1")).to_have_text("Merge history")
        expect(page.locator("main")).to_contain_text(re.compile("merge undone"))
        shots.take(page, "merge-history-en")

    assert Record.objects.get(pk=scene.absorbed_record).person_id == scene.absorbed
    assert CandidatePair.objects.get().status == "accepted"
    assert list(MergeEvent.objects.order_by("at").values_list("kind", flat=True)) == ["merge", "unmerge"]
