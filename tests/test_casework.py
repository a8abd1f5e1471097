"""Casework services and selectors: what each creates, what it refuses, what it audits and what it seals."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from kartoteka.accounts import access
from kartoteka.accounts.models import Team, User
from kartoteka.audit.models import AuditEntry
from kartoteka.audit.services import chain_verify
from kartoteka.casework import selectors, services
from kartoteka.casework.models import (
    Case,
    Delivery,
    Incident,
    Promise,
    Recruitment,
    RecruitmentVisit,
    ServiceEvent,
    Source,
)
from kartoteka.lib.partialdate import PartialDate
from kartoteka.people.models import Person
from kartoteka.people.services import PersonInput, person_create
from kartoteka.registry.models import Facility, Region
from kartoteka.testing.factories import Cast, cast_make


def marker() -> str:
    return "метка-" + secrets.token_hex(8)


def region_make(code: str = "RU-SVE") -> Region:
    # The registry migration may already have loaded the real regions; either way the code exists after.
    region, _ = Region.objects.get_or_create(
        code=code, defaults={"name_ru": "Синтетический регион", "name_en": "Synthetic region", "status": "ru"}
    )
    return region


def facility_make(region: Region, number: int = 2) -> Facility:
    return Facility.objects.create(
        key=f"TEST-{region.code}/IK-{number}",
        type="IK",
        number=number,
        administration=f"GUFSIN-{region.code}",
        region=region,
        official_name=f"ФКУ ИК-{number} (синтетическое)",
        regime="strict",
        confidence="synthetic",
    )


def person_make(cast: Cast, *, actor: User | None = None, team: Team | None = None, name: str = "") -> Person:
    data = PersonInput(full_name=name or "Синтетический Пётр " + secrets.token_hex(3))
    return person_create(actor=actor or cast.owner, team=team or cast.team, data=data)


def raw_rows(table: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        return list(cursor.fetchall())


def assert_no_marker(table: str, *markers: str) -> None:
    """No column of any row of ``table`` holds a marker, as text or as bytes in any common encoding."""
    rows = raw_rows(table)
    assert rows, f"{table} is empty: nothing was checked"
    for row in rows:
        for value in row:
            blob = bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()
            for m in markers:
                for encoding in ("utf-8", "utf-16-le", "cp1251"):
                    assert m.encode(encoding) not in blob, f"a marker is readable in {table}"


def audited(action: str, object_id: uuid.UUID) -> int:
    return AuditEntry.objects.filter(action=action, object_id=str(object_id)).count()


@dataclass
class World:
    cast: Cast
    facility: Facility
    person: Person


@pytest.fixture
def world(agent_ready: Path) -> World:
    cast = cast_make()
    facility = facility_make(region_make())
    return World(cast=cast, facility=facility, person=person_make(cast))


# --- each service creates what it says and audits it ---------------------------------------------------


@pytest.mark.django_db
def test_it_creates_a_source_with_its_codes_and_a_sealed_label(world: World) -> None:
    label, contact = marker(), marker()
    source = services.source_create(
        actor=world.cast.owner,
        team=world.cast.team,
        kind="relative",
        reliability="usually_reliable",
        language="ru",
        consent="anonymised_publication",
        label=label,
        contact=contact,
    )
    stored = Source.objects.get(pk=source.id)
    assert (stored.team_id, stored.kind, stored.reliability, stored.language, stored.consent) == (
        world.cast.team.id,
        "relative",
        "usually_reliable",
        "ru",
        "anonymised_publication",
    )
    assert audited("source.create", source.id) == 1
    assert_no_marker("casework_source", label, contact)
    view = selectors.source_get(user=world.cast.teammate, id=source.id)
    assert (view.label, view.contact) == (label, contact)


@pytest.mark.django_db
def test_it_leaves_empty_sealed_fields_null(world: World) -> None:
    source = services.source_create(actor=world.cast.owner, team=world.cast.team, kind="media")
    stored = Source.objects.get(pk=source.id)
    assert stored.label_enc is None
    assert stored.contact_enc is None
    view = selectors.source_get(user=world.cast.owner, id=source.id)
    assert (view.label, view.contact) == ("", "")


@pytest.mark.django_db
def test_it_creates_a_recruitment_with_dates_and_stated_regime(world: World) -> None:
    source = services.source_create(actor=world.cast.owner, team=world.cast.team, kind="prisoner")
    recruitment = services.recruitment_create(
        actor=world.cast.teammate,
        person=world.person,
        recruiter="mod_storm_z",
        signed=PartialDate.of(2023, 4),
        facility_id=world.facility.id,
        legal_status="convicted",
        stated_term_months=6,
        unit="Шторм Z, синтетическая часть",
        stated_regime="storm_z_2023",
        source_id=source.id,
    )
    stored = Recruitment.objects.get(pk=recruitment.id)
    assert (stored.signed_edtf, stored.signed_start, stored.signed_end) == (
        "2023-04",
        date(2023, 4, 1),
        date(2023, 4, 30),
    )
    assert (stored.facility_id, stored.source_id, stored.stated_term_months, stored.stated_regime) == (
        world.facility.id,
        source.id,
        6,
        "storm_z_2023",
    )
    assert audited("recruitment.create", recruitment.id) == 1


@pytest.mark.django_db
def test_it_stores_an_unknown_date_as_empty_bounds(world: World) -> None:
    recruitment = services.recruitment_create(
        actor=world.cast.owner, person=world.person, recruiter="wagner", signed=None
    )
    stored = Recruitment.objects.get(pk=recruitment.id)
    assert (stored.signed_edtf, stored.signed_start, stored.signed_end) == ("", None, None)


@pytest.mark.django_db
def test_it_creates_a_discharge_with_its_ground_linked_to_the_recruitment(world: World) -> None:
    recruitment = services.recruitment_create(
        actor=world.cast.owner, person=world.person, recruiter="wagner", signed=PartialDate.of(2022, 9)
    )
    event = services.service_event_create(
        actor=world.cast.owner,
        person=world.person,
        kind="discharge",
        date=PartialDate.of(2023, 3, 10),
        recruitment_id=recruitment.id,
        discharge_ground="health",
    )
    stored = ServiceEvent.objects.get(pk=event.id)
    assert (stored.kind, stored.discharge_ground, stored.recruitment_id, stored.date_start) == (
        "discharge",
        "health",
        recruitment.id,
        date(2023, 3, 10),
    )
    assert audited("service_event.create", event.id) == 1


@pytest.mark.django_db
def test_it_refuses_a_ground_on_an_event_that_is_not_a_discharge(world: World) -> None:
    with pytest.raises(ValueError, match="discharge_ground"):
        services.service_event_create(
            actor=world.cast.owner, person=world.person, kind="wound", date=None, discharge_ground="health"
        )
    assert ServiceEvent.objects.count() == 0


@pytest.mark.django_db
def test_it_refuses_a_recruitment_of_another_person(world: World) -> None:
    other = person_make(world.cast, name="Другой Синтетический")
    recruitment = services.recruitment_create(
        actor=world.cast.owner, person=other, recruiter="wagner", signed=None
    )
    with pytest.raises(ValueError, match="recruitment_id"):
        services.promise_create(
            actor=world.cast.owner, person=world.person, kind="pardon", recruitment_id=recruitment.id
        )
    assert Promise.objects.count() == 0


@pytest.mark.django_db
def test_it_creates_a_visit(world: World) -> None:
    visit = services.visit_create(
        actor=world.cast.owner,
        team=world.cast.team,
        facility_id=world.facility.id,
        recruiter="wagner",
        date=PartialDate.of(2022, 8, 15),
    )
    stored = RecruitmentVisit.objects.get(pk=visit.id)
    assert (stored.team_id, stored.facility_id, stored.recruiter, stored.date_edtf) == (
        world.cast.team.id,
        world.facility.id,
        "wagner",
        "2022-08-15",
    )
    assert audited("visit.create", visit.id) == 1


@pytest.mark.django_db
def test_it_creates_a_promise_and_deliveries_and_sums_them_per_person(world: World) -> None:
    details = marker()
    promise = services.promise_create(
        actor=world.cast.owner,
        person=world.person,
        kind="signup_bonus",
        amount=Decimal("195000.00"),
        currency="RUB",
        due=PartialDate.of(2023, 5),
        condition="on_signing",
        promised_by="recruiter_mod",
        details=details,
    )
    services.delivery_create(
        actor=world.cast.teammate,
        promise=promise,
        outcome="partly_delivered",
        amount=Decimal("100000.50"),
        date=PartialDate.of(2023, 6),
    )
    services.delivery_create(actor=world.cast.teammate, promise=promise, outcome="partly_delivered")
    services.delivery_create(
        actor=world.cast.teammate, promise=promise, outcome="delivered", amount=Decimal("45000")
    )
    other = services.promise_create(actor=world.cast.owner, person=world.person, kind="pardon")

    table = selectors.promise_list(user=world.cast.teammate, person_id=world.person.id)
    by_id = {p.id: p for p in table}
    assert set(by_id) == {promise.id, other.id}
    assert by_id[promise.id].delivered_amount == Decimal("145000.50")
    deliveries = by_id[promise.id].deliveries
    # Dated deliveries come first; undated ones after, in creation order.
    assert deliveries[0].amount == Decimal("100000.50")
    assert sorted(d.outcome for d in deliveries) == ["delivered", "partly_delivered", "partly_delivered"]
    assert by_id[promise.id].details == details
    assert (by_id[other.id].deliveries, by_id[other.id].delivered_amount) == ((), Decimal("0"))
    assert Delivery.objects.filter(promise=promise).count() == 3
    assert audited("promise.create", promise.id) == 1
    assert AuditEntry.objects.filter(action="delivery.create").count() == 3
    assert_no_marker("casework_promise", details)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "amount",
    [Decimal("-1"), Decimal("NaN"), Decimal("Infinity"), Decimal("0.001"), Decimal("1e13"), 1.5],
)
def test_it_refuses_amounts_that_are_not_money(world: World, amount: Any) -> None:
    with pytest.raises(ValueError, match="amount"):
        services.promise_create(
            actor=world.cast.owner, person=world.person, kind="monthly_pay", amount=amount
        )
    assert Promise.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("currency", ["rub", "RU", "RUBL", "", "₽"])
def test_it_refuses_a_currency_that_is_not_iso_4217(world: World, currency: str) -> None:
    with pytest.raises(ValueError, match="currency"):
        services.promise_create(
            actor=world.cast.owner, person=world.person, kind="monthly_pay", currency=currency
        )


@pytest.mark.django_db
def test_it_creates_an_incident_in_the_facility_region_with_sealed_text(world: World) -> None:
    description, official = marker(), marker()
    source = services.source_create(actor=world.cast.owner, team=world.cast.team, kind="lawyer")
    incident = services.incident_create(
        actor=world.cast.owner,
        team=world.cast.team,
        facility_id=world.facility.id,
        date=PartialDate.between(PartialDate.of(2023, 3), PartialDate.of(2023, 5)),
        categories=["beating", "threat_new_charges", "beating"],
        victim_ids=[world.person.id],
        victim_count=3,
        perpetrator_roles=["colony_staff", "colony_head"],
        officials=[official, "  "],
        description=description,
        verification="corroborated",
        source_ids=[source.id],
    )
    stored = Incident.objects.get(pk=incident.id)
    assert stored.region_id == world.facility.region_id
    assert (stored.date_start, stored.date_end, stored.victim_count) == (
        date(2023, 3, 1),
        date(2023, 5, 31),
        3,
    )
    assert audited("incident.create", incident.id) == 1
    assert_no_marker("casework_incident", description, official)

    view = selectors.incident_get(user=world.cast.teammate, id=incident.id)
    assert view.categories == ("beating", "threat_new_charges")
    assert view.perpetrator_roles == ("colony_head", "colony_staff")
    assert view.victim_ids == (world.person.id,)
    assert view.source_ids == (source.id,)
    assert (view.description, view.officials) == (description, (official,))


@pytest.mark.django_db
def test_it_refuses_an_incident_region_that_contradicts_the_facility(world: World) -> None:
    region_make("RU-TVE")
    with pytest.raises(ValueError, match="region_code"):
        services.incident_create(
            actor=world.cast.owner,
            team=world.cast.team,
            facility_id=world.facility.id,
            region_code="RU-TVE",
            categories=["beating"],
        )
    with pytest.raises(ValueError, match="region_code"):
        services.incident_create(
            actor=world.cast.owner, team=world.cast.team, region_code="RU-XXX", categories=["beating"]
        )
    assert Incident.objects.count() == 0


@pytest.mark.django_db
def test_it_refuses_an_incident_without_a_category(world: World) -> None:
    with pytest.raises(ValueError, match="categories"):
        services.incident_create(actor=world.cast.owner, team=world.cast.team, categories=[])


@pytest.mark.django_db
def test_it_creates_a_case_with_sealed_notes(world: World) -> None:
    notes = marker()
    case = services.case_create(
        actor=world.cast.owner,
        team=world.cast.team,
        person=world.person,
        assignee=world.cast.teammate,
        deadline=date(2030, 1, 15),
        notes=notes,
    )
    stored = Case.objects.get(pk=case.id)
    assert (stored.person_id, stored.assignee_id, stored.status, stored.deadline) == (
        world.person.id,
        world.cast.teammate.id,
        "open",
        date(2030, 1, 15),
    )
    assert audited("case.create", case.id) == 1
    assert_no_marker("casework_case", notes)
    assert selectors.case_get(user=world.cast.teammate, id=case.id).notes == notes


# --- refusals -------------------------------------------------------------------------------------------


def _bad_code_calls(w: World) -> list[tuple[str, Callable[[str], object]]]:
    owner, team, person = w.cast.owner, w.cast.team, w.person
    return [
        ("kind", lambda c: services.source_create(actor=owner, team=team, kind=c)),
        (
            "reliability",
            lambda c: services.source_create(actor=owner, team=team, kind="media", reliability=c),
        ),
        ("consent", lambda c: services.source_create(actor=owner, team=team, kind="media", consent=c)),
        (
            "recruiter",
            lambda c: services.recruitment_create(actor=owner, person=person, recruiter=c, signed=None),
        ),
        (
            "legal_status",
            lambda c: services.recruitment_create(
                actor=owner, person=person, recruiter="wagner", signed=None, legal_status=c
            ),
        ),
        ("kind", lambda c: services.service_event_create(actor=owner, person=person, kind=c, date=None)),
        (
            "discharge_ground",
            lambda c: services.service_event_create(
                actor=owner, person=person, kind="discharge", date=None, discharge_ground=c
            ),
        ),
        (
            "recruiter",
            lambda c: services.visit_create(
                actor=owner, team=team, facility_id=w.facility.id, recruiter=c, date=None
            ),
        ),
        ("kind", lambda c: services.promise_create(actor=owner, person=person, kind=c)),
        (
            "promised_by",
            lambda c: services.promise_create(actor=owner, person=person, kind="pardon", promised_by=c),
        ),
        ("categories", lambda c: services.incident_create(actor=owner, team=team, categories=["beating", c])),
        (
            "perpetrator_roles",
            lambda c: services.incident_create(
                actor=owner, team=team, categories=["beating"], perpetrator_roles=[c]
            ),
        ),
        (
            "verification",
            lambda c: services.incident_create(
                actor=owner, team=team, categories=["beating"], verification=c
            ),
        ),
        ("status", lambda c: services.case_create(actor=owner, team=team, person=person, status=c)),
    ]


@pytest.mark.django_db
def test_it_refuses_every_unknown_code_naming_the_field_and_the_code(world: World) -> None:
    calls = _bad_code_calls(world)
    audit_before = AuditEntry.objects.count()
    for field, call in calls:
        with pytest.raises(ValueError, match=f"^{field}:") as caught:
            call("no_such_code")
        message = str(caught.value)
        assert message.startswith(f"{field}:"), message
        assert "'no_such_code'" in message, message
    assert len(calls) == 14
    assert AuditEntry.objects.count() == audit_before


@pytest.mark.django_db
def test_it_never_repeats_free_text_given_as_a_code(world: World) -> None:
    name = "Иванов Иван Иванович " + secrets.token_hex(4)
    for field, call in _bad_code_calls(world):
        with pytest.raises(ValueError, match=f"^{field}:") as caught:
            call(name)
        assert name not in str(caught.value)
        assert "Иванов" not in str(caught.value)
        assert str(caught.value).startswith(f"{field}:")


@pytest.mark.django_db
def test_it_refuses_writes_through_another_team_as_not_found(world: World) -> None:
    cast = world.cast
    promise = services.promise_create(actor=cast.owner, person=world.person, kind="pardon")
    own_source = services.source_create(actor=cast.outsider, team=cast.other_team, kind="media")
    attempts: list[Callable[[], object]] = [
        lambda: services.source_create(actor=cast.outsider, team=cast.team, kind="media"),
        lambda: services.recruitment_create(
            actor=cast.outsider, person=world.person, recruiter="wagner", signed=None
        ),
        lambda: services.service_event_create(
            actor=cast.outsider, person=world.person, kind="wound", date=None
        ),
        lambda: services.visit_create(
            actor=cast.outsider, team=cast.team, facility_id=world.facility.id, recruiter="wagner", date=None
        ),
        lambda: services.promise_create(actor=cast.outsider, person=world.person, kind="pardon"),
        lambda: services.delivery_create(actor=cast.outsider, promise=promise, outcome="delivered"),
        lambda: services.incident_create(actor=cast.outsider, team=cast.team, categories=["beating"]),
        lambda: services.case_create(actor=cast.outsider, team=cast.team, person=world.person),
        # Their own team, but a person of ours: linking or opening a case needs to see the person.
        lambda: services.case_create(actor=cast.outsider, team=cast.other_team, person=world.person),
        lambda: services.incident_create(
            actor=cast.outsider, team=cast.other_team, categories=["beating"], victim_ids=[world.person.id]
        ),
        # Our own team, but their source.
        lambda: services.promise_create(
            actor=cast.owner, person=world.person, kind="pardon", source_id=own_source.id
        ),
    ]
    audit_before = AuditEntry.objects.count()
    for attempt in attempts:
        with pytest.raises(access.NotFound):
            attempt()
    assert AuditEntry.objects.count() == audit_before
    assert Delivery.objects.count() == 0
    assert Incident.objects.count() == 0
    assert Case.objects.count() == 0


@pytest.mark.django_db
def test_it_refuses_analysts_and_inactive_staff_as_writers(world: World) -> None:
    inactive = User.objects.get(pk=world.cast.teammate.pk)
    inactive.is_active = False
    inactive.save()
    for actor in (world.cast.analyst, inactive):
        with pytest.raises(access.NotFound):
            services.source_create(actor=actor, team=world.cast.team, kind="media")
        with pytest.raises(access.NotFound):
            services.promise_create(actor=actor, person=world.person, kind="pardon")
    assert Source.objects.count() == 0


# --- audit ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_audits_every_service_and_keeps_the_chain_verifiable(world: World) -> None:
    cast = world.cast
    source = services.source_create(actor=cast.owner, team=cast.team, kind="relative", label=marker())
    recruitment = services.recruitment_create(
        actor=cast.owner, person=world.person, recruiter="wagner", signed=PartialDate.of(2022, 10)
    )
    event = services.service_event_create(actor=cast.owner, person=world.person, kind="wound", date=None)
    visit = services.visit_create(
        actor=cast.owner, team=cast.team, facility_id=world.facility.id, recruiter="wagner", date=None
    )
    promise = services.promise_create(actor=cast.owner, person=world.person, kind="pardon")
    delivery = services.delivery_create(actor=cast.owner, promise=promise, outcome="not_delivered")
    incident = services.incident_create(actor=cast.owner, team=cast.team, categories=["beating"])
    case = services.case_create(actor=cast.owner, team=cast.team, person=world.person)
    created = [
        ("source", source.id),
        ("recruitment", recruitment.id),
        ("service_event", event.id),
        ("visit", visit.id),
        ("promise", promise.id),
        ("delivery", delivery.id),
        ("incident", incident.id),
        ("case", case.id),
    ]
    for entity, object_id in created:
        entry = AuditEntry.objects.get(action=f"{entity}.create", object_id=str(object_id))
        assert (entry.actor, entry.object_type) == (str(cast.owner.id), entity)
    report = chain_verify()
    assert report.ok, str(report)
    assert report.entries >= len(created)


# --- selectors ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_filters_incidents_by_facility_region_category_dates_and_verification(world: World) -> None:
    cast = world.cast
    other_region = region_make("RU-TVE")
    other_facility = facility_make(other_region, number=7)

    def make(
        facility: Facility, when: PartialDate | None, categories: list[str], verification: str
    ) -> uuid.UUID:
        created: uuid.UUID = services.incident_create(
            actor=cast.owner,
            team=cast.team,
            facility_id=facility.id,
            date=when,
            categories=categories,
            verification=verification,
        ).id
        return created

    spring = make(world.facility, PartialDate.of(2023, 4), ["beating"], "verified")
    year = make(world.facility, PartialDate.of(2023), ["threat_new_charges"], "unverified")
    later = make(other_facility, PartialDate.of(2024, 2, 1), ["beating", "threat_new_charges"], "verified")
    unknown = make(other_facility, None, ["beating"], "unverified")
    services.incident_create(actor=cast.outsider, team=cast.other_team, categories=["beating"])

    def ids(**filters: Any) -> set[uuid.UUID]:
        return {i.id for i in selectors.incident_list(user=cast.teammate, **filters).items}

    assert ids() == {spring, year, later, unknown}
    assert ids(facility=world.facility.id) == {spring, year}
    assert ids(region="RU-TVE") == {later, unknown}
    assert ids(category="beating") == {spring, later, unknown}
    assert ids(verification="verified") == {spring, later}
    # "2023" overlaps May 2023; April 2023 does not; unknown dates never fall in a range.
    assert ids(date_from=date(2023, 5, 1), date_to=date(2023, 5, 31)) == {year}
    assert ids(date_from=date(2024, 1, 1)) == {later}
    assert ids(date_to=date(2023, 4, 1)) == {spring, year}
    assert ids(category="beating", region="RU-SVE", verification="verified") == {spring}

    first = selectors.incident_list(user=cast.teammate, page=1, per_page=3)
    second = selectors.incident_list(user=cast.teammate, page=2, per_page=3)
    assert (first.total, len(first.items), first.has_next, len(second.items), second.has_next) == (
        4,
        3,
        True,
        1,
        False,
    )
    assert {i.id for i in first.items} | {i.id for i in second.items} == {spring, year, later, unknown}
    with pytest.raises(ValueError, match="per_page"):
        selectors.incident_list(user=cast.teammate, per_page=100_000)


@pytest.mark.django_db
def test_it_lists_my_cases_by_nearest_deadline(world: World) -> None:
    cast = world.cast
    today = date(2030, 6, 1)

    def case(assignee: User | None, deadline: date | None, status: str = "open") -> uuid.UUID:
        created: uuid.UUID = services.case_create(
            actor=cast.owner,
            team=cast.team,
            person=world.person,
            assignee=assignee,
            deadline=deadline,
            status=status,
        ).id
        return created

    late = case(cast.teammate, today + timedelta(days=30))
    soon = case(cast.teammate, today + timedelta(days=2))
    undated = case(cast.teammate, None)
    closed = case(cast.teammate, today, status="closed")
    case(cast.owner, today)
    case(None, today)

    mine = selectors.case_list(user=cast.teammate)
    assert [c.id for c in mine.items] == [soon, late, undated]
    assert [c.id for c in selectors.case_list(user=cast.teammate, include_closed=True).items] == [
        closed,
        soon,
        late,
        undated,
    ]
    assert mine.items[0].deadline == today + timedelta(days=2)


@pytest.mark.django_db
def test_it_lists_visits_by_facility(world: World) -> None:
    cast = world.cast
    other = facility_make(world.facility.region, number=9)
    here = services.visit_create(
        actor=cast.owner,
        team=cast.team,
        facility_id=world.facility.id,
        recruiter="wagner",
        date=PartialDate.of(2022, 7),
    )
    there = services.visit_create(
        actor=cast.owner, team=cast.team, facility_id=other.id, recruiter="mod_storm_z", date=None
    )
    services.visit_create(
        actor=cast.outsider,
        team=cast.other_team,
        facility_id=world.facility.id,
        recruiter="wagner",
        date=None,
    )
    assert [v.id for v in selectors.visit_list(user=cast.teammate, facility=world.facility.id).items] == [
        here.id
    ]
    assert {v.id for v in selectors.visit_list(user=cast.teammate).items} == {here.id, there.id}
    assert (
        selectors.visit_list(user=cast.teammate, facility=world.facility.id).items[0].date_edtf == "2022-07"
    )
