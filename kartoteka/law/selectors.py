"""Reads for the ledger: a person's ledger with explanations, the overdue-and-broken queue, aggregates.

Every read starts from the access gates (``access.person_get_for_user`` / ``person_list_for_user``).
Ledger lines carry no identity (codes, dates, amounts, person ids), so analysts may read them; the queue
and the aggregates never decrypt anything.

A stored ``pending`` line whose due day has passed is shown as ``overdue``: the engine would say so if
evaluated today (nothing was recorded, or the line would not be pending), and the queue must not wait for
the nightly recompute to notice it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, Literal

from django.db.models import Case, CharField, Count, F, Q, QuerySet, Value, When
from django.db.models.functions import Cast, ExtractYear
from django.utils import timezone, translation

from kartoteka.accounts import access
from kartoteka.accounts.models import User
from kartoteka.core.pages import Page
from kartoteka.law import explain
from kartoteka.law.engine import LineStatus, evaluate
from kartoteka.law.facts import facts_for_person
from kartoteka.law.models import LedgerLine
from kartoteka.law.services import regimes_current
from kartoteka.people.models import Record

__all__ = [
    "AGGREGATE_BY",
    "AggregateRow",
    "LineView",
    "PersonLedger",
    "QueueItem",
    "QueuePage",
    "ledger_aggregates",
    "ledger_for_person",
    "overdue_queue",
]

QUEUE_STATUSES: Final = (LineStatus.OVERDUE.value, LineStatus.BROKEN.value)
AggregateBy = Literal["promise_kind", "regime", "recruiter", "region", "year"]
AGGREGATE_BY: Final = ("promise_kind", "regime", "recruiter", "region", "year")


@dataclass(frozen=True, slots=True)
class LineView:
    recruitment_id: uuid.UUID | None
    kind: str
    sequence: int
    status: str
    legal_question: bool
    due: str  # EDTF, "" when not yet known
    due_start: date | None
    due_end: date | None
    amount_due: Decimal | None
    amount_delivered: Decimal | None
    amount_missing: Decimal | None
    currency: str
    regime_id: str | None
    regime_version: str | None
    confidence: tuple[str, ...]
    missing_facts: tuple[str, ...]
    promise_ids: tuple[str, ...]
    explanation: str


@dataclass(frozen=True, slots=True)
class PersonLedger:
    person_id: uuid.UUID
    as_of: date
    lang: explain.Lang
    regime_ids: tuple[str | None, ...]  # per recruitment: the regime at signing, None where unsettled
    lines: tuple[LineView, ...]
    computed_at: datetime | None  # when the stored lines were computed; None if never
    stored_current: bool  # do the stored lines (queue, aggregates) say what this evaluation says?


def _lang(lang: str | None) -> explain.Lang:
    code = (lang or translation.get_language() or "ru").lower()
    return "en" if code.startswith("en") else "ru"


def _today() -> date:
    return timezone.now().date()


def _coded(
    recruitment: uuid.UUID | None,
    kind: str,
    seq: int,
    status: str,
    due: str,
    amounts: tuple[Decimal | None, ...],
) -> tuple[object, ...]:
    return (recruitment, kind, seq, status, due, *amounts)


def ledger_for_person(*, user: User, person_id: uuid.UUID | str, lang: str | None = None) -> PersonLedger:
    """The person's ledger evaluated now, each line explained in the user's language (``lang`` or the
    active translation), and whether the stored lines agree with it."""
    person = access.person_get_for_user(user, person_id)
    language = _lang(lang)
    day = _today()
    regimes = regimes_current()
    views: list[LineView] = []
    regime_ids: list[str | None] = []
    for bundle in facts_for_person(person.id):
        ledger = evaluate(bundle.facts, as_of=day, regimes=regimes)
        regime_ids.append(ledger.regime_id)
        for line in ledger.lines:
            due = line.due if line.due is not None and line.due.is_known else None
            first = line.promise_ids[0] if line.promise_ids else None
            views.append(
                LineView(
                    recruitment_id=bundle.recruitment_id,
                    kind=line.kind,
                    sequence=line.sequence,
                    status=line.status.value,
                    legal_question=line.legal_question,
                    due=due.to_edtf() if due is not None else "",
                    due_start=due.earliest() if due is not None else None,
                    due_end=due.latest() if due is not None else None,
                    amount_due=line.amount_due,
                    amount_delivered=line.amount_delivered,
                    amount_missing=line.amount_missing,
                    currency=bundle.currencies.get(first, "RUB") if first else "RUB",
                    regime_id=line.regime_id,
                    regime_version=line.regime_version,
                    confidence=line.confidence,
                    missing_facts=line.missing_facts,
                    promise_ids=line.promise_ids,
                    explanation=line.explanation(language),
                )
            )
    stored = list(
        LedgerLine.objects.filter(person_id=person.id).values_list(
            "recruitment_id", "kind", "seq", "status", "due_edtf", "amount_due", "amount_delivered",
            "amount_missing", "computed_at",
        )
    )  # fmt: skip
    live = Counter(
        _coded(
            v.recruitment_id,
            v.kind,
            v.sequence,
            v.status,
            v.due,
            (v.amount_due, v.amount_delivered, v.amount_missing),
        )
        for v in views
    )
    kept = Counter(_coded(r[0], r[1], r[2], r[3], r[4], (r[5], r[6], r[7])) for r in stored)
    return PersonLedger(
        person_id=person.id,
        as_of=day,
        lang=language,
        regime_ids=tuple(regime_ids),
        lines=tuple(views),
        computed_at=max((r[8] for r in stored), default=None),
        stored_current=live == kept,
    )


# --- the overdue and broken queue ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueItem:
    line_id: uuid.UUID
    person_id: uuid.UUID
    team: str
    kind: str
    sequence: int
    status: str  # overdue or broken
    due: str
    due_end: date | None
    amount_missing: Decimal | None
    currency: str
    regime_id: str


type QueuePage = Page[QueueItem]


def _effective_status(today: date) -> Case:
    return Case(
        When(status=LineStatus.PENDING.value, due_end__lt=today, then=Value(LineStatus.OVERDUE.value)),
        default=F("status"),
        output_field=CharField(),
    )


def _visible_lines(user: User) -> QuerySet[Any]:
    # QuerySet[Any]: the stubs cannot see the ``effective`` annotation through a return type.
    persons = access.person_list_for_user(user).values("id")
    return LedgerLine.objects.filter(person_id__in=persons).annotate(effective=_effective_status(_today()))


def overdue_queue(
    *,
    user: User,
    team: uuid.UUID | str | None = None,
    regime: str | None = None,
    facility: uuid.UUID | str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> QueuePage:
    """Overdue and broken lines of persons the user may see, oldest due first (undated last).

    ``facility``: where the person was recruited (the recruitment's facility) or is recorded as held."""
    if page < 1 or not 1 <= per_page <= 500:
        raise ValueError("page must be ≥ 1 and per_page between 1 and 500")
    qs = _visible_lines(user).filter(effective__in=QUEUE_STATUSES)
    if team is not None:
        qs = qs.filter(person__team_id=team)
    if regime is not None:
        qs = qs.filter(regime_id=regime)
    if facility is not None:
        held = Record.objects.filter(facility_id=facility).values("person_id")
        qs = qs.filter(Q(recruitment__facility_id=facility) | Q(person_id__in=held))
    total = qs.count()
    start = (page - 1) * per_page
    rows = qs.order_by(F("due_end").asc(nulls_last=True), "person_id", "kind", "seq").values_list(
        "id", "person_id", "person__team__name", "kind", "seq", "effective", "due_edtf", "due_end",
        "amount_missing", "currency", "regime_id",
    )[start : start + per_page]  # fmt: skip
    return Page(tuple(QueueItem(*row) for row in rows), page, per_page, total)


# --- aggregates ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AggregateRow:
    key: str  # the code grouped by; "unknown" where the record does not say
    counts: Mapping[str, int]  # status -> lines
    total: int


def _group_expression(by: str) -> F | Cast:
    if by == "promise_kind":
        return F("kind")
    if by == "regime":
        return F("regime_id")
    if by == "recruiter":
        return F("recruitment__recruiter")
    if by == "region":
        return F("person__home_region_id")
    if by == "year":
        return Cast(ExtractYear("due_start"), CharField())
    raise ValueError(f"by: must be one of {', '.join(AGGREGATE_BY)}")


def ledger_aggregates(*, user: User, by: str) -> list[AggregateRow]:
    """Ledger lines counted per status and per ``by`` over the persons the user may see (no identity:
    analysts may call it). ``year`` is the year the line fell due."""
    expression = _group_expression(by)
    rows = (
        _visible_lines(user)
        .annotate(group=expression)
        .values("group", "effective")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[str, Counter[str]] = {}
    for row in rows:
        key = str(row["group"]) if row["group"] not in (None, "") else "unknown"
        counts.setdefault(key, Counter())[str(row["effective"])] += int(row["n"])
    return [AggregateRow(key, dict(c), sum(c.values())) for key, c in sorted(counts.items())]
