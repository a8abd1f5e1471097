"""Reads for the casework room. Every selector starts from a gate's queryset in accounts/access.py and
returns frozen views, never models: a view cannot carry ciphertext or be saved by accident.

Sealed fields are opened in one batched agent call per page, and only for users who see identities;
an analyst's view has None in every sealed field.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from django.db.models import F, Model, QuerySet

from kartoteka.accounts import access
from kartoteka.accounts.models import User
from kartoteka.casework.models import (
    Case,
    Delivery,
    Incident,
    IncidentCategory,
    IncidentPerpetrator,
    RecruitmentVisit,
    Source,
)
from kartoteka.core import sealing
from kartoteka.core.pages import Page

__all__ = [
    "CaseView",
    "DeliveryView",
    "IncidentView",
    "Page",
    "PromiseView",
    "SourceView",
    "VisitView",
    "case_get",
    "case_list",
    "incident_get",
    "incident_list",
    "promise_list",
    "source_get",
    "source_list",
    "visit_list",
]

PER_PAGE_MAX = 200


@dataclass(frozen=True, slots=True)
class SourceView:
    id: uuid.UUID
    team_id: uuid.UUID
    kind: str
    reliability: str
    language: str
    consent: str
    created_at: datetime
    label: str | None  # sealed: None for analysts
    contact: str | None  # sealed: None for analysts


@dataclass(frozen=True, slots=True)
class IncidentView:
    id: uuid.UUID
    team_id: uuid.UUID
    facility_id: uuid.UUID | None
    region_code: str | None
    date_edtf: str
    date_start: date | None
    date_end: date | None
    categories: tuple[str, ...]
    perpetrator_roles: tuple[str, ...]
    victim_count: int | None
    victim_ids: tuple[uuid.UUID, ...]  # only the victims this user may see
    source_ids: tuple[uuid.UUID, ...]  # only the sources this user may see
    verification: str
    description: str | None  # sealed: None for analysts
    officials: tuple[str, ...] | None  # sealed: None for analysts


@dataclass(frozen=True, slots=True)
class VisitView:
    id: uuid.UUID
    team_id: uuid.UUID
    facility_id: uuid.UUID
    recruiter: str
    date_edtf: str
    date_start: date | None
    date_end: date | None
    source_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class CaseView:
    id: uuid.UUID
    team_id: uuid.UUID
    person_id: uuid.UUID
    assignee_id: uuid.UUID | None
    status: str
    deadline: date | None
    notes: str | None  # sealed: None for analysts


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: uuid.UUID
    outcome: str
    amount: Decimal | None
    date_edtf: str
    date_start: date | None
    date_end: date | None
    source_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class PromiseView:
    id: uuid.UUID
    person_id: uuid.UUID
    recruitment_id: uuid.UUID | None
    kind: str
    amount: Decimal | None
    currency: str
    due_edtf: str
    due_start: date | None
    due_end: date | None
    condition: str
    promised_by: str
    source_id: uuid.UUID | None
    deliveries: tuple[DeliveryView, ...]
    delivered_amount: Decimal  # sum of the deliveries' stated amounts, in the promise's currency
    details: str | None  # sealed: None for analysts


# --- helpers --------------------------------------------------------------------------------------------


class _SealedRow(Protocol):
    id: uuid.UUID
    wrapped_key: bytes | memoryview


def _opened[R: _SealedRow](
    user: User, table: str, rows: Sequence[R], columns: Sequence[str]
) -> list[dict[str, str] | None]:
    """Each row's sealed fields as text (absent when empty), or None for a user without identity rights."""
    if not rows or not access.sees_identities(user):
        return [None] * len(rows)
    batch = [
        (str(row.id), bytes(row.wrapped_key), {c: getattr(row, f"{c}_enc") for c in columns}) for row in rows
    ]
    opened: list[dict[str, str] | None] = list(sealing.rows_open(table, batch))
    return opened


def _field(opened: dict[str, str] | None, name: str) -> str | None:
    return None if opened is None else opened.get(name, "")


def _paginate[M: Model, T](
    qs: QuerySet[M], page: int, per_page: int, build: Callable[[list[M]], list[T]]
) -> Page[T]:
    if page < 1 or not 1 <= per_page <= PER_PAGE_MAX:
        raise ValueError(f"page must be ≥ 1 and per_page between 1 and {PER_PAGE_MAX}")
    total = qs.count()
    start = (page - 1) * per_page
    rows = list(qs[start : start + per_page])
    return Page(items=tuple(build(rows)), page=page, per_page=per_page, total=total)


# --- sources --------------------------------------------------------------------------------------------


