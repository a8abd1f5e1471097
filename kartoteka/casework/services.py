"""Writes for the casework room: sources, recruitments, service events, visits, promises, deliveries,
incidents and cases.

Every service checks the caller through the gates in accounts/access.py (a refusal is NotFound, the same
answer as a missing id), validates each code against its vocabulary, seals free text through the key
agent before the transaction opens, and appends to the audit chain inside the same transaction.
Error messages name the field and, for codes, the code; they never repeat free text.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date as Date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model

from kartoteka.accounts import access
from kartoteka.accounts.models import Team, User
from kartoteka.audit.services import entry_append
from kartoteka.casework.models import (
    Case,
    Delivery,
    Incident,
    IncidentCategory,
    IncidentPerpetrator,
    Promise,
    Recruitment,
    RecruitmentVisit,
    ServiceEvent,
    Source,
)
from kartoteka.core import sealing
from kartoteka.core.fields import new_id, partial_date_columns
from kartoteka.law.services import ledger_mark_stale
from kartoteka.lib import vocab
from kartoteka.lib.partialdate import PartialDate
from kartoteka.people.models import Person
from kartoteka.registry.models import Facility, Region

__all__ = [
    "CASE_STATUSES",
    "LEGAL_STATUSES",
    "case_create",
    "case_update",
    "delivery_create",
    "delivery_update",
    "incident_create",
    "incident_update",
    "promise_create",
    "promise_update",
    "recruitment_create",
    "recruitment_update",
    "service_event_create",
    "service_event_update",
    "source_create",
    "source_update",
    "visit_create",
    "visit_update",
]

# Procedural standing at signing: decides which legal regime applies (domain-facts §1, art. 78.1).
LEGAL_STATUSES = frozenset({"convicted", "suspect", "accused", "on_trial"})
CASE_STATUSES = frozenset({"open", "on_hold", "closed"})

_CODE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_CODE_MAX = 40
_CURRENCY = re.compile(r"[A-Z]{3}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,4})?")
_AMOUNT_MAX = Decimal("999999999999.99")  # max_digits=14, decimal_places=2
_UNIT_MAX = 120


# --- validation -----------------------------------------------------------------------------------------


def _quoted(code: str) -> str:
    # A value in a code field may be a mis-mapped name column: quote it only when it looks like a code.
    if len(code) <= _CODE_MAX and _CODE.fullmatch(code):
        return f"'{code}'"
    return "(not a code)"


def _code(field: str, vocabulary: str, code: str) -> str:
    if not isinstance(code, str) or not vocab.has_code(vocabulary, code):
        shown = _quoted(code) if isinstance(code, str) else "(not a string)"
        raise ValueError(f"{field}: {shown} is not a code of vocabulary '{vocabulary}'")
    return code


def _optional_code(field: str, vocabulary: str, code: str) -> str:
    return "" if code == "" else _code(field, vocabulary, code)


def _code_in(field: str, allowed: frozenset[str], code: str) -> str:
    if code not in allowed:
        shown = _quoted(code) if isinstance(code, str) else "(not a string)"
        raise ValueError(f"{field}: {shown} is not one of {', '.join(sorted(allowed))}")
    return code


def _free_code(field: str, code: str) -> str:
    """A snake_case code from a list this room does not own (yet), e.g. a legal regime; may be empty."""
    if code != "" and not (isinstance(code, str) and len(code) <= _CODE_MAX and _CODE.fullmatch(code)):
        raise ValueError(f"{field}: must be empty or a snake_case code of at most {_CODE_MAX} characters")
    return code


def _amount(field: str, value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    # Floats are refused: a binary fraction is not the amount a testimony states.
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{field}: must be a finite Decimal")
    if value < 0:
        raise ValueError(f"{field}: must not be negative")
    if value > _AMOUNT_MAX or value != value.quantize(Decimal("0.01")):
        raise ValueError(f"{field}: at most 12 digits before and 2 after the decimal point")
    return value


def _currency(value: str) -> str:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise ValueError("currency: must be an ISO 4217 code of three capital letters, e.g. RUB")
    return value


def _count(field: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{field}: must be a whole number ≥ 0")
    return value


def _text_max(field: str, value: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{field}: must be text of at most {limit} characters")
    return value


def _dates(prefix: str, value: PartialDate | None) -> dict[str, object]:
    if value is None:
        return {f"{prefix}_edtf": "", f"{prefix}_start": None, f"{prefix}_end": None}
    if not isinstance(value, PartialDate):
        raise ValueError(f"{prefix}: must be a PartialDate")
    return partial_date_columns(prefix, value)


def _facility(field: str, facility_id: uuid.UUID | str) -> Facility:
    # Facilities are public reference data: an unknown id is a caller's mistake, not a probe.
    try:
        return Facility.objects.get(pk=facility_id)
    except (Facility.DoesNotExist, ValidationError, ValueError, TypeError):
        raise ValueError(f"{field}: no such facility") from None


def _region(code: str) -> Region:
    try:
        return Region.objects.get(pk=code)
    except Region.DoesNotExist:
        raise ValueError(f"region_code: {_quoted(code)} is not a known region code") from None


def _source(actor: User, source_id: uuid.UUID | str | None) -> Source | None:
    # Linking cites a source, so reading it is enough; a source the actor cannot see is NotFound.
    return None if source_id is None else access.source_get_for_user(actor, source_id)


def _recruitment_of(
    actor: User, person: Person, recruitment_id: uuid.UUID | str | None
) -> Recruitment | None:
    if recruitment_id is None:
        return None
    recruitment = access.recruitment_get_for_user(actor, recruitment_id)
    if recruitment.person_id != person.id:
        raise ValueError("recruitment_id: belongs to another person")
    return recruitment


def _team_for_write(actor: User, team: Team) -> None:
    if not access.team_writable(actor, team):
        raise access.NotFound


def _seal(
    table: str, object_id: uuid.UUID, fields: Mapping[str, sealing.Plain]
) -> tuple[bytes, dict[str, bytes]]:
    wrapped, sealed = sealing.rows_seal(table, [(str(object_id), fields)])[0]
    return wrapped, sealed


def _audit(
    actor: User, entity: str, obj_id: uuid.UUID, verb: str = "create", **details: uuid.UUID | str | None
) -> None:
    entry_append(
        actor=str(actor.id),
        action=f"{entity}.{verb}",
        object_type=entity,
        object_id=str(obj_id),
        details={k: str(v) for k, v in details.items() if v is not None} or None,
    )


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _apply[M: Model](obj: M, columns: Mapping[str, object]) -> M:
    for name, value in columns.items():
        setattr(obj, name, value)
    obj.save()
    return obj


# --- sources --------------------------------------------------------------------------------------------


def _source_columns(
    source_id: uuid.UUID,
    *,
    kind: str,
    reliability: str,
    language: str,
    consent: str,
    label: str,
    contact: str,
) -> dict[str, object]:
    _code("kind", "source_kind", kind)
    _code("reliability", "reliability", reliability)
    _code("consent", "consent", consent)
    if language and not (isinstance(language, str) and _LANGUAGE.fullmatch(language)):
        raise ValueError("language: must be empty or a language tag such as ru, uk or ce")
    wrapped, sealed = _seal("casework.source", source_id, {"label": label, "contact": contact})
    return {
        "kind": kind, "reliability": reliability, "language": language, "consent": consent,
        "wrapped_key": wrapped, "label_enc": sealed.get("label"), "contact_enc": sealed.get("contact"),
    }  # fmt: skip


def source_create(
    *,
    actor: User,
    team: Team,
    kind: str,
    reliability: str = "unknown",
    language: str = "",
    consent: str = "internal_only",
    label: str = "",
    contact: str = "",
) -> Source:
    _team_for_write(actor, team)
    source_id = new_id()
    columns = _source_columns(
        source_id, kind=kind, reliability=reliability, language=language, consent=consent, label=label,
        contact=contact,
    )  # fmt: skip
    with transaction.atomic():
        source = Source.objects.create(id=source_id, team=team, **columns)
        _audit(actor, "source", source.id, team=team.id)
    return source


# --- recruitments, service events, visits ---------------------------------------------------------------


def _recruitment_columns(
    actor: User,
    person: Person,
    *,
    recruiter: str,
    signed: PartialDate | None,
    facility_id: uuid.UUID | None,
    legal_status: str,
    stated_term_months: int | None,
    unit: str,
    stated_regime: str,
    source_id: uuid.UUID | None,
) -> dict[str, object]:
    _code("recruiter", "recruiter", recruiter)
    _code_in("legal_status", LEGAL_STATUSES, legal_status)
    _count("stated_term_months", stated_term_months)
    _text_max("unit", unit, _UNIT_MAX)
    # ledger: stated_regime is kept as the source states it; the ledger computes the regime from
    # recruiter, signing date and legal status and flags a mismatch against this value.
    _free_code("stated_regime", stated_regime)
    return {
        "recruiter": recruiter,
        "facility": None if facility_id is None else _facility("facility_id", facility_id),
        "legal_status": legal_status,
        "stated_term_months": stated_term_months,
        "unit": unit,
        "stated_regime": stated_regime,
        "source": _source(actor, source_id),
        **_dates("signed", signed),
    }


def recruitment_create(
    *,
    actor: User,
    person: Person,
    recruiter: str,
    signed: PartialDate | None,
    facility_id: uuid.UUID | None = None,
    legal_status: str = "convicted",
    stated_term_months: int | None = None,
    unit: str = "",
    stated_regime: str = "",
    source_id: uuid.UUID | None = None,
) -> Recruitment:
    person = access.person_get_for_user(actor, person.id, write=True)
    columns = _recruitment_columns(
        actor, person, recruiter=recruiter, signed=signed, facility_id=facility_id, legal_status=legal_status,
        stated_term_months=stated_term_months, unit=unit, stated_regime=stated_regime, source_id=source_id,
    )  # fmt: skip
    with transaction.atomic():
        recruitment = Recruitment.objects.create(id=new_id(), person=person, **columns)
        _audit(actor, "recruitment", recruitment.id, person=person.id)
        ledger_mark_stale(person.id)
    return recruitment


def _service_event_columns(
    actor: User,
    person: Person,
    *,
    kind: str,
    date: PartialDate | None,
    recruitment_id: uuid.UUID | None,
    discharge_ground: str,
    source_id: uuid.UUID | None,
) -> dict[str, object]:
    _code("kind", "service_event_kind", kind)
    _optional_code("discharge_ground", "discharge_ground", discharge_ground)
    if discharge_ground and kind != "discharge":
        raise ValueError("discharge_ground: only a discharge has a ground")
    return {
        "kind": kind,
        "discharge_ground": discharge_ground,
        "recruitment": _recruitment_of(actor, person, recruitment_id),
        "source": _source(actor, source_id),
        **_dates("date", date),
    }


def service_event_create(
    *,
    actor: User,
    person: Person,
    kind: str,
    date: PartialDate | None,
    recruitment_id: uuid.UUID | None = None,
    discharge_ground: str = "",
    source_id: uuid.UUID | None = None,
) -> ServiceEvent:
    person = access.person_get_for_user(actor, person.id, write=True)
    columns = _service_event_columns(
        actor, person, kind=kind, date=date, recruitment_id=recruitment_id, discharge_ground=discharge_ground,
        source_id=source_id,
    )  # fmt: skip
    with transaction.atomic():
        event = ServiceEvent.objects.create(id=new_id(), person=person, **columns)
        _audit(actor, "service_event", event.id, person=person.id)
        ledger_mark_stale(person.id)
    return event


def _visit_columns(
    actor: User,
    *,
    facility_id: uuid.UUID,
    recruiter: str,
    date: PartialDate | None,
    source_id: uuid.UUID | None,
) -> dict[str, object]:
    _code("recruiter", "recruiter", recruiter)
    return {
        "facility": _facility("facility_id", facility_id),
        "recruiter": recruiter,
        "source": _source(actor, source_id),
        **_dates("date", date),
    }


def visit_create(
    *,
    actor: User,
    team: Team,
    facility_id: uuid.UUID,
    recruiter: str,
    date: PartialDate | None,
    source_id: uuid.UUID | None = None,
) -> RecruitmentVisit:
    _team_for_write(actor, team)
    columns = _visit_columns(
        actor, facility_id=facility_id, recruiter=recruiter, date=date, source_id=source_id
    )
    with transaction.atomic():
        visit = RecruitmentVisit.objects.create(id=new_id(), team=team, **columns)
        _audit(actor, "visit", visit.id, team=team.id)
    return visit


# --- promises and deliveries ----------------------------------------------------------------------------


def _promise_columns(
    actor: User,
    person: Person,
    promise_id: uuid.UUID,
    *,
    kind: str,
    amount: Decimal | None,
    currency: str,
    due: PartialDate | None,
    condition: str,
    promised_by: str,
    details: str,
    recruitment_id: uuid.UUID | None,
    source_id: uuid.UUID | None,
) -> dict[str, object]:
    _code("kind", "promise_kind", kind)
    _amount("amount", amount)
    _currency(currency)
    _free_code("condition", condition)
    _optional_code("promised_by", "perpetrator_role", promised_by)
    recruitment = _recruitment_of(actor, person, recruitment_id)
    source = _source(actor, source_id)
    wrapped, sealed = _seal("casework.promise", promise_id, {"details": details})
    return {
        "kind": kind,
        "amount": amount,
        "currency": currency,
        "condition": condition,
        "promised_by": promised_by,
        "recruitment": recruitment,
        "source": source,
        "wrapped_key": wrapped,
        "details_enc": sealed.get("details"),
        **_dates("due", due),
    }


def promise_create(
    *,
    actor: User,
    person: Person,
    kind: str,
    amount: Decimal | None = None,
    currency: str = "RUB",
    due: PartialDate | None = None,
    condition: str = "",
    promised_by: str = "",
    details: str = "",
    recruitment_id: uuid.UUID | None = None,
    source_id: uuid.UUID | None = None,
) -> Promise:
    person = access.person_get_for_user(actor, person.id, write=True)
    promise_id = new_id()
    columns = _promise_columns(
        actor, person, promise_id, kind=kind, amount=amount, currency=currency, due=due, condition=condition,
        promised_by=promised_by, details=details, recruitment_id=recruitment_id, source_id=source_id,
    )  # fmt: skip
    with transaction.atomic():
        promise = Promise.objects.create(id=promise_id, person=person, **columns)
        _audit(actor, "promise", promise.id, person=person.id)
        ledger_mark_stale(person.id)
    return promise


def _delivery_columns(
    actor: User,
    *,
    outcome: str,
    amount: Decimal | None,
    date: PartialDate | None,
    source_id: uuid.UUID | None,
) -> dict[str, object]:
    _code("outcome", "delivery_outcome", outcome)
    # The amount is in the promise's currency: a delivery answers one promise.
    _amount("amount", amount)
    return {"outcome": outcome, "amount": amount, "source": _source(actor, source_id), **_dates("date", date)}


def delivery_create(
    *,
    actor: User,
    promise: Promise,
    outcome: str,
    amount: Decimal | None = None,
    date: PartialDate | None = None,
    source_id: uuid.UUID | None = None,
) -> Delivery:
    promise = access.promise_get_for_user(actor, promise.id, write=True)
    columns = _delivery_columns(actor, outcome=outcome, amount=amount, date=date, source_id=source_id)
    with transaction.atomic():
        delivery = Delivery.objects.create(id=new_id(), promise=promise, **columns)
        _audit(actor, "delivery", delivery.id, promise=promise.id)
        ledger_mark_stale(promise.person_id)
    return delivery


# --- incidents ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _IncidentInput:
    """An incident's fields once checked: columns for the row, codes and links for the side tables."""

    columns: dict[str, object]
    categories: list[str]
    roles: list[str]
    victims: list[Person]
    sources: list[Source]


