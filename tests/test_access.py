"""The access gates for every object type, healthchecks style: owner, teammate, outsider, analyst, lawyer.

Every object is created through its service. Each type has two objects in team A — ``a`` and its sibling
``b`` — so a test can show that a share or a case opens exactly one of them.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from django.db.models import Model, QuerySet
from django.http import Http404
from django.utils import timezone

from kartoteka.accounts import access
from kartoteka.accounts.models import BreakGlassGrant, Role, User
from kartoteka.accounts.services import share_grant
from kartoteka.casework import selectors, services
from kartoteka.lib.partialdate import PartialDate
from kartoteka.people.models import Person, Record
from kartoteka.people.services import PersonInput, person_create, status_add
from kartoteka.registry.models import Facility, Region
from kartoteka.testing.factories import Cast, cast_make, user_make

Getter = Callable[..., Model]
Lister = Callable[..., QuerySet[Any]]

ALL_TYPES = (
    "person",
    "record",
    "status_entry",
    "recruitment",
    "service_event",
    "promise",
    "delivery",
    "source",
    "incident",
    "visit",
    "case",
)
# Visible exactly when their person is.
PERSON_DEPENDENTS = ("record", "status_entry", "recruitment", "service_event", "promise", "delivery")
SHAREABLE = ("person", "record", "source", "incident", "visit", "case")
# What a share of one object also opens, by the rules in accounts/access.py.
FOLLOWS_FROM = {"person": set(PERSON_DEPENDENTS), "case": {"person", *PERSON_DEPENDENTS}}
MALFORMED_IDS: tuple[object, ...] = (
    "",
    "not-a-uuid",
    "1 OR 1=1",
    "0" * 33,
    "ZZZZZZZZ-0000-0000-0000-000000000000",
    None,
)


def gate_get(object_type: str) -> Getter:
    getter: Getter = getattr(access, f"{object_type}_get_for_user")
    return getter


def gate_list(object_type: str) -> Lister:
    lister: Lister = getattr(access, f"{object_type}_list_for_user")
    return lister


def visible_ids(user: User, object_type: str, *, write: bool = False) -> set[uuid.UUID]:
    return set(gate_list(object_type)(user, write=write).values_list("id", flat=True))


def marker() -> str:
    return "метка-" + secrets.token_hex(8)


@dataclass
class Family:
    """One person of team A with one object of every dependent type, and the team's own objects."""

    objects: dict[str, Model]
    secrets: dict[str, str]


@dataclass
class World:
    cast: Cast
    a: Family
    b: Family

    def id(self, which: str, object_type: str) -> uuid.UUID:
        family = self.a if which == "a" else self.b
        pk: uuid.UUID = family.objects[object_type].pk
        return pk


def family_make(cast: Cast, facility: Facility) -> Family:
    owner, team = cast.owner, cast.team
    hidden = {k: marker() for k in ("label", "contact", "description", "official", "details", "notes")}
    person = person_create(
        actor=owner, team=team, data=PersonInput(full_name="Синтетический Фёдор " + marker())
    )
    source = services.source_create(
        actor=owner, team=team, kind="relative", label=hidden["label"], contact=hidden["contact"]
    )
    recruitment = services.recruitment_create(
        actor=owner,
        person=person,
        recruiter="mod_storm_z",
        signed=PartialDate.of(2023, 5),
        source_id=source.id,
    )
    promise = services.promise_create(
        actor=owner,
        person=person,
        kind="monthly_pay",
        amount=Decimal("204000"),
        details=hidden["details"],
        recruitment_id=recruitment.id,
    )
    incident = services.incident_create(
        actor=owner,
        team=team,
        facility_id=facility.id,
        date=PartialDate.of(2023, 2),
        categories=["recruitment_pressure"],
        victim_ids=[person.id],
        officials=[hidden["official"]],
        description=hidden["description"],
        source_ids=[source.id],
    )
    objects: dict[str, Model] = {
        "person": person,
        "record": Record.objects.get(person=person),
        "status_entry": status_add(
            actor=owner, person=person, status="at_front", date=PartialDate.of(2023, 6)
        ),
        "recruitment": recruitment,
        "service_event": services.service_event_create(
            actor=owner,
            person=person,
            kind="wound",
            date=PartialDate.of(2023, 9),
            recruitment_id=recruitment.id,
        ),
        "promise": promise,
        "delivery": services.delivery_create(
            actor=owner, promise=promise, outcome="partly_delivered", amount=Decimal("50000")
        ),
        "source": source,
        "incident": incident,
        "visit": services.visit_create(
            actor=owner,
            team=team,
            facility_id=facility.id,
            recruiter="mod_storm_z",
            date=PartialDate.of(2023, 1),
        ),
        "case": services.case_create(
            actor=owner,
            team=team,
            person=person,
            assignee=cast.teammate,
            deadline=date(2031, 1, 1),
            notes=hidden["notes"],
        ),
    }
    return Family(objects=objects, secrets=hidden)