def source_views(*, user: User, rows: list[Source]) -> list[SourceView]:
    """Views of ``rows``, in their order, for ``user``. The rows must already have come through the gate
    (:func:`access.source_list_for_user`): this does not ask it again. Sealed fields are opened, in one
    batch, only for a user with identity rights."""
    opened = _opened(user, "casework.source", rows, ("label", "contact"))
    return [
        SourceView(
            id=s.id,
            team_id=s.team_id,
            kind=s.kind,
            reliability=s.reliability,
            language=s.language,
            consent=s.consent,
            created_at=s.created_at,
            label=_field(o, "label"),
            contact=_field(o, "contact"),
        )
        for s, o in zip(rows, opened, strict=True)
    ]


def source_get(*, user: User, id: uuid.UUID | str) -> SourceView:
    return source_views(user=user, rows=[access.source_get_for_user(user, id)])[0]


def source_list(
    *, user: User, kind: str | None = None, page: int = 1, per_page: int = 50
) -> Page[SourceView]:
    qs = access.source_list_for_user(user)
    if kind is not None:
        qs = qs.filter(kind=kind)
    return _paginate(
        qs.order_by("-created_at", "id"), page, per_page, lambda rows: source_views(user=user, rows=rows)
    )


# --- incidents ------------------------------------------------------------------------------------------


def incident_views(*, user: User, rows: list[Incident]) -> list[IncidentView]:
    """Views of ``rows``, in their order, for ``user``. The rows must already have come through the gate
    (:func:`access.incident_list_for_user`): this does not ask it again. Sealed fields are opened, in one
    batch, only for a user with identity rights."""
    opened = _opened(user, "casework.incident", rows, ("description", "officials"))
    ids = [i.id for i in rows]
    categories: dict[uuid.UUID, list[str]] = {i: [] for i in ids}
    roles: dict[uuid.UUID, list[str]] = {i: [] for i in ids}
    victims: dict[uuid.UUID, list[uuid.UUID]] = {i: [] for i in ids}
    sources: dict[uuid.UUID, list[uuid.UUID]] = {i: [] for i in ids}
    for incident_id, code in IncidentCategory.objects.filter(incident_id__in=ids).values_list(
        "incident_id", "code"
    ):
        categories[incident_id].append(code)
    for incident_id, role in IncidentPerpetrator.objects.filter(incident_id__in=ids).values_list(
        "incident_id", "role"
    ):
        roles[incident_id].append(role)
    # Linked persons and sources are listed only when this user may open them: a link is no share.
    visible_persons = access.person_list_for_user(user).values("id")
    for incident_id, person_id in Incident.victims.through.objects.filter(
        incident_id__in=ids, person_id__in=visible_persons
    ).values_list("incident_id", "person_id"):
        victims[incident_id].append(person_id)
    visible_sources = access.source_list_for_user(user).values("id")
    for incident_id, source_id in Incident.sources.through.objects.filter(
        incident_id__in=ids, source_id__in=visible_sources
    ).values_list("incident_id", "source_id"):
        sources[incident_id].append(source_id)
    views = []
    for row, o in zip(rows, opened, strict=True):
        officials = None if o is None else tuple(sealing.json_list(o.get("officials")))
        views.append(
            IncidentView(
                id=row.id,
                team_id=row.team_id,
                facility_id=row.facility_id,
                region_code=row.region_id,
                date_edtf=row.date_edtf,
                date_start=row.date_start,
                date_end=row.date_end,
                categories=tuple(sorted(categories[row.id])),
                perpetrator_roles=tuple(sorted(roles[row.id])),
                victim_count=row.victim_count,
                victim_ids=tuple(sorted(victims[row.id])),
                source_ids=tuple(sorted(sources[row.id])),
                verification=row.verification,
                description=_field(o, "description"),
                officials=officials,
            )
        )
    return views


def incident_get(*, user: User, id: uuid.UUID | str) -> IncidentView:
    return incident_views(user=user, rows=[access.incident_get_for_user(user, id)])[0]