def _incident_input(
    actor: User,
    incident_id: uuid.UUID,
    *,
    facility_id: uuid.UUID | None,
    region_code: str | None,
    date: PartialDate | None,
    categories: Sequence[str],
    victim_ids: Sequence[uuid.UUID],
    victim_count: int | None,
    perpetrator_roles: Sequence[str],
    officials: Sequence[str],
    description: str,
    verification: str,
    source_ids: Sequence[uuid.UUID],
) -> _IncidentInput:
    if isinstance(categories, str) or not categories:
        raise ValueError("categories: give at least one incident_category code")
    codes = _unique(_code("categories", "incident_category", c) for c in categories)
    roles = [_code("perpetrator_roles", "perpetrator_role", r) for r in perpetrator_roles]
    _code("verification", "verification", verification)
    _count("victim_count", victim_count)
    facility = None if facility_id is None else _facility("facility_id", facility_id)
    region = None if region_code is None else _region(region_code)
    if facility is not None:
        if region is not None and region.code != facility.region_id:
            raise ValueError("region_code: differs from the facility's region")
        region = facility.region
    # Victims and sources are linked, never created here; each must pass the actor's read gate.
    victims = [access.person_get_for_user(actor, pid) for pid in dict.fromkeys(victim_ids)]
    sources = [access.source_get_for_user(actor, sid) for sid in dict.fromkeys(source_ids)]
    if isinstance(officials, str):
        raise ValueError("officials: give a list of names, one per official")
    named = [o.strip() for o in officials if o.strip()]
    wrapped, sealed = _seal(
        "casework.incident", incident_id, {"description": description, "officials": named}
    )
    columns = {
        "facility": facility,
        "region": region,
        "victim_count": victim_count,
        "verification": verification,
        "wrapped_key": wrapped,
        "description_enc": sealed.get("description"),
        "officials_enc": sealed.get("officials"),
        **_dates("date", date),
    }
    return _IncidentInput(columns, codes, roles, victims, sources)