@pytest.fixture
def world(agent_ready: Path) -> World:
    cast = cast_make()
    region, _ = Region.objects.get_or_create(
        code="RU-SVE",
        defaults={"name_ru": "Синтетический регион", "name_en": "Synthetic region", "status": "ru"},
    )
    facility = Facility.objects.create(
        key="TEST-RU-SVE/IK-2",
        type="IK",
        number=2,
        administration="GUFSIN-RU-SVE",
        region=region,
        official_name="ФКУ ИК-2 (синтетическое)",
        confidence="synthetic",
    )
    return World(cast=cast, a=family_make(cast, facility), b=family_make(cast, facility))


def assert_not_found(call: Callable[[], object]) -> type[BaseException]:
    with pytest.raises(access.NotFound) as caught:
        call()
    assert isinstance(caught.value, Http404)
    return type(caught.value)


# --- teammates ------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("object_type", ALL_TYPES)
def test_it_lets_a_teammate_read_and_write(world: World, object_type: str) -> None:
    teammate, a, b = world.cast.teammate, world.id("a", object_type), world.id("b", object_type)
    assert gate_get(object_type)(teammate, a).pk == a
    assert gate_get(object_type)(teammate, str(a), write=True).pk == a
    assert {a, b} <= visible_ids(teammate, object_type)
    assert {a, b} <= visible_ids(teammate, object_type, write=True)


# --- outsiders ------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("object_type", ALL_TYPES)
def test_it_answers_an_outsider_not_found_for_real_and_random_ids_alike(
    world: World, object_type: str
) -> None:
    outsider, get = world.cast.outsider, gate_get(object_type)
    real = world.id("a", object_type)
    for write in (False, True):
        real_answer = assert_not_found(partial(get, outsider, real, write=write))
        random_answer = assert_not_found(partial(get, outsider, uuid.uuid4(), write=write))
        assert real_answer is random_answer is access.NotFound
        assert visible_ids(outsider, object_type, write=write) == set()


@pytest.mark.django_db
@pytest.mark.parametrize("object_type", ALL_TYPES)
def test_it_answers_not_found_for_malformed_ids(world: World, object_type: str) -> None:
    for bad in MALFORMED_IDS:
        assert_not_found(lambda: gate_get(object_type)(world.cast.owner, bad))  # noqa: B023 - called at once


@pytest.mark.django_db
def test_it_lets_no_inactive_user_through(world: World) -> None:
    teammate = User.objects.get(pk=world.cast.teammate.pk)
    teammate.is_active = False
    teammate.save()
    for object_type in ALL_TYPES:
        assert_not_found(lambda: gate_get(object_type)(teammate, world.id("a", object_type)))  # noqa: B023
        assert visible_ids(teammate, object_type) == set()


