"""The caseworkers' web pages: every page renders in both languages, outsiders get 404, analysts never see
an identity field or sealed text, name search by POST, the incident form round trip and Russian errors.

Everything goes through the real middleware (login wall, second factor), views, services and key agent.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.conf import settings
from django.test import Client

from kartoteka.accounts import access
from kartoteka.accounts.models import IdentityRead, User
from kartoteka.accounts.testing import login_verified
from kartoteka.audit.models import AuditEntry
from kartoteka.casework import services, views
from kartoteka.casework.models import Incident
from kartoteka.lib.partialdate import parse
from kartoteka.people.models import Person
from kartoteka.people.services import PersonInput, person_create
from kartoteka.registry.models import Facility, Region
from kartoteka.testing.factories import Cast, cast_make

NAME = "Иванов Сергей Петрович"


def canary() -> str:
    return "kanareika" + secrets.token_hex(6)


@dataclass
class World:
    cast: Cast
    person: Person
    facility: Facility
    canaries: list[str]
    urls: dict[str, str]  # object pages by name
    forms: dict[str, str]  # form pages (GET) by name


def _facility() -> Facility:
    region, _ = Region.objects.get_or_create(
        code="RU-SVE", defaults={"name_ru": "Свердловская область", "name_en": "Sverdlovsk", "status": "ru"}
    )
    facility = Facility.objects.filter(region=region).order_by("key").first()
    if facility is None:
        facility = Facility.objects.create(
            key="TEST-RU-SVE/IK-2", type="ИК", number=2, administration="GUFSIN-RU-SVE", region=region,
            official_name="ФКУ ИК-2 (синтетическое)", regime="strict", confidence="synthetic",
        )  # fmt: skip
    return facility


def world_make() -> World:
    cast = cast_make()
    owner = cast.owner
    marks = [canary() for _ in range(10)]
    facility = _facility()
    source = services.source_create(
        actor=owner, team=cast.team, kind="relative", label=marks[0], contact=marks[1]
    )
    person = person_create(
        actor=owner,
        team=cast.team,
        data=PersonInput(
            full_name=f"{NAME} {marks[2]}",
            aliases=(marks[3],),
            birth_date=parse("1985"),
            notes=marks[4],
            facility_id=facility.id,
            status="recruited",
            source_id=source.id,
        ),
    )
    recruitment = services.recruitment_create(
        actor=owner, person=person, recruiter="wagner", signed=parse("2022-09"), facility_id=facility.id
    )
    event = services.service_event_create(
        actor=owner, person=person, kind="discharge", date=parse("2023-06"), recruitment_id=recruitment.id
    )
    promise = services.promise_create(
        actor=owner, person=person, kind="pardon", details=marks[5], recruitment_id=recruitment.id
    )
    delivery = services.delivery_create(actor=owner, promise=promise, outcome="not_delivered")
    incident = services.incident_create(
        actor=owner,
        team=cast.team,
        facility_id=facility.id,
        date=parse("2023-03"),
        categories=["beating"],
        victim_ids=[person.id],
        officials=[marks[6]],
        description=f"Избили в штрафном изоляторе {marks[7]}",
        source_ids=[source.id],
    )
    case = services.case_create(
        actor=owner, team=cast.team, person=person, assignee=cast.teammate,
        deadline=date.today() + timedelta(days=3), notes=marks[8],
    )  # fmt: skip
    visit = services.visit_create(
        actor=owner, team=cast.team, facility_id=facility.id, recruiter="wagner", date=parse("2022-08")
    )
    urls = {
        "person": f"/people/{person.id}/",
        "incident": f"/casework/incidents/{incident.id}/",
        "source": f"/casework/sources/{source.id}/",
        "case": f"/casework/cases/{case.id}/",
    }
    forms = {
        "person_create": "/people/new/",
        "record_add": f"/people/{person.id}/records/new/",
        "status_add": f"/people/{person.id}/status/new/",
        "incident_create": f"/casework/incidents/new/?person={person.id}",
        "incident_edit": f"/casework/incidents/{incident.id}/edit/",
        "source_create": "/casework/sources/new/",
        "source_edit": f"/casework/sources/{source.id}/edit/",
        "recruitment_create": f"/casework/persons/{person.id}/recruitments/new/",
        "recruitment_edit": f"/casework/recruitments/{recruitment.id}/edit/",
        "event_create": f"/casework/persons/{person.id}/events/new/",
        "event_edit": f"/casework/events/{event.id}/edit/",
        "promise_create": f"/casework/persons/{person.id}/promises/new/",
        "promise_edit": f"/casework/promises/{promise.id}/edit/",
        "delivery_create": f"/casework/promises/{promise.id}/deliveries/new/",
        "delivery_edit": f"/casework/deliveries/{delivery.id}/edit/",
        "visit_create": f"/casework/visits/new/?facility={facility.id}",
        "visit_edit": f"/casework/visits/{visit.id}/edit/",
        "case_create": f"/casework/persons/{person.id}/cases/new/",
        "case_edit": f"/casework/cases/{case.id}/edit/",
    }
    return World(cast, person, facility, marks, urls, forms)


LIST_PAGES = [
    "/",
    "/people/",
    "/people/search/",
    "/casework/incidents/",
    "/casework/sources/",
    "/casework/cases/",
    "/casework/cases/?closed=1",
    "/casework/search/",
    "/facilities/",
]


def client_for(user: User, lang: str = "ru") -> Client:
    client = Client()
    login_verified(client, user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = lang
    return client


def text_of(response: object) -> str:
    return unescape(response.content.decode())  # type: ignore[attr-defined]


@pytest.mark.django_db
@pytest.mark.parametrize("lang", ["ru", "en"])
def test_it_renders_every_page_for_a_teammate_in_both_languages(agent_ready: object, lang: str) -> None:
    world = world_make()
    client = client_for(world.cast.teammate, lang)
    pages = [*LIST_PAGES, *world.urls.values(), *world.forms.values(), f"/facilities/{world.facility.id}/"]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        body = text_of(response)
        assert f'<html lang="{lang}">' in body, url
        # A translated navigation proves the page went through the right catalogue.
        assert ("Инциденты" if lang == "ru" else "Incidents") in body, url
    person_page = text_of(client.get(world.urls["person"]))
    assert NAME in person_page
    assert world.cast.teammate.username in person_page  # "who viewed this" lists the reader


@pytest.mark.django_db
def test_it_answers_404_to_an_outsider_on_every_object_page(agent_ready: object) -> None:
    world = world_make()
    client = client_for(world.cast.outsider)
    object_pages = [
        *world.urls.values(),
        *(u for k, u in world.forms.items() if "/new/" not in u or "persons" in u),
    ]
    object_pages += [world.forms["record_add"], world.forms["status_add"], world.forms["delivery_create"]]
    assert len(object_pages) >= 18
    for url in object_pages:
        assert client.get(url).status_code == 404, url
        if "/edit/" in url or "/new/" in url:
            assert client.post(url, {"kind": "relative"}).status_code == 404, url
    # The same pages open for the teammate: the 404 is the gate, not a broken URL.
    teammate = client_for(world.cast.teammate)
    assert all(teammate.get(url).status_code == 200 for url in object_pages)


def _links(body: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="(/[^"#]*)"', body)]


def _crawl(client: Client, start: list[str], limit: int = 400) -> dict[str, tuple[int, str]]:
    seen: dict[str, tuple[int, str]] = {}
    queue = deque(start)
    while queue and len(seen) < limit:
        url = queue.popleft()
        if url in seen or url.startswith(("/static/", "/accounts/logout", "/api/")):
            continue
        response = client.get(url)
        body = response.content.decode(errors="replace")
        seen[url] = (response.status_code, body)
        if response.status_code == 200:
            queue.extend(u for u in _links(body) if u not in seen)
    return seen


@pytest.mark.django_db
def test_it_never_shows_an_analyst_an_identity_field_or_sealed_text(agent_ready: object) -> None:
    world = world_make()
    start = [*LIST_PAGES, *world.urls.values(), *world.forms.values()]
    analyst = client_for(world.cast.analyst)
    pages = _crawl(analyst, start)
    # POST forms the analyst can reach: name search and full-text search (both refused).
    posts = [
        analyst.post("/people/search/", {"q": NAME}),
        analyst.post("/casework/search/", {"q": world.canaries[7]}),
    ]
    bodies = [b for _, b in pages.values()] + [p.content.decode() for p in posts]
    assert pages[world.urls["person"]][0] == 200  # the crawl did reach the person and incident pages
    assert pages[world.urls["incident"]][0] == 200
    assert len(pages) >= 15
    for body in bodies:
        for mark in world.canaries:
            assert mark not in body
        assert NAME not in body
    assert all(p.status_code == 403 for p in posts)
    assert not IdentityRead.objects.filter(user=world.cast.analyst).exists()
    # The same crawl as a teammate does meet the canaries: the analyst's pages hide them, they exist.
    seen_by_teammate = "".join(b for _, b in _crawl(client_for(world.cast.teammate), start).values())
    assert sum(mark in seen_by_teammate for mark in world.canaries) >= 8


@pytest.mark.django_db
def test_it_finds_a_cyrillic_name_by_a_latin_spelling_through_a_post(agent_ready: object) -> None:
    world = world_make()
    client = client_for(world.cast.teammate)
    response = client.post("/people/search/", {"q": "Sergei Ivanov"})
    assert response.status_code == 200
    assert response.request["PATH_INFO"] == "/people/search/"
    assert response.request["QUERY_STRING"] == ""
    body = text_of(response)
    assert NAME in body and f"/people/{world.person.id}/" in body
    assert IdentityRead.objects.filter(user=world.cast.teammate, person_id=world.person.id).exists()
    assert NAME not in text_of(client.post("/people/search/", {"q": "Petrenko"}))
    # The outsider's search does not reach another team's person.
    assert NAME not in text_of(
        client_for(world.cast.outsider).post("/people/search/", {"q": "Sergei Ivanov"})
    )


@pytest.mark.django_db
def test_it_creates_and_edits_an_incident_through_the_forms(agent_ready: object) -> None:
    world = world_make()
    client = client_for(world.cast.teammate)
    text = f"Лишили передач {canary()}"
    response = client.post(
        "/casework/incidents/new/",
        {
            "team": str(world.cast.team.id),
            "facility": str(world.facility.id),
            "date": "весна 2023",
            "categories": ["parcels_blocked", "beating"],
            "victims": [str(world.person.id)],
            "description": text,
            "verification": "unverified",
        },
    )
    assert response.status_code == 302
    incident = Incident.objects.get(id=uuid.UUID(response["Location"].rstrip("/").split("/")[-1]))
    assert (incident.date_edtf, incident.facility_id) == ("2023-03/2023-05", world.facility.id)
    assert text in text_of(client.get(response["Location"]))
    assert "весна 2023" not in incident.description_enc.hex()  # sealed, not stored as typed
    person_page = text_of(client.get(f"/people/{world.person.id}/"))
    assert f"/casework/incidents/{incident.id}/" in person_page
    edited = f"Исправлено {canary()}"
    form = {
        "facility": str(world.facility.id),
        "date": "2023-04",
        "categories": ["beating"],
        "victims": [str(world.person.id)],
        "description": edited,
        "verification": "corroborated",
    }
    assert client.post(f"/casework/incidents/{incident.id}/edit/", form).status_code == 302
    page = text_of(client.get(f"/casework/incidents/{incident.id}/"))
    assert edited in page and text not in page
    incident.refresh_from_db()
    assert (incident.verification, incident.date_edtf) == ("corroborated", "2023-04")
    assert list(incident.categories.values_list("code", flat=True)) == ["beating"]
    assert AuditEntry.objects.filter(action="incident.update", object_id=str(incident.id)).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("lang", "expected"), [("ru", "Такой даты нет"), ("en", "No such date")])
def test_it_shows_a_bad_date_error_in_the_users_language(
    agent_ready: object, lang: str, expected: str
) -> None:
    world = world_make()
    client = client_for(world.cast.teammate, lang)
    before = Incident.objects.count()
    response = client.post(
        "/casework/incidents/new/",
        {
            "team": str(world.cast.team.id),
            "date": "31.02.2023",
            "categories": ["beating"],
            "verification": "unverified",
        },
    )
    assert response.status_code == 400
    body = text_of(response)
    assert expected in body
    assert 'role="alert"' in body
    assert Incident.objects.count() == before
    if lang == "ru":
        assert "Обязательное поле" in text_of(
            client.post("/casework/incidents/new/", {"team": str(world.cast.team.id)})
        )


@pytest.mark.django_db
def test_it_searches_sealed_text_in_ranges_with_a_continue_button(
    agent_ready: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = world_make()
    client = client_for(world.cast.teammate)
    word = world.canaries[7]
    body = text_of(client.post("/casework/search/", {"q": f"изоляторе {word}"}))
    assert "/casework/incidents/" in body and word in body
    assert text_of(client.post("/casework/search/", {"q": world.canaries[8]})).count("/casework/cases/") >= 1
    # With a limit of one item per step, the case notes are found only on a later step, via "continue".
    monkeypatch.setattr(views, "SCAN_LIMIT", 1)
    first = text_of(client.post("/casework/search/", {"q": world.canaries[8]}))
    assert world.canaries[8] not in results(first)
    assert 'name="offset" value="1"' in first
    second = text_of(client.post("/casework/search/", {"q": world.canaries[8], "offset": "1"}))
    assert world.canaries[8] in results(second)
    # An outsider's scan never reaches team A's text.
    outsider = text_of(client_for(world.cast.outsider).post("/casework/search/", {"q": word}))
    assert word not in results(outsider) and "/casework/incidents/" not in results(outsider)


def results(body: str) -> str:
    """The results table only (the continue button repeats the query in a hidden field)."""
    return body.split('id="results-heading"')[1].split("</table>")[0]


@pytest.mark.django_db
def test_it_adds_a_correction_as_a_new_record(agent_ready: object) -> None:
    world = world_make()
    client = client_for(world.cast.teammate)
    corrected = f"Иванов Сергей Павлович {canary()}"
    response = client.post(
        f"/people/{world.person.id}/records/new/",
        {"full_name": corrected, "birth_date": "12.05.1985", "status": "at_front"},
    )
    assert response.status_code == 302
    assert world.person.records.count() == 2
    page = text_of(client.get(f"/people/{world.person.id}/"))
    assert corrected in page and world.canaries[2] in page  # both records stay visible


@pytest.mark.django_db
def test_it_updates_casework_objects_only_through_the_write_gate(agent_ready: object) -> None:
    world = world_make()
    incident = Incident.objects.get(victims=world.person)
    for stranger in (world.cast.outsider, world.cast.analyst):
        with pytest.raises(access.NotFound):
            services.incident_update(actor=stranger, incident=incident, categories=["beating"])
    promise = world.person.promises.get()
    services.promise_update(
        actor=world.cast.teammate, promise=promise, kind="pardon", amount=Decimal("10.00")
    )
    promise.refresh_from_db()
    assert promise.amount == Decimal("10.00")