def _incident_codes_set(incident: Incident, checked: _IncidentInput) -> None:
    IncidentCategory.objects.filter(incident=incident).delete()
    IncidentCategory.objects.bulk_create(
        IncidentCategory(incident=incident, code=c) for c in checked.categories
    )
    IncidentPerpetrator.objects.filter(incident=incident).delete()
    IncidentPerpetrator.objects.bulk_create(
        IncidentPerpetrator(incident=incident, role=r) for r in checked.roles
    )


def incident_create(
    *,
    actor: User,
    team: Team,
    facility_id: uuid.UUID | None = None,
    region_code: str | None = None,
    date: PartialDate | None = None,
    categories: Sequence[str],
    victim_ids: Sequence[uuid.UUID] = (),
    victim_count: int | None = None,
    perpetrator_roles: Sequence[str] = (),
    officials: Sequence[str] = (),
    description: str = "",
    verification: str = "unverified",
    source_ids: Sequence[uuid.UUID] = (),
) -> Incident:
    _team_for_write(actor, team)
    incident_id = new_id()
    checked = _incident_input(
        actor, incident_id, facility_id=facility_id, region_code=region_code, date=date, categories=categories,
        victim_ids=victim_ids, victim_count=victim_count, perpetrator_roles=perpetrator_roles,
        officials=officials, description=description, verification=verification, source_ids=source_ids,
    )  # fmt: skip
    with transaction.atomic():
        incident = Incident.objects.create(id=incident_id, team=team, **checked.columns)
        _incident_codes_set(incident, checked)
        incident.victims.set(checked.victims)
        incident.sources.set(checked.sources)
        _audit(actor, "incident", incident.id, team=team.id)
    return incident