# --- shares ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("grantee", ["user", "team"])
@pytest.mark.parametrize("object_type", SHAREABLE)
def test_it_shows_a_share_holder_only_what_was_shared(world: World, object_type: str, grantee: str) -> None:
    cast, a, b = world.cast, world.id("a", object_type), world.id("b", object_type)
    target = {"user": cast.outsider} if grantee == "user" else {"team": cast.other_team}
    share_grant(actor=cast.owner, object_type=object_type, object_id=a, **target)
    assert gate_get(object_type)(cast.outsider, a).pk == a
    assert_not_found(lambda: gate_get(object_type)(cast.outsider, b))
    assert visible_ids(cast.outsider, object_type) == {a}
    # A read share grants no writing.
    assert_not_found(lambda: gate_get(object_type)(cast.outsider, a, write=True))
    # Nothing else of team A leaks through it, apart from what hangs off a shared person or case.
    for other_type in set(ALL_TYPES) - {object_type} - FOLLOWS_FROM.get(object_type, set()):
        assert visible_ids(cast.outsider, other_type) == set(), other_type


@pytest.mark.django_db
@pytest.mark.parametrize("object_type", PERSON_DEPENDENTS)
def test_it_shows_a_shared_persons_dependents_and_not_the_siblings(world: World, object_type: str) -> None:
    cast = world.cast
    share_grant(actor=cast.owner, object_type="person", object_id=world.id("a", "person"), user=cast.outsider)
    a, b = world.id("a", object_type), world.id("b", object_type)
    assert gate_get(object_type)(cast.outsider, a).pk == a
    assert_not_found(lambda: gate_get(object_type)(cast.outsider, b))
    assert visible_ids(cast.outsider, object_type) == {a}


@pytest.mark.django_db
def test_it_lets_a_writable_share_write_and_a_read_share_not(world: World) -> None:
    cast = world.cast
    person_a, person_b = world.a.objects["person"], world.b.objects["person"]
    assert isinstance(person_a, Person)
    assert isinstance(person_b, Person)
    share_grant(
        actor=cast.owner, object_type="person", object_id=person_a.pk, user=cast.outsider, can_write=True
    )
    share_grant(actor=cast.owner, object_type="person", object_id=person_b.pk, user=cast.outsider)
    promise = services.promise_create(actor=cast.outsider, person=person_a, kind="pardon")
    assert promise.person_id == person_a.pk
    assert_not_found(lambda: services.promise_create(actor=cast.outsider, person=person_b, kind="pardon"))
    # A share on a person is no membership of its team.
    assert_not_found(lambda: services.case_create(actor=cast.outsider, team=cast.team, person=person_a))


@pytest.mark.django_db
def test_it_shows_a_lawyer_the_case_and_its_persons_dependents_only(world: World) -> None:
    cast = world.cast
    share_grant(actor=cast.owner, object_type="case", object_id=world.id("a", "case"), user=cast.lawyer)
    for object_type in ("case", "person", *PERSON_DEPENDENTS):
        a, b = world.id("a", object_type), world.id("b", object_type)
        assert gate_get(object_type)(cast.lawyer, a).pk == a, object_type
        assert_not_found(lambda: gate_get(object_type)(cast.lawyer, b))  # noqa: B023 - called at once
        assert visible_ids(cast.lawyer, object_type) == {a}, object_type
        assert_not_found(lambda: gate_get(object_type)(cast.lawyer, a, write=True))  # noqa: B023
    for object_type in ("source", "incident", "visit"):
        assert visible_ids(cast.lawyer, object_type) == set(), object_type
    view = selectors.case_get(user=cast.lawyer, id=world.id("a", "case"))
    assert view.notes == world.a.secrets["notes"]
    assert [p.id for p in selectors.promise_list(user=cast.lawyer, person_id=world.id("a", "person"))] == [
        world.id("a", "promise")
    ]
    assert_not_found(lambda: selectors.promise_list(user=cast.lawyer, person_id=world.id("b", "person")))
    # The incident naming the person is the team's, not the case's: the lawyer does not get it.
    assert_not_found(lambda: selectors.incident_get(user=cast.lawyer, id=world.id("a", "incident")))


@pytest.mark.django_db
def test_it_lists_only_the_victims_and_sources_a_share_holder_may_see(world: World) -> None:
    cast = world.cast
    share_grant(
        actor=cast.owner, object_type="incident", object_id=world.id("a", "incident"), user=cast.outsider
    )
    mine = selectors.incident_get(user=cast.teammate, id=world.id("a", "incident"))
    theirs = selectors.incident_get(user=cast.outsider, id=world.id("a", "incident"))
    assert (mine.victim_ids, mine.source_ids) == ((world.id("a", "person"),), (world.id("a", "source"),))
    assert (theirs.victim_ids, theirs.source_ids) == ((), ())


