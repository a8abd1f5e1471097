"""A relative reports with JavaScript off, gets a codename, comes back later, adds information and reads a
staff reply; in Russian and English, switched the only way the public form allows (a plain link).

The reporter's two visits are two browser sessions with the staff reply sent in between: Playwright's sync
API runs an event loop in this thread and Django refuses ORM calls from a thread with a running loop, so
every database step happens while no Playwright is running.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from browser_support import Screenshots, chromium_context
from playwright.sync_api import Locator, Page, expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from kartoteka.accounts.models import Role, User
from kartoteka.intake import limits
from kartoteka.intake.models import Submission
from kartoteka.intake.texts import Lang, texts
from kartoteka.intake.triage import services as triage
from kartoteka.lib import vocab
from kartoteka.testing.factories import cast_make, user_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSPHRASE = "triage passphrase for browser tests"
CATEGORY = "beating"
REPORT = {
    "ru": ("Соколов Игорь Викторович", "ИК-6, Копейск", "Избили после отказа подписать контракт."),
    "en": ("Sokolov Igor Viktorovich", "IK-6, Kopeysk", "Beaten after refusing to sign a contract."),
}
REPLY = {
    "ru": "Мы получили ваше сообщение. Когда это случилось?",
    "en": "We received your report. When did this happen?",
}
ADDITION = {"ru": "В марте 2024 года, после проверки.", "en": "In March 2024, after an inspection."}
LOCALE = {"ru": "ru-RU", "en": "en-GB"}


def _triager() -> User:
    cast = cast_make()
    user = user_make("triage-browser", role=Role.COORDINATOR, teams=(cast.team,))
    triage.triage_key_create(actor=user, user=user, passphrase=PASSPHRASE)
    return user


def _scripts_run(page: Page) -> bool:
    """Does the page run scripts? Proves the run really had JavaScript off."""
    page.set_content("<p id=probe>off</p><script>document.getElementById('probe').textContent='on'</script>")
    return page.inner_text("#probe") == "on"


def _post(page: Page, button: Locator) -> None:
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.request.resource_type == "document"
    ) as answer:
        button.click()
    response = answer.value
    assert response.status < 400, f"POST {response.url} answered {response.status}"


def _open_form(page: Page, base: str, lang: Lang) -> None:
    page.goto(base + "/report/")
    expect(page.locator("html")).to_have_attribute("lang", "ru")  # Russian is the default
    if lang == "en":
        page.get_by_role("link", name=texts("ru")["lang_other"]).click()
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("h1")).to_have_text(texts(lang)["title"])


def _submit_report(page: Page, base: str, lang: Lang, shots: Screenshots) -> str:
    _open_form(page, base, lang)
    name, facility, what = REPORT[lang]
    page.select_option("#id_relationship", "mother")
    page.fill("#id_person_name", name)
    page.fill("#id_birth_year", "1987")
    page.fill("#id_facility", facility)
    page.get_by_label(vocab.label("incident_category", CATEGORY, lang), exact=True).check()
    page.fill("#id_what_text", what)
    shots.take(page, "report-form")
    _post(page, page.locator("main form[method=post] button[type=submit]"))
    expect(page.locator("h1")).to_have_text(texts(lang)["sent_title"])
    codename = page.inner_text("#codename").strip()
    assert len(codename.split()) >= 4, "a codename is a few random words"
    shots.take(page, "receipt-with-codename")
    return codename


def _return_and_read(page: Page, base: str, lang: Lang, codename: str, shots: Screenshots) -> None:
    t = texts(lang)
    _open_form(page, base, lang)
    page.get_by_role("link", name=t["return_link"]).click()
    expect(page).to_have_url(re.compile(r"/report/return/\?lang=" + lang + "$"))
    expect(page.locator("h1")).to_have_text(t["return_title"])
    page.fill("#id_codename", codename)
    shots.take(page, "return-form")
    _post(page, page.locator("main form[method=post] button[type=submit]"))
    expect(page.locator("h1")).to_have_text(t["replies"])
    expect(page.locator("article.reply")).to_have_count(1)
    expect(page.locator("article.reply")).to_contain_text(REPLY[lang])
    page.fill("#id_add_text", ADDITION[lang])
    shots.take(page, "thread-with-reply")
    _post(page, page.locator("main form[method=post] button[type=submit]"))
    expect(page.locator("p.ok[role=status]")).to_have_text(t["added"])
    expect(page.locator("article.reply")).to_contain_text(REPLY[lang])  # still readable after adding
    shots.take(page, "addition-received")


def _browse(
    base: str, profile: Path, lang: Lang, visit: Callable[[Page], None], foreign: list[str], broken: list[str]
) -> None:
    with (
        sync_playwright() as playwright,
        chromium_context(playwright, profile, javascript=False, locale=LOCALE[lang]) as ctx,
    ):
        page = ctx.new_page()
        assert _scripts_run(page) is False
        page.on("request", lambda r: None if r.url.startswith(base) else foreign.append(r.url))
        page.on("response", lambda r: broken.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        visit(page)


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_it_lets_a_reporter_without_javascript_return_add_information_and_read_a_reply(
    live_server: LiveServer, agent_ready: Path, tmp_path: Path, lang: Lang
) -> None:
    limits.reset()
    user = _triager()
    shots = Screenshots(f"intake-{lang}")
    base = live_server.url
    foreign: list[str] = []
    broken: list[str] = []
    codenames: list[str] = []

    _browse(
        base,
        tmp_path / "first-visit",
        lang,
        lambda page: codenames.append(_submit_report(page, base, lang, shots)),
        foreign,
        broken,
    )
    (codename,) = codenames
    report = Submission.objects.get()
    triage.triage_unlock(user=user, passphrase=PASSPHRASE)
    opened = triage.submission_open(user=user, submission_id=report.id)
    assert opened.fields["what_text"] == REPORT[lang][2] and opened.fields["categories"] == [CATEGORY]
    triage.reply_send(actor=user, submission_id=report.id, text=REPLY[lang])

    _browse(
        base,
        tmp_path / "second-visit",
        lang,
        lambda page: _return_and_read(page, base, lang, codename, shots),
        foreign,
        broken,
    )

    assert foreign == []
    assert broken == []
    assert len(shots.taken) == 5
    followup = Submission.objects.get(kind="followup")  # exactly one: no double submission
    assert followup.reporter_id == report.reporter_id
    assert triage.submission_open(user=user, submission_id=followup.id).fields["what_text"] == ADDITION[lang]
