"""The caseworker's day in a real browser: sign in with a second factor, find a person by a Latin spelling of
a Cyrillic name, record an incident, see it on the person page; in Russian and English; JS on and off.

Database set-up happens before Playwright starts and checks after it stops: Playwright's sync API runs an
event loop in this thread, and Django refuses ORM calls from a thread with a running loop.
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
from kartoteka.casework.models import Incident
from kartoteka.lib import vocab
from kartoteka.people import services
from kartoteka.people.services import PersonInput
from kartoteka.testing.factories import user_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # the factories' password
FULL_NAME = "Щербаков Пётр Юрьевич"
LATIN_QUERY = "Shcherbakov Pyotr"  # how a relative abroad might type it
CATEGORY = "heating_cut"
INCIDENT_DATE = "10.04.2023"


@dataclass(frozen=True)
class Scene:
    username: str
    totp: tuple[bytes, int, int, int, int]  # key, step, t0, digits, drift: what an authenticator app holds
    person_id: uuid.UUID


def _scene_make(username: str) -> Scene:
    team = Team.objects.create(name="Команда Север")
    user = user_make(username, teams=(team,))
    enrolment = totp_enrolled(user)
    device = enrolment.device
    person = services.person_create(actor=user, team=team, data=PersonInput(full_name=FULL_NAME, sex="m"))
    return Scene(
        username=username,
        totp=(enrolment.seed, device.step, device.t0, device.digits, device.drift),
        person_id=person.id,
    )


def _code(scene: Scene) -> str:
    key, step, t0, digits, drift = scene.totp
    totp = TOTP(key, step, t0, digits, drift)
    totp.time = time.time()
    return f"{totp.token():0{digits}d}"


def _scripts_run(page: Page) -> bool:
    """Does the page run its own scripts? Proves the JS-off run really had JavaScript off."""
    page.set_content("<p id=probe>off</p><script>document.getElementById('probe').textContent='on'</script>")
    return page.inner_text("#probe") == "on"


def _post(page: Page, button: Locator) -> None:
    """Click a form's submit button and insist the POST was answered without an error status."""
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.request.resource_type == "document"
    ) as answer:
        button.click()
    response = answer.value
    hint = ""
    if response.status == 403:
        hint = " (a CSRF refusal? under a no-referrer policy browsers send Origin: null)"
    assert response.status < 400, f"POST {response.url} answered {response.status}{hint}"


def _submit(page: Page) -> None:
    """The main form's button (the header's language form has one too)."""
    _post(page, page.locator("main form[method=post] button[type=submit]").first)


def _language_switch(page: Page, code: str) -> None:
    page.select_option("#lang-select", code)
    _post(page, page.locator("form.lang button[type=submit]"))
    expect(page.locator("html")).to_have_attribute("lang", code)


def _sign_in(page: Page, base: str, scene: Scene, shots: Screenshots) -> None:
    search = base + reverse("people:search")
    page.goto(search)
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    expect(page.locator("html")).to_have_attribute("lang", "ru")  # Russian is the default language
    shots.take(page, "login-ru")
    _language_switch(page, "en")
    shots.take(page, "login-en")
    _language_switch(page, "ru")

    page.fill("#id_username", scene.username)
    page.fill("#id_password", PASSWORD)
    _submit(page)
    expect(page).to_have_url(base + reverse("accounts:otp"))
    shots.take(page, "second-factor-ru")
    page.fill("#id_code", _code(scene))
    _submit(page)
    expect(page).to_have_url(search)  # back where the login wall stopped us


def _find_person(page: Page, base: str, shots: Screenshots) -> None:
    page.fill("#id_q", LATIN_QUERY)
    _submit(page)
    # The answer comes in the POST response: the query never reaches an address.
    expect(page).to_have_url(base + reverse("people:search"))
    assert "Shcherbakov" not in page.url
    hit = page.get_by_role("link", name=FULL_NAME)
    expect(hit).to_have_count(1)
    shots.take(page, "search-by-latin-spelling-ru")
    hit.click()


def _add_incident(page: Page, base: str, scene: Scene, shots: Screenshots) -> None:
    person_page = base + reverse("people:detail", args=[scene.person_id])
    expect(page).to_have_url(person_page)
    expect(page.locator("h1")).to_have_text(FULL_NAME)
    page.locator(f'a[href="{reverse("casework:incident_create")}?person={scene.person_id}"]').click()
    # The person the form was opened from is already ticked as a victim.
    expect(page.locator(f'input[name=victims][value="{scene.person_id}"]')).to_be_checked()
    page.fill("#id_date", INCIDENT_DATE)
    page.locator(f'input[name=categories][value="{CATEGORY}"]').check()
    page.fill("#id_description", "Отопление отключено в декабре; в камере +6.")
    shots.take(page, "incident-form-ru")
    _submit(page)
    expect(page).to_have_url(re.compile(re.escape(base) + r"/casework/incidents/[0-9a-f-]{36}/$"))
    page.locator(f'main a[href="{reverse("people:detail", args=[scene.person_id])}"]').first.click()
    expect(page).to_have_url(person_page)


def _incident_on_person_page(page: Page, shots: Screenshots) -> None:
    incidents = page.locator("section[aria-labelledby=h-incidents] tbody")
    expect(incidents.locator("tr")).to_have_count(1)
    expect(incidents).to_contain_text(vocab.label("incident_category", CATEGORY, "ru"))
    expect(incidents).to_contain_text("2023")
    shots.take(page, "person-with-incident-ru")
    _language_switch(page, "en")
    expect(incidents).to_contain_text(vocab.label("incident_category", CATEGORY, "en"))
    shots.take(page, "person-with-incident-en")


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_it_signs_in_finds_a_person_by_latin_spelling_and_records_an_incident(
    live_server: LiveServer, agent_ready: Path, tmp_path: Path, javascript: bool
) -> None:
    mode = "js-on" if javascript else "js-off"
    scene = _scene_make(f"browser-{mode}")
    shots = Screenshots(mode)
    base = live_server.url
    foreign: list[str] = []
    broken: list[str] = []
    with (
        sync_playwright() as playwright,
        chromium_context(playwright, tmp_path, javascript=javascript) as ctx,
    ):
        page = ctx.new_page()
        assert _scripts_run(page) is javascript
        # No CDN, font or analytics host: every request stays on the application.
        page.on("request", lambda r: None if r.url.startswith(base) else foreign.append(r.url))
        # A stylesheet that fails to load leaves a page usable but unreadable; no test would notice else.
        page.on("response", lambda r: broken.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        _sign_in(page, base, scene, shots)
        _find_person(page, base, shots)
        _add_incident(page, base, scene, shots)
        _incident_on_person_page(page, shots)

    assert foreign == []
    assert broken == []
    assert len(shots.taken) == 7
    incident = Incident.objects.get()  # exactly one: no double submission
    assert list(incident.victims.values_list("id", flat=True)) == [scene.person_id]