def incident_list(
    *,
    user: User,
    facility: uuid.UUID | str | None = None,
    region: str | None = None,
    category: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    verification: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[IncidentView]:
    """Incidents the user may see. A date range keeps incidents whose partial date could fall inside it
    (their interval overlaps the range); an incident with an unknown date is left out of any range."""
    qs = access.incident_list_for_user(user)
    if facility is not None:
        qs = qs.filter(facility_id=facility)
    if region is not None:
        qs = qs.filter(region_id=region)
    if category is not None:
        qs = qs.filter(id__in=IncidentCategory.objects.filter(code=category).values("incident_id"))
    if date_from is not None:
        qs = qs.filter(date_end__gte=date_from)
    if date_to is not None:
        qs = qs.filter(date_start__lte=date_to)
    if verification is not None:
        qs = qs.filter(verification=verification)
    ordered = qs.order_by(F("date_start").desc(nulls_last=True), "-created_at", "id")
    return _paginate(ordered, page, per_page, lambda rows: incident_views(user=user, rows=rows))


# --- visits ---------------------------------------------------------------------------------------------


def _visit_view(v: RecruitmentVisit) -> VisitView:
    return VisitView(
        id=v.id,
        team_id=v.team_id,
        facility_id=v.facility_id,
        recruiter=v.recruiter,
        date_edtf=v.date_edtf,
        date_start=v.date_start,
        date_end=v.date_end,
        source_id=v.source_id,
    )


def visit_list(
    *, user: User, facility: uuid.UUID | str | None = None, page: int = 1, per_page: int = 50
) -> Page[VisitView]:
    qs = access.visit_list_for_user(user)
    if facility is not None:
        qs = qs.filter(facility_id=facility)
    ordered = qs.order_by(F("date_start").desc(nulls_last=True), "id")
    return _paginate(ordered, page, per_page, lambda rows: [_visit_view(v) for v in rows])


# --- cases ----------------------------------------------------------------------------------------------


def case_views(*, user: User, rows: list[Case]) -> list[CaseView]:
    """Views of ``rows``, in their order, for ``user``. The rows must already have come through the gate
    (:func:`access.case_list_for_user`): this does not ask it again. Sealed fields are opened, in one
    batch, only for a user with identity rights."""
    opened = _opened(user, "casework.case", rows, ("notes",))
    return [
        CaseView(
            id=c.id,
            team_id=c.team_id,
            person_id=c.person_id,
            assignee_id=c.assignee_id,
            status=c.status,
            deadline=c.deadline,
            notes=_field(o, "notes"),
        )
        for c, o in zip(rows, opened, strict=True)
    ]


def case_get(*, user: User, id: uuid.UUID | str) -> CaseView:
    return case_views(user=user, rows=[access.case_get_for_user(user, id)])[0]


def case_list(
    *, user: User, include_closed: bool = False, page: int = 1, per_page: int = 50
) -> Page[CaseView]:
    """The user's own cases (assigned to them and visible through the gate), nearest deadline first."""
    qs = access.case_list_for_user(user).filter(assignee=user)
    if not include_closed:
        qs = qs.exclude(status="closed")
    ordered = qs.order_by(F("deadline").asc(nulls_last=True), "created_at", "id")
    return _paginate(ordered, page, per_page, lambda rows: case_views(user=user, rows=rows))


# --- promises and deliveries ----------------------------------------------------------------------------


def _delivery_view(d: Delivery) -> DeliveryView:
    return DeliveryView(
        id=d.id,
        outcome=d.outcome,
        amount=d.amount,
        date_edtf=d.date_edtf,
        date_start=d.date_start,
        date_end=d.date_end,
        source_id=d.source_id,
    )


def promise_list(*, user: User, person_id: uuid.UUID | str) -> list[PromiseView]:
    """The promise ↔ delivery table of one person's page: each promise with its deliveries and the sum
    of the amounts delivered. NotFound when the person is not visible to the user."""
    person = access.person_get_for_user(user, person_id)
    promises = list(
        access.promise_list_for_user(user)
        .filter(person=person)
        .order_by(F("due_start").asc(nulls_last=True), "id")
    )
    deliveries: dict[uuid.UUID, list[DeliveryView]] = {p.id: [] for p in promises}
    for d in Delivery.objects.filter(promise__in=promises).order_by(
        F("date_start").asc(nulls_last=True), "id"
    ):
        deliveries[d.promise_id].append(_delivery_view(d))
    opened = _opened(user, "casework.promise", promises, ("details",))
    return [
        PromiseView(
            id=p.id,
            person_id=p.person_id,
            recruitment_id=p.recruitment_id,
            kind=p.kind,
            amount=p.amount,
            currency=p.currency,
            due_edtf=p.due_edtf,
            due_start=p.due_start,
            due_end=p.due_end,
            condition=p.condition,
            promised_by=p.promised_by,
            source_id=p.source_id,
            deliveries=tuple(deliveries[p.id]),
            delivered_amount=sum(
                (d.amount for d in deliveries[p.id] if d.amount is not None), start=Decimal("0.00")
            ),
            details=_field(o, "details"),
        )
        for p, o in zip(promises, opened, strict=True)
    ]
