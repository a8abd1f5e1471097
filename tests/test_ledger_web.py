"""The ledger where people read it: the person page (both languages), the overdue-and-broken queue, the
analysts' figures and the API, all through the real login wall, views, gates and key agent."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from kartoteka.accounts import services as account_services
from kartoteka.accounts.models import Team, User
from kartoteka.accounts.testing import login_verified
from kartoteka.casework.services import (
    delivery_create,
    promise_create,
    recruitment_create,
    service_event_create,
)
from kartoteka.law.models import LedgerLine
from kartoteka.law.selectors import ledger_aggregates, ledger_for_person, overdue_queue
from kartoteka.law.services import ledger_recompute
from kartoteka.lib.partialdate import parse
from kartoteka.people.models import Person
from kartoteka.people.services import PersonInput, person_create
from kartoteka.testing.factories import Cast, cast_make

pytestmark = pytest.mark.django_db

NAME = "Синтетиков Леджер Тестович"
PERSON_LINK = re.compile(r'href="/people/([0-9a-f-]{36})/"')


@pytest.fixture
def cast(agent_ready: Path) -> Cast:
    return cast_make()


def person_with_ledger(actor: User, team: Team) -> Person:
    """Storm-V signed 2024-01-01, 204,000/month promised, missing from 2024-04-10, two payments."""
    person = person_create(actor=actor, team=team, data=PersonInput(full_name=NAME))
    rec = recruitment_create(
        actor=actor, person=person, recruiter="mod_storm_v", signed=parse("2024-01-01"),
        legal_status="convicted",
    )  # fmt: skip
    service_event_create(
        actor=actor, person=person, kind="missing", date=parse("2024-04-10"), recruitment_id=rec.id
    )
    pay = promise_create(
        actor=actor, person=person, kind="monthly_pay", amount=Decimal(204_000), condition="monthly",
        recruitment_id=rec.id,
    )  # fmt: skip
    delivery_create(
        actor=actor, promise=pay, outcome="delivered", amount=Decimal(204_000), date=parse("2024-02-05")
    )
    ledger_recompute(actor=None, person_ids=[person.id], as_of=date(2024, 5, 15))
    return person


def client_for(user: User, lang: str = "ru") -> Client:
    client = Client()
    login_verified(client, user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = lang
    return client


def bearer(user: User) -> Client:
    raw, _ = account_services.api_token_create(user=user, name="test", days=1)
    return Client(headers={"Authorization": f"Bearer {raw}"})


def text_of(response: Any) -> str:
    return unescape(response.content.decode())


def ledger_section(page: str) -> str:
    start = page.index('id="h-ledger"')
    return page[start : page.index("</section>", start)]


@pytest.mark.parametrize(
    ("lang", "heading", "labels"),
    [("ru", "Начисления: что обещано и что причитается", {"overdue": "просрочено", "broken": "нарушено"}),
     ("en", "Ledger: what was promised and what is owed", {"overdue": "overdue", "broken": "broken"})],
)  # fmt: skip
def test_it_shows_a_teammate_the_ledger_on_the_person_page(
    cast: Cast, lang: str, heading: str, labels: dict[str, str]
) -> None:
    person = person_with_ledger(cast.owner, cast.team)
    expected = ledger_for_person(user=cast.teammate, person_id=person.id, lang=lang)
    assert expected.lines
    response = client_for(cast.teammate, lang).get(f"/people/{person.id}/")
    assert response.status_code == 200
    page = text_of(response)
    assert heading in page
    section = ledger_section(page)
    assert section.count("<tr>") - 1 == len(expected.lines)  # one header row
    for line in expected.lines:
        assert line.explanation.splitlines()[0] in section
        assert f'class="status-{line.status}"' in section
    shown = {line.status for line in expected.lines} & labels.keys()
    assert shown
    for status in shown:
        assert f'class="status-{status}">{labels[status]}' in section
    missing = [line.amount_missing for line in expected.lines if line.amount_missing]
    assert missing and f"{missing[0]} RUB" in section


def test_it_answers_404_to_an_outsider_on_the_person_page_and_the_ledger_api(cast: Cast) -> None:
    person = person_with_ledger(cast.owner, cast.team)
    assert client_for(cast.outsider).get(f"/people/{person.id}/").status_code == 404
    assert bearer(cast.outsider).get(f"/api/persons/{person.id}/ledger").status_code == 404
    assert bearer(cast.teammate).get(f"/api/persons/{person.id}/ledger").status_code == 200


def queue_persons(client: Client, query: str = "") -> set[str]:
    response = client.get(f"/casework/ledger/overdue/{query}")
    assert response.status_code == 200
    return set(PERSON_LINK.findall(response.content.decode()))


def test_it_lists_in_the_overdue_page_only_persons_the_user_may_see(cast: Cast) -> None:
    mine = person_with_ledger(cast.owner, cast.team)
    theirs = person_with_ledger(cast.outsider, cast.other_team)
    assert queue_persons(client_for(cast.teammate)) == {str(mine.id)}
    assert queue_persons(client_for(cast.outsider, "en")) == {str(theirs.id)}
    assert queue_persons(client_for(cast.teammate), f"?team={cast.team.id}") == {str(mine.id)}
    assert queue_persons(client_for(cast.teammate), "?regime=wagner-2022") == set()
    total = overdue_queue(user=cast.teammate).total
    assert total == LedgerLine.objects.filter(person=mine, status__in=["overdue", "broken"]).count() > 0
    assert f"· {total} " in text_of(client_for(cast.teammate, "en").get("/casework/ledger/overdue/"))
    nav = text_of(client_for(cast.teammate).get("/"))
    assert 'href="/casework/ledger/overdue/"' in nav


def test_it_pages_the_overdue_page(cast: Cast) -> None:
    person_with_ledger(cast.owner, cast.team)
    total = overdue_queue(user=cast.owner).total
    assert total > 1
    client = client_for(cast.owner)
    first = client.get("/casework/ledger/overdue/").content.decode()
    assert len(PERSON_LINK.findall(first)) == min(total, 50)
    assert ('rel="next"' in first) == (total > 50)
    beyond = client.get(f"/casework/ledger/overdue/?page={total // 50 + 2}").content.decode()
    assert PERSON_LINK.findall(beyond) == [] and 'rel="prev"' in beyond


@pytest.mark.parametrize("by", ["promise_kind", "regime", "recruiter", "region", "year"])
def test_it_shows_an_analyst_the_figures_without_names(cast: Cast, by: str) -> None:
    person = person_with_ledger(cast.owner, cast.team)
    person_with_ledger(cast.outsider, cast.other_team)
    response = client_for(cast.analyst, "en").get(f"/casework/ledger/figures/?by={by}")
    assert response.status_code == 200
    page = text_of(response)
    assert NAME not in page and str(person.id) not in page
    rows = ledger_aggregates(user=cast.analyst, by=by)
    total = sum(r.total for r in rows)
    assert total == LedgerLine.objects.filter(person=person).count() > 0
    assert f"· {total} in all" in page
    api = bearer(cast.analyst).get(f"/api/ledger/figures?by={by}")
    assert api.status_code == 200 and NAME not in api.content.decode()
    assert api.json() == [{"key": r.key, "counts": dict(r.counts), "total": r.total} for r in rows]


def test_it_returns_through_the_api_the_same_lines_as_the_selectors(cast: Cast) -> None:
    person = person_with_ledger(cast.owner, cast.team)
    client = bearer(cast.teammate)
    body = client.get(f"/api/persons/{person.id}/ledger?lang=en").json()
    expected = ledger_for_person(user=cast.teammate, person_id=person.id, lang="en")
    assert [(x["kind"], x["sequence"], x["status"], x["explanation"]) for x in body["lines"]] == [
        (v.kind, v.sequence, v.status, v.explanation) for v in expected.lines
    ]
    amounts = [None if x["amount_missing"] is None else Decimal(x["amount_missing"]) for x in body["lines"]]
    assert amounts == [v.amount_missing for v in expected.lines]
    ru = client.get(f"/api/persons/{person.id}/ledger?lang=ru").json()
    assert (
        ru["lines"][0]["explanation"]
        == ledger_for_person(user=cast.teammate, person_id=person.id, lang="ru").lines[0].explanation
    )
    queue = client.get("/api/ledger/overdue?per_page=200").json()
    page = overdue_queue(user=cast.teammate, per_page=200)
    assert queue["total"] == page.total and len(queue["items"]) == len(page.items)
    assert [i["line_id"] for i in queue["items"]] == [str(i.line_id) for i in page.items]
    assert bearer(cast.outsider).get("/api/ledger/overdue").json()["total"] == 0
    assert client.get("/api/ledger/figures?by=name").status_code == 422
