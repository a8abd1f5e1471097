"""Engine facts from the database: what the evaluator needs to know about a person, read in bulk.

One :class:`~kartoteka.law.engine.Facts` per recruitment (a person recruited twice has two ledgers).
Promises and service events name their recruitment when the caseworker linked them; an unlinked one
belongs to the latest recruitment signed on or before its date (or the latest one, if undated). A person
with promises but no recruitment gets one ledger with an unknown signing date, so the promises still show
(as unknown, naming the missing fact). Articles come from every record of the person; the legal status
from the recruitment. Reads coded columns only: nothing here decrypts.

Six queries per batch of persons, whatever its size (up to :data:`BATCH`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from itertools import islice
from typing import Final

from kartoteka.casework.models import Delivery, Promise, Recruitment, ServiceEvent
from kartoteka.law import engine
from kartoteka.lib.partialdate import PartialDate, PartialDateError, parse
from kartoteka.people.models import Record, StatusEntry

__all__ = ["BATCH", "FactsBundle", "facts_for_person", "facts_for_persons"]

BATCH: Final = 1000  # ids per IN (...) list: far below SQLite's variable limit, few round trips
_UNKNOWN: Final = PartialDate.unknown()


@dataclass(frozen=True, slots=True)
class FactsBundle:
    """The engine's facts for one recruitment of one person, with what storing its lines needs."""

    person_id: uuid.UUID
    recruitment_id: uuid.UUID | None
    facts: engine.Facts
    currencies: Mapping[str, str]  # promise id -> ISO 4217 code


@lru_cache(maxsize=65536)
def _date(edtf: str) -> PartialDate:
    # Stored EDTF was written by PartialDate.to_edtf; a value that no longer parses counts as unknown.
    if not edtf:
        return _UNKNOWN
    try:
        return parse(edtf)
    except PartialDateError:
        return _UNKNOWN


def _chunks(ids: Iterable[uuid.UUID], size: int) -> Iterator[list[uuid.UUID]]:
    it = iter(ids)
    while chunk := list(islice(it, size)):
        yield chunk


@dataclass(slots=True)
class _Rec:
    id: uuid.UUID
    recruiter: str
    signed: str
    signed_start: date | None
    legal_status: str
    term: int | None
    in_custody: bool | None
    events: list[engine.ServiceEvent] = field(default_factory=list)
    promises: list[engine.Promise] = field(default_factory=list)


@dataclass(slots=True)
class _Person:
    recruitments: list[_Rec] = field(default_factory=list)
    statuses: list[engine.StatusEntry] = field(default_factory=list)
    articles: list[str] = field(default_factory=list)
    loose_promises: list[engine.Promise] = field(default_factory=list)
    currencies: dict[str, str] = field(default_factory=dict)
    deliveries: list[engine.Delivery] = field(default_factory=list)


def _owner(person: _Person, recruitment_id: uuid.UUID | None, when: date | None) -> _Rec | None:
    """The recruitment an item belongs to: the linked one, else the latest signed on or before ``when``."""
    if not person.recruitments:
        return None
    if recruitment_id is not None:
        for rec in person.recruitments:
            if rec.id == recruitment_id:
                return rec
    chosen = person.recruitments[-1]
    if when is not None:
        earlier = [r for r in person.recruitments if r.signed_start is not None and r.signed_start <= when]
        if earlier:
            chosen = earlier[-1]
    return chosen