# --- cases ----------------------------------------------------------------------------------------------


def _case_columns(
    case_id: uuid.UUID, *, assignee: User | None, deadline: Date | None, notes: str, status: str
) -> dict[str, object]:
    _code_in("status", CASE_STATUSES, status)
    if deadline is not None and not isinstance(deadline, Date):
        raise ValueError("deadline: must be a date")
    wrapped, sealed = _seal("casework.case", case_id, {"notes": notes})
    return {
        "assignee": assignee, "status": status, "deadline": deadline, "wrapped_key": wrapped,
        "notes_enc": sealed.get("notes"),
    }  # fmt: skip


def case_create(
    *,
    actor: User,
    team: Team,
    person: Person,
    assignee: User | None = None,
    deadline: Date | None = None,
    notes: str = "",
    status: str = "open",
) -> Case:
    _team_for_write(actor, team)
    person = access.person_get_for_user(actor, person.id)
    if assignee is not None and not assignee.is_active:
        raise ValueError("assignee: the account is not active")
    case_id = new_id()
    columns = _case_columns(case_id, assignee=assignee, deadline=deadline, notes=notes, status=status)
    with transaction.atomic():
        case = Case.objects.create(id=case_id, team=team, person=person, **columns)
        _audit(actor, "case", case.id, team=team.id, person=person.id)
    return case