@pytest.mark.django_db
def test_it_lets_the_same_records_through_by_id_as_the_record_list(world: World) -> None:
    cast = world.cast
    share_grant(actor=cast.owner, object_type="record", object_id=world.id("a", "record"), user=cast.outsider)
    share_grant(
        actor=cast.owner, object_type="person", object_id=world.id("b", "person"), team=cast.other_team
    )
    share_grant(actor=cast.owner, object_type="case", object_id=world.id("a", "case"), user=cast.lawyer)
    glass = user_make("glass", role=Role.ADMIN)
    BreakGlassGrant.objects.create(
        user=glass,
        team=cast.team,
        wrapped_key=b"",
        reason_enc=b"",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    orphan = Record.objects.get(pk=world.id("b", "record"))
    orphan.person = None  # a record linkage left without a person: only its own team sees it
    orphan.save(update_fields=["person"])
    asked = [*Record.objects.values_list("pk", flat=True), uuid.uuid4()]
    users = [cast.owner, cast.teammate, cast.outsider, cast.lawyer, cast.analyst, glass]
    seen = {u.username: access.record_ids_readable(u, asked) for u in users}
    assert seen == {u.username: visible_ids(u, "record") for u in users}
    assert seen["outsider"] == {
        world.id("a", "record")
    }  # its share; team B's share of person b has no record left
    assert seen["glass"] == seen["owner"] == {world.id("a", "record"), world.id("b", "record")}
    teammate = User.objects.get(pk=cast.teammate.pk)
    teammate.is_active = False
    teammate.save()
    assert access.record_ids_readable(teammate, asked) == set()


# --- analysts -------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("object_type", ALL_TYPES)
def test_it_lets_an_analyst_read_but_never_write(world: World, object_type: str) -> None:
    analyst, a = world.cast.analyst, world.id("a", object_type)
    assert gate_get(object_type)(analyst, a).pk == a
    assert_not_found(lambda: gate_get(object_type)(analyst, a, write=True))
    assert visible_ids(analyst, object_type, write=True) == set()
    assert not access.team_writable(analyst, world.cast.team)


@pytest.mark.django_db
def test_it_gives_an_analyst_no_identity_field_through_the_selectors(world: World) -> None:
    cast, hidden = world.cast, world.a.secrets

    def sealed_values(user: User) -> dict[str, object]:
        source = selectors.source_get(user=user, id=world.id("a", "source"))
        incident = selectors.incident_get(user=user, id=world.id("a", "incident"))
        case = selectors.case_get(user=user, id=world.id("a", "case"))
        promises = selectors.promise_list(user=user, person_id=world.id("a", "person"))
        listed = selectors.incident_list(user=user).items
        return {
            "label": source.label,
            "contact": source.contact,
            "description": incident.description,
            "officials": incident.officials,
            "notes": case.notes,
            "details": promises[0].details,
            "listed_descriptions": {i.description for i in listed},
            "listed_labels": {s.label for s in selectors.source_list(user=user).items},
        }

    seen = sealed_values(cast.teammate)
    assert seen["label"] == hidden["label"]
    assert seen["contact"] == hidden["contact"]
    assert seen["description"] == hidden["description"]
    assert seen["officials"] == (hidden["official"],)
    assert seen["notes"] == hidden["notes"]
    assert seen["details"] == hidden["details"]
    assert seen["listed_descriptions"] == {hidden["description"], world.b.secrets["description"]}

    blind = sealed_values(cast.analyst)
    assert blind == {
        "label": None,
        "contact": None,
        "description": None,
        "officials": None,
        "notes": None,
        "details": None,
        "listed_descriptions": {None},
        "listed_labels": {None},
    }
    text = (
        repr(blind)
        + repr(selectors.incident_list(user=cast.analyst))
        + repr(selectors.source_list(user=cast.analyst))
    )
    for value in (*world.a.secrets.values(), *world.b.secrets.values()):
        assert value not in text