def _load(ids: list[uuid.UUID], people: dict[uuid.UUID, _Person]) -> None:
    recs = Recruitment.objects.filter(person_id__in=ids).values_list(
        "id", "person_id", "recruiter", "signed_edtf", "signed_start", "legal_status", "stated_term_months",
        "facility_id",
    )  # fmt: skip
    for rid, pid, recruiter, signed, start, status, term, facility in recs:
        # Recruited inside a facility means in custody on signing; otherwise the record does not say.
        people[pid].recruitments.append(
            _Rec(rid, recruiter, signed, start, status, term, True if facility is not None else None)
        )
    for person in people.values():
        person.recruitments.sort(key=lambda r: (r.signed_start is None, r.signed_start or date.min, r.id))
    for pid, status, edtf in StatusEntry.objects.filter(person_id__in=ids).values_list(
        "person_id", "status", "date_edtf"
    ):
        people[pid].statuses.append(engine.StatusEntry(status, _date(edtf)))
    for pid, articles in Record.objects.filter(person_id__in=ids).values_list("person_id", "articles"):
        person = people[pid]
        for article in articles or ():
            if isinstance(article, str) and article not in person.articles:
                person.articles.append(article)
    events = ServiceEvent.objects.filter(person_id__in=ids).values_list(
        "person_id", "recruitment_id", "kind", "discharge_ground", "date_edtf", "date_start"
    )
    for pid, rid, kind, ground, edtf, start in events:
        owner = _owner(people[pid], rid, start)
        if owner is not None:
            owner.events.append(engine.ServiceEvent(kind, _date(edtf), ground))
    promises = Promise.objects.filter(person_id__in=ids).values_list(
        "id",
        "person_id",
        "recruitment_id",
        "kind",
        "amount",
        "currency",
        "condition",
        "due_edtf",
        "due_start",
    )
    for prid, pid, rid, kind, amount, currency, condition, due, due_start in promises:
        person = people[pid]
        key = str(prid)
        promise = engine.Promise(key, kind, amount, condition, _date(due) if due else None)
        person.currencies[key] = currency
        owner = _owner(person, rid, due_start)
        (owner.promises if owner is not None else person.loose_promises).append(promise)
    deliveries = Delivery.objects.filter(promise__person_id__in=ids).values_list(
        "promise__person_id", "promise_id", "outcome", "amount", "date_edtf"
    )
    for pid, prid, outcome, amount, edtf in deliveries:
        people[pid].deliveries.append(engine.Delivery(str(prid), outcome, amount, _date(edtf)))


def _bundles(pid: uuid.UUID, person: _Person) -> list[FactsBundle]:
    articles = tuple(person.articles)
    statuses = tuple(person.statuses)
    out: list[FactsBundle] = []
    for rec in person.recruitments:
        ids = {p.id for p in rec.promises}
        facts = engine.Facts(
            signed=_date(rec.signed),
            legal_status=rec.legal_status or "unknown",
            recruiter=rec.recruiter or "unknown",
            articles=articles,
            in_custody_on_signing=rec.in_custody,
            term_months=rec.term,
            events=tuple(rec.events),
            status_history=statuses,
            promises=tuple(rec.promises),
            deliveries=tuple(d for d in person.deliveries if d.promise_id in ids),
            person_id=str(pid),
        )
        out.append(FactsBundle(pid, rec.id, facts, person.currencies))
    if person.loose_promises:
        ids = {p.id for p in person.loose_promises}
        facts = engine.Facts(
            signed=_UNKNOWN,
            articles=articles,
            status_history=statuses,
            promises=tuple(person.loose_promises),
            deliveries=tuple(d for d in person.deliveries if d.promise_id in ids),
            person_id=str(pid),
        )
        out.append(FactsBundle(pid, None, facts, person.currencies))
    return out


def facts_for_persons(person_ids: Sequence[uuid.UUID | str]) -> dict[uuid.UUID, list[FactsBundle]]:
    """Every given person's facts, one bundle per recruitment; a person with nothing to judge maps to []."""
    ids = [p if isinstance(p, uuid.UUID) else uuid.UUID(str(p)) for p in dict.fromkeys(person_ids)]
    result: dict[uuid.UUID, list[FactsBundle]] = {}
    for chunk in _chunks(ids, BATCH):
        people = {pid: _Person() for pid in chunk}
        _load(chunk, people)
        for pid, person in people.items():
            result[pid] = _bundles(pid, person)
    return result


def facts_for_person(person_id: uuid.UUID | str) -> list[FactsBundle]:
    pid = person_id if isinstance(person_id, uuid.UUID) else uuid.UUID(str(person_id))
    return facts_for_persons([pid])[pid]
