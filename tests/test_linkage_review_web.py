"""The clerical review pages: queue, side-by-side pair page with differences marked, decisions by POST
(CSRF), 404 for whoever may not see a pair, cross-team pairs that never show the other team's name, and
the person page's merge history with undo. Through the real middleware, views, services and key agent.
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from kartoteka.accounts.models import IdentityRead, Role, User
from kartoteka.accounts.testing import login_verified
from kartoteka.lib.partialdate import parse
from kartoteka.linkage import services
from kartoteka.linkage.models import CandidatePair, LinkRun, MergeEvent
from kartoteka.linkage.types import PairScore
from kartoteka.people import services as people
from kartoteka.people.models import Person, Record
from kartoteka.people.services import PersonInput
from kartoteka.registry.models import Region
from kartoteka.testing.factories import Cast, cast_make, user_make

PARAMS = {"review_threshold": 0.5, "accept_threshold": 0.95}
GAMMA = {"name": 3, "birth_date": 0}
MINE = "Кравцов Андрей Викторович"
MINE_TOO = "Кравцов Андрей"
THEIRS = "Kravtsov Andrei Viktorovich"


def _client(user: User, lang: str = "ru") -> Client:
    client = Client()
    login_verified(client, user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = lang
    return client


def _text(response: object) -> str:
    return unescape(response.content.decode())  # type: ignore[attr-defined]


def _record(person: Person) -> Record:
    return Record.objects.filter(person=person).order_by("created_at", "id")[0]


def _region(code: str) -> str:
    Region.objects.get_or_create(code=code, defaults={"name_ru": code, "name_en": code, "status": "ru"})
    return code


def _pair(run: LinkRun, a: Person, b: Person) -> CandidatePair:
    services.candidate_pairs_store(run=run, pairs=[PairScore(_record(a).id, _record(b).id, 0.8, 2.5, GAMMA)])
    return CandidatePair.objects.get(run=run)


def _same_team(cast: Cast) -> tuple[Person, Person, CandidatePair]:
    a = people.person_create(
        actor=cast.owner, team=cast.team,
        data=PersonInput(full_name=MINE, birth_date=parse("1980-05-02"), home_region_code=_region("RU-SVE")),
    )  # fmt: skip
    b = people.person_create(
        actor=cast.owner, team=cast.team,
        data=PersonInput(full_name=MINE_TOO, birth_date=parse("1980-05-02"), home_region_code=_region("RU-PER")),
    )  # fmt: skip
    run = services.link_run_create(
        actor=cast.owner, kind="dedupe", engine="duckdb", model_version="t", params=PARAMS, team=cast.team
    )
    return a, b, _pair(run, a, b)


@pytest.mark.django_db
def test_it_shows_the_pair_side_by_side_with_differences_marked(agent_ready: Path) -> None:
    cast = cast_make()
    a, b, pair = _same_team(cast)
    client = _client(cast.teammate)
    queue = _text(client.get("/linkage/review/"))
    assert "Проверка возможных совпадений" in queue and f"/linkage/review/{pair.id}/" in queue
    assert MINE not in queue  # the queue shows no names
    page = client.get(f"/linkage/review/{pair.id}/")
    assert page.status_code == 200
    text = _text(page)
    assert MINE in text and MINE_TOO in text
    assert re.search(r"<mark>[^<]*\(RU-SVE\)</mark>", text) and re.search(r"<mark>[^<]*RU-PER\)</mark>", text)
    assert "<mark>1980-05-02</mark>" not in text and "отличается" in text and "совпадает" in text
    assert "Один человек" in text and 'name="csrfmiddlewaretoken"' in text
    assert set(IdentityRead.objects.filter(user=cast.teammate).values_list("person_id", flat=True)) == {
        a.id,
        b.id,
    }
    english = _text(_client(cast.teammate, "en").get(f"/linkage/review/{pair.id}/"))
    assert "Compare two records" in english and "Same person" in english


@pytest.mark.django_db
def test_it_records_a_decision_posted_with_csrf_and_merges(agent_ready: Path) -> None:
    cast = cast_make()
    a, _b, pair = _same_team(cast)
    strict = Client(enforce_csrf_checks=True)
    login_verified(strict, cast.owner)
    assert strict.post(f"/linkage/review/{pair.id}/decide/", {"decision": "accepted"}).status_code == 403
    assert CandidatePair.objects.get(pk=pair.id).status == "pending"
    client = _client(cast.owner)
    bad = client.post(f"/linkage/review/{pair.id}/decide/", {"decision": "perhaps"})
    assert bad.status_code == 400 and "Выберите решение." in _text(bad)
    response = client.post(f"/linkage/review/{pair.id}/decide/", {"decision": "accepted", "note": "тот же"})
    assert response.status_code == 302 and response["Location"] == "/linkage/review/"
    assert CandidatePair.objects.get(pk=pair.id).status == "accepted"
    assert Record.objects.filter(person=a).count() == 2
    again = client.post(f"/linkage/review/{pair.id}/decide/", {"decision": "rejected"})
    assert again.status_code == 400 and "По этой паре уже есть решение." in _text(again)
    assert services.review_labels() == [(pair.record_a_id, pair.record_b_id, True)]


@pytest.mark.django_db
def test_it_answers_404_to_whoever_may_not_see_the_pair(agent_ready: Path) -> None:
    cast = cast_make()
    _a, _b, pair = _same_team(cast)
    for user in (cast.outsider, cast.analyst, cast.lawyer):
        client = _client(user)
        assert client.get(f"/linkage/review/{pair.id}/").status_code == 404
        assert client.post(f"/linkage/review/{pair.id}/decide/", {"decision": "accepted"}).status_code == 404
        assert str(pair.id) not in _text(client.get("/linkage/review/"))
    assert _client(cast.owner).get("/linkage/review/01a2195e-b383-711f-a9c7-e985c8053b12/").status_code == 404
    assert CandidatePair.objects.get(pk=pair.id).status == "pending"


@pytest.mark.django_db
def test_it_never_shows_a_coordinator_the_other_teams_record(agent_ready: Path) -> None:
    cast = cast_make()
    admin = user_make("admin", role=Role.ADMIN, teams=(cast.team, cast.other_team))
    coord_a = user_make("coord_a", role=Role.COORDINATOR, teams=(cast.team,))
    coord_b = user_make("coord_b", role=Role.COORDINATOR, teams=(cast.other_team,))
    mine = people.person_create(actor=cast.owner, team=cast.team, data=PersonInput(full_name=MINE))
    theirs = people.person_create(
        actor=cast.outsider, team=cast.other_team, data=PersonInput(full_name=THEIRS)
    )
    run = services.link_run_create(
        actor=admin, kind="dedupe", engine="duckdb", model_version="t", params=PARAMS, team=None
    )
    pair = _pair(run, mine, theirs)
    for user in (cast.owner, cast.outsider):  # caseworkers of either team: not for them
        assert _client(user).get(f"/linkage/review/{pair.id}/").status_code == 404
    page_a = _text(_client(coord_a).get(f"/linkage/review/{pair.id}/"))
    assert MINE in page_a and THEIRS not in page_a and "Kravtsov" not in page_a
    assert "скрыто: запись другой команды" in page_a and "не совпадает" in page_a
    response = _client(coord_a).post(
        f"/linkage/review/{pair.id}/decide/", {"decision": "accepted", "note": MINE}
    )
    assert response.status_code == 302
    page_b = _text(_client(coord_b).get(f"/linkage/review/{pair.id}/"))
    assert THEIRS in page_b and MINE not in page_b and "Кравцов" not in page_b  # nor coord_a's note
    assert "Один человек" in page_b
    assert (
        _client(coord_b).post(f"/linkage/review/{pair.id}/decide/", {"decision": "accepted"}).status_code
        == 302
    )
    assert CandidatePair.objects.get(pk=pair.id).status == "accepted"
    assert MergeEvent.objects.get(pair=pair).kind == "link"
    assert Record.objects.get(pk=_record(theirs).id).person_id == theirs.id
    history = _text(_client(coord_b).get(f"/linkage/persons/{theirs.id}/merges/"))
    assert "связь с записью другой команды" in history and str(mine.id) not in history


@pytest.mark.django_db
def test_it_undoes_a_merge_from_the_person_page(agent_ready: Path) -> None:
    cast = cast_make()
    a, b, _unused = _same_team(cast)
    event = services.person_merge(actor=cast.owner, record_ids=[_record(a).id, _record(b).id])
    assert event is not None
    person_page = _text(_client(cast.teammate).get(f"/people/{a.id}/"))
    assert f"/linkage/persons/{a.id}/merges/" in person_page and "История объединений" in person_page
    absorbed = _text(_client(cast.teammate).get(f"/linkage/persons/{b.id}/merges/"))
    assert (
        "Записи этого человека объединены с другим человеком." in absorbed and f"/people/{a.id}/" in absorbed
    )
    history = _text(_client(cast.teammate).get(f"/linkage/persons/{a.id}/merges/"))
    assert "Отменить это объединение" in history
    assert _client(cast.outsider).get(f"/linkage/persons/{a.id}/merges/").status_code == 404
    analyst_view = _text(_client(cast.analyst).get(f"/linkage/persons/{a.id}/merges/"))
    assert "объединение" in analyst_view and "Отменить это объединение" not in analyst_view
    for user in (cast.outsider, cast.analyst):
        assert (
            _client(user).post(f"/linkage/merges/{event.id}/undo/", {"person": str(a.id)}).status_code == 404
        )
    teammate = _client(cast.teammate)
    response = teammate.post(f"/linkage/merges/{event.id}/undo/", {"person": str(a.id)})
    assert response.status_code == 302 and response["Location"] == f"/linkage/persons/{a.id}/merges/"
    assert Record.objects.get(pk=_record(b).id).person_id == b.id
    after = _text(teammate.get(response["Location"]))
    assert "Отменено: каждая запись вернулась" in after and "Отменить это объединение" not in after