# --- updates --------------------------------------------------------------------------------------------
# Each update replaces every editable field (a form always sends them all), passes the write gate, seals
# free text under a fresh data key and audits "<entity>.update". Owner, person and promise never change:
# moving an object to another team or person is a different act (a share, a linkage) with its own audit.


def source_update(
    *,
    actor: User,
    source: Source,
    kind: str,
    reliability: str = "unknown",
    language: str = "",
    consent: str = "internal_only",
    label: str = "",
    contact: str = "",
) -> Source:
    source = access.source_get_for_user(actor, source.id, write=True)
    columns = _source_columns(
        source.id, kind=kind, reliability=reliability, language=language, consent=consent, label=label,
        contact=contact,
    )  # fmt: skip
    with transaction.atomic():
        _apply(source, columns)
        _audit(actor, "source", source.id, "update")
    return source


def recruitment_update(
    *,
    actor: User,
    recruitment: Recruitment,
    recruiter: str,
    signed: PartialDate | None,
    facility_id: uuid.UUID | None = None,
    legal_status: str = "convicted",
    stated_term_months: int | None = None,
    unit: str = "",
    stated_regime: str = "",
    source_id: uuid.UUID | None = None,
) -> Recruitment:
    recruitment = access.recruitment_get_for_user(actor, recruitment.id, write=True)
    columns = _recruitment_columns(
        actor, recruitment.person, recruiter=recruiter, signed=signed, facility_id=facility_id,
        legal_status=legal_status, stated_term_months=stated_term_months, unit=unit,
        stated_regime=stated_regime, source_id=source_id,
    )  # fmt: skip
    with transaction.atomic():
        _apply(recruitment, columns)
        _audit(actor, "recruitment", recruitment.id, "update")
        ledger_mark_stale(recruitment.person_id)
    return recruitment


