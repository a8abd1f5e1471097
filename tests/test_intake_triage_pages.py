"""The triage pages in both languages: Russian from the intake app's own catalogue, English as written;
the key holder sees the queue and the submission, a teammate and an outsider without a key get 404."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from kartoteka.accounts.models import Role, User
from kartoteka.accounts.testing import login_verified
from kartoteka.intake import limits
from kartoteka.intake.models import Submission
from kartoteka.intake.triage import services as triage
from kartoteka.testing.factories import Cast, cast_make, user_make

PASSPHRASE = "triage passphrase for tests"

PAGES = {
    "ru": {
        "queue": ["Разбор обращений", "Парольная фраза ключа разбора", "Открыть", "Обращение", "День"],
        "unlocked": ["Ваш ключ разбора открыт.", "Закрыть сейчас"],
        "detail": [
            "Файлы",
            "Возможные дубликаты",
            "Создать записи",
            "Полное имя",
            "Описание инцидента",
            "Ответ заявителю",
            "Отправить ответ",
        ],
    },
    "en": {
        "queue": ["Intake triage", "Triage passphrase", "Unlock", "Submission", "Day"],
        "unlocked": ["Your triage key is unlocked.", "Lock now"],
        "detail": [
            "Files",
            "Possible duplicates",
            "Create records",
            "Full name",
            "Incident description",
            "Reply to the reporter",
            "Send reply",
        ],
    },
}


def _client(user: User, lang: str) -> Client:
    client = Client()
    login_verified(client, user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = lang
    return client


def _submission() -> Submission:
    limits.reset()
    Client().post("/report/?lang=ru", {"relationship": "mother", "what_text": "для разбора"})
    return Submission.objects.get()


@pytest.fixture
def cast(agent_ready: Path) -> Cast:
    cast = cast_make()
    admin = user_make("boss", role=Role.ADMIN)
    triage.triage_key_create(actor=admin, user=cast.owner, passphrase=PASSPHRASE)
    return cast


@pytest.mark.django_db
@pytest.mark.parametrize("lang", ["ru", "en"])
def test_it_shows_the_triage_pages_in_both_languages(cast: Cast, lang: str) -> None:
    sub = _submission()
    client = _client(cast.owner, lang)
    body = client.get("/intake/triage/").content.decode()
    for text in PAGES[lang]["queue"]:
        assert text in body, text
    page = client.post("/intake/triage/unlock/", {"passphrase": PASSPHRASE, "minutes": 30}, follow=True)
    body = page.content.decode()
    for text in PAGES[lang]["unlocked"]:
        assert text in body, text
    body = client.get(f"/intake/triage/{sub.id}/").content.decode()
    assert "для разбора" in body
    for text in PAGES[lang]["detail"]:
        assert text in body, text
    other = "en" if lang == "ru" else "ru"
    assert PAGES[other]["detail"][2] not in body
    triage.triage_lock(user=cast.owner)


@pytest.mark.django_db
def test_it_hides_the_triage_pages_from_staff_without_a_key(cast: Cast) -> None:
    sub = _submission()
    for user in (cast.teammate, cast.outsider):
        client = _client(user, "ru")
        assert client.get("/intake/triage/").status_code == 404
        assert client.get(f"/intake/triage/{sub.id}/").status_code == 404
    assert _client(cast.owner, "ru").get("/intake/triage/").status_code == 200
