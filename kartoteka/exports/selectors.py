"""Reads for exports. Staff rows start from the access gates (accounts/access.py) of the acting user and
open sealed fields only for users who see identities; the public data set reads coded columns only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import islice

from django.db.models import Exists, OuterRef

from kartoteka.accounts import access
from kartoteka.accounts.models import User
from kartoteka.casework import selectors as casework
from kartoteka.casework.models import Incident, IncidentCategory, IncidentPerpetrator, Source
from kartoteka.core import sealing
from kartoteka.exports.models import FacilityRelease
from kartoteka.lib import disclosure
from kartoteka.people.models import Person, Record
from kartoteka.registry.models import Facility, Region

CHUNK = 500
PUBLISHABLE_CONSENT = frozenset({"anonymised_publication", "named_publication"})
EXCLUDED_VERIFICATION = frozenset({"disputed"})
RECORD_TABLE = "people.record"
_RECORD_SEALED = ("full_name", "aliases", "birth_date", "notes")


def _chunks[T](items: Iterator[T], size: int) -> Iterator[list[T]]:
    while batch := list(islice(items, size)):
        yield batch


def facility_keys(ids: Sequence[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    return dict(Facility.objects.filter(id__in=wanted).values_list("id", "key"))


# --- staff rows ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordRow:
    id: uuid.UUID
    person_id: uuid.UUID | None
    team: str
    source_id: uuid.UUID | None
    full_name: str | None
    aliases: tuple[str, ...] | None
    birth_date: str | None
    sex: str
    home_region: str | None
    facility: str | None
    articles: tuple[str, ...]
    sentence_months: int | None
    notes: str | None


def _record_rows(user: User, batch: Sequence[Record]) -> list[RecordRow]:
    opened: list[dict[str, str] | None]
    if access.sees_identities(user) and batch:
        opened = list(
            sealing.rows_open(
                RECORD_TABLE,
                [
                    (str(r.id), bytes(r.wrapped_key), {f: getattr(r, f"{f}_enc") for f in _RECORD_SEALED})
                    for r in batch
                ],
            )
        )
    else:
        opened = [None] * len(batch)
    return [
        RecordRow(
            id=r.id,
            person_id=r.person_id,
            team=r.team.name,
            source_id=r.source_id,
            full_name=None if o is None else o.get("full_name", ""),
            aliases=None if o is None else tuple(sealing.json_list(o.get("aliases"))),
            birth_date=None if o is None else o.get("birth_date", ""),
            sex=r.sex,
            home_region=r.home_region_id,
            facility=r.facility.key if r.facility is not None else None,
            articles=tuple(r.articles),
            sentence_months=r.sentence_months,
            notes=None if o is None else o.get("notes", ""),
        )
        for r, o in zip(batch, opened, strict=True)
    ]


def records_for_user(user: User) -> Iterator[RecordRow]:
    """Every record the user may see, oldest first; identity fields None for users who may not see them."""
    qs = access.record_list_for_user(user).select_related("team", "facility").order_by("created_at", "id")
    for batch in _chunks(qs.iterator(chunk_size=CHUNK), CHUNK):
        yield from _record_rows(user, batch)


def incidents_for_user(user: User) -> Iterator[casework.IncidentView]:
    page = 1
    while True:
        result = casework.incident_list(user=user, page=page, per_page=casework.PER_PAGE_MAX)
        yield from result.items
        if not result.has_next:
            return
        page += 1


def sources_for_user(user: User) -> Iterator[casework.SourceView]:
    page = 1
    while True:
        result = casework.source_list(user=user, page=page, per_page=casework.PER_PAGE_MAX)
        yield from result.items
        if not result.has_next:
            return
        page += 1


# --- the public data set -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VictimEvent:
    """One victim of one publishable incident placed in one quarter: coded facts only."""

    person_id: uuid.UUID
    incident_id: uuid.UUID
    quarter: str
    day: date
    region: str | None
    facility_id: uuid.UUID | None
    categories: tuple[str, ...]


def publishable_victim_events(user: User, quarters: Sequence[str]) -> list[VictimEvent]:
    """Victims of incidents the user may see that (1) have a source whose consent allows publication,
    (2) are not disputed, and (3) are dated within ONE quarter of the period (an incident known only as
    "2023" cannot be placed in a quarter and is left out rather than guessed)."""
    if not quarters:
        return []
    first, _ = disclosure.quarter_bounds(quarters[0])
    _, last = disclosure.quarter_bounds(quarters[-1])
    consenting = Source.objects.filter(incidents=OuterRef("pk"), consent__in=PUBLISHABLE_CONSENT)
    incidents = (
        access.incident_list_for_user(user)
        .filter(Exists(consenting), date_start__gte=first, date_end__lte=last)
        .exclude(verification__in=EXCLUDED_VERIFICATION)
    )
    rows = {
        i.id: i for i in incidents.only("id", "region_id", "facility_id", "date_start", "date_end")
    }  # small: coded columns only
    categories: dict[uuid.UUID, list[str]] = {i: [] for i in rows}
    for incident_id, code in IncidentCategory.objects.filter(incident_id__in=list(rows)).values_list(
        "incident_id", "code"
    ):
        categories[incident_id].append(code)
    out = []
    links = Incident.victims.through.objects.filter(incident_id__in=list(rows)).values_list(
        "incident_id", "person_id"
    )
    for incident_id, person_id in links:
        inc = rows[incident_id]
        if inc.date_start is None or inc.date_end is None:
            continue
        quarter = disclosure.quarter_of(inc.date_start)
        if disclosure.quarter_of(inc.date_end) != quarter:
            continue
        out.append(
            VictimEvent(
                person_id=person_id,
                incident_id=incident_id,
                quarter=quarter,
                day=inc.date_start,
                region=inc.region_id,
                facility_id=inc.facility_id,
                categories=tuple(sorted(categories[incident_id])),
            )
        )
    return out


def regions_all() -> list[Region]:
    return list(Region.objects.order_by("code"))


def facilities_released() -> list[Facility]:
    """Facilities a reviewer approved for their own row (FacilityRelease approved by a second person)."""
    ids = FacilityRelease.objects.filter(status=FacilityRelease.Status.APPROVED).values("facility_id")
    return list(Facility.objects.filter(id__in=ids).order_by("key"))


def persons_for_user(user: User, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Person]:
    return {p.id: p for p in access.person_list_for_user(user).filter(id__in=list(ids))}


def perpetrator_roles(incident_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    out: dict[uuid.UUID, list[str]] = {}
    for incident_id, role in IncidentPerpetrator.objects.filter(
        incident_id__in=list(incident_ids)
    ).values_list("incident_id", "role"):
        out.setdefault(incident_id, []).append(role)
    return out


def first_records(user: User, person_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, RecordRow]:
    """Each person's first visible record (name, birth date as first reported), for HURIDOCS victims."""
    qs = access.record_list_for_user(user).filter(person_id__in=list(person_ids)).order_by("created_at", "id")
    firsts: dict[uuid.UUID, Record] = {}
    for r in qs.select_related("team", "facility"):
        if r.person_id is not None:
            firsts.setdefault(r.person_id, r)
    return dict(zip(firsts, _record_rows(user, list(firsts.values())), strict=True))