def service_event_update(
    *,
    actor: User,
    event: ServiceEvent,
    kind: str,
    date: PartialDate | None,
    recruitment_id: uuid.UUID | None = None,
    discharge_ground: str = "",
    source_id: uuid.UUID | None = None,
) -> ServiceEvent:
    event = access.service_event_get_for_user(actor, event.id, write=True)
    columns = _service_event_columns(
        actor, event.person, kind=kind, date=date, recruitment_id=recruitment_id,
        discharge_ground=discharge_ground, source_id=source_id,
    )  # fmt: skip
    with transaction.atomic():
        _apply(event, columns)
        _audit(actor, "service_event", event.id, "update")
        ledger_mark_stale(event.person_id)
    return event


def visit_update(
    *,
    actor: User,
    visit: RecruitmentVisit,
    facility_id: uuid.UUID,
    recruiter: str,
    date: PartialDate | None,
    source_id: uuid.UUID | None = None,
) -> RecruitmentVisit:
    visit = access.visit_get_for_user(actor, visit.id, write=True)
    columns = _visit_columns(
        actor, facility_id=facility_id, recruiter=recruiter, date=date, source_id=source_id
    )
    with transaction.atomic():
        _apply(visit, columns)
        _audit(actor, "visit", visit.id, "update")
    return visit


def promise_update(
    *,
    actor: User,
    promise: Promise,
    kind: str,
    amount: Decimal | None = None,
    currency: str = "RUB",
    due: PartialDate | None = None,
    condition: str = "",
    promised_by: str = "",
    details: str = "",
    recruitment_id: uuid.UUID | None = None,
    source_id: uuid.UUID | None = None,
) -> Promise:
    promise = access.promise_get_for_user(actor, promise.id, write=True)
    columns = _promise_columns(
        actor, promise.person, promise.id, kind=kind, amount=amount, currency=currency, due=due,
        condition=condition, promised_by=promised_by, details=details, recruitment_id=recruitment_id,
        source_id=source_id,
    )  # fmt: skip
    with transaction.atomic():
        _apply(promise, columns)
        _audit(actor, "promise", promise.id, "update")
        ledger_mark_stale(promise.person_id)
    return promise


def delivery_update(
    *,
    actor: User,
    delivery: Delivery,
    outcome: str,
    amount: Decimal | None = None,
    date: PartialDate | None = None,
    source_id: uuid.UUID | None = None,
) -> Delivery:
    delivery = access.delivery_get_for_user(actor, delivery.id, write=True)
    columns = _delivery_columns(actor, outcome=outcome, amount=amount, date=date, source_id=source_id)
    with transaction.atomic():
        _apply(delivery, columns)
        _audit(actor, "delivery", delivery.id, "update")
        ledger_mark_stale(delivery.promise.person_id)
    return delivery


def _hidden_links(actor: User, incident: Incident) -> tuple[list[Any], list[Any]]:
    # Any: the stubs type .set() as taking objects or int keys; these are UUID keys, which Django accepts.
    """Victims and sources linked to the incident that the actor cannot see: an edit keeps them."""
    visible_persons = access.person_list_for_user(actor).values("id")
    visible_sources = access.source_list_for_user(actor).values("id")
    victims = incident.victims.exclude(id__in=visible_persons).values_list("id", flat=True)
    sources = incident.sources.exclude(id__in=visible_sources).values_list("id", flat=True)
    return list(victims), list(sources)


def incident_update(
    *,
    actor: User,
    incident: Incident,
    facility_id: uuid.UUID | None = None,
    region_code: str | None = None,
    date: PartialDate | None = None,
    categories: Sequence[str],
    victim_ids: Sequence[uuid.UUID] = (),
    victim_count: int | None = None,
    perpetrator_roles: Sequence[str] = (),
    officials: Sequence[str] = (),
    description: str = "",
    verification: str = "unverified",
    source_ids: Sequence[uuid.UUID] = (),
) -> Incident:
    """Victims and sources the actor cannot see stay linked: an editor can only change the links they see."""
    incident = access.incident_get_for_user(actor, incident.id, write=True)
    checked = _incident_input(
        actor, incident.id, facility_id=facility_id, region_code=region_code, date=date, categories=categories,
        victim_ids=victim_ids, victim_count=victim_count, perpetrator_roles=perpetrator_roles,
        officials=officials, description=description, verification=verification, source_ids=source_ids,
    )  # fmt: skip
    hidden_victims, hidden_sources = _hidden_links(actor, incident)
    with transaction.atomic():
        _apply(incident, checked.columns)
        _incident_codes_set(incident, checked)
        incident.victims.set([*(v.id for v in checked.victims), *hidden_victims])
        incident.sources.set([*(s.id for s in checked.sources), *hidden_sources])
        _audit(actor, "incident", incident.id, "update")
    return incident


def case_update(
    *,
    actor: User,
    case: Case,
    assignee: User | None = None,
    deadline: Date | None = None,
    notes: str = "",
    status: str = "open",
) -> Case:
    case = access.case_get_for_user(actor, case.id, write=True)
    if assignee is not None and not assignee.is_active and assignee.id != case.assignee_id:
        raise ValueError("assignee: the account is not active")
    columns = _case_columns(case.id, assignee=assignee, deadline=deadline, notes=notes, status=status)
    with transaction.atomic():
        _apply(case, columns)
        _audit(actor, "case", case.id, "update")
    return case
