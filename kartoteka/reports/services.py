"""Writes for the reports room: rebuilding the dashboard's summary tables, and the four-eyes publication
of a report (request by one staff member, approval by another, both in the audit chain).

The summaries are derived data, rebuilt wholesale in one transaction (a few seconds at a million
incidents). They are fresh when the audit chain's head has not moved since the last build (every write in
Kartoteka appends to the chain), so a page can tell stale from fresh with one indexed read. Small
installations rebuild inline on the next page view; large ones through the worker
(:func:`summaries_refresh_enqueue`, or ``kartoteka report refresh`` from cron).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import connection, models, transaction
from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncMonth, TruncWeek
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone

from kartoteka.accounts.models import Role, User
from kartoteka.audit.services import entry_append
from kartoteka.casework.models import Incident, IncidentCategory, Recruitment, RecruitmentVisit
from kartoteka.law.models import LedgerLine
from kartoteka.law.services import regimes_current
from kartoteka.lib import audit, crypto, disclosure
from kartoteka.people.models import Person
from kartoteka.reports.models import (
    ALL,
    IncidentCube,
    IncidentRollup,
    IncidentWeek,
    LedgerCube,
    LedgerMid,
    LedgerRollup,
    PersonCube,
    RecruitmentCube,
    RecruitmentRollup,
    ReportRequest,
    SummaryState,
    VisitWindow,
)

# Below this many incidents + persons a stale summary is rebuilt inline by the page that finds it stale.
INLINE_REFRESH_LIMIT = 50_000
APPROVERS = frozenset({Role.ADMIN, Role.COORDINATOR})
REQUESTERS = frozenset({Role.ADMIN, Role.COORDINATOR, Role.CASEWORKER, Role.ANALYST})


def audit_seq() -> int:
    head = audit.head_read(connection)
    return 0 if head is None else head.seq


class MonthStart(TruncMonth):
    """TruncMonth of a date; on SQLite in SQL's own date function rather than Django's, which is a Python
    function called per row (220 s of a million-incident rebuild)."""

    def as_sqlite(self, compiler: SQLCompiler, connection: Any, **extra: Any) -> tuple[str, Any]:
        sql, params = compiler.compile(self.lhs)
        return f"date({sql}, 'start of month')", params


class WeekStart(TruncWeek):
    """TruncWeek (the Monday) of a date; on SQLite in SQL: the next Sunday (or the day itself), less 6 days."""

    def as_sqlite(self, compiler: SQLCompiler, connection: Any, **extra: Any) -> tuple[str, Any]:
        sql, params = compiler.compile(self.lhs)
        return f"date({sql}, 'weekday 0', '-6 days')", params


def _insert_select(model: type[models.Model], qs: QuerySet[Any]) -> int:
    """INSERT INTO <summary> SELECT <the grouped query>: the counting happens inside the database, nothing
    travels through Python. ``qs`` is a values() queryset whose columns are the model's, in the same order
    (values() keeps the order it is given), ending with the count ``n``."""
    columns = [str(f.column) for f in model._meta.concrete_fields if not f.primary_key]
    sql, params = qs.query.sql_with_params()
    table = model._meta.db_table
    with connection.cursor() as cur:
        cur.execute(f"INSERT INTO {table} ({', '.join(columns)}) {sql}", params)
        return max(int(cur.rowcount), 0)


def _coded(qs: QuerySet[Any], names: dict[str, Any], n: Any) -> QuerySet[Any]:
    # Names prefixed so they never clash with a source model's own fields; values() order = column order.
    annotated = qs.annotate(**{f"k_{k}": v for k, v in names.items()})
    grouped: QuerySet[Any] = annotated.values(*(f"k_{k}" for k in names)).annotate(k_n=n).order_by()
    return grouped


def _incident_totals() -> QuerySet[Any]:
    return _coded(
        Incident.objects.all(),
        {
            "month": MonthStart("date_start"),
            "region": Coalesce(F("region_id"), F("facility__region_id"), Value("")),
            "facility": F("facility_id"),
            "facility_type": Coalesce(F("facility__type"), Value("")),
            "category": Value(ALL),
            "verification": F("verification"),
            "team": F("team_id"),
        },
        Count("id"),
    )


def _incident_categories() -> QuerySet[Any]:
    return _coded(
        IncidentCategory.objects.all(),
        {
            "month": MonthStart("incident__date_start"),
            "region": Coalesce(F("incident__region_id"), F("incident__facility__region_id"), Value("")),
            "facility": F("incident__facility_id"),
            "facility_type": Coalesce(F("incident__facility__type"), Value("")),
            "category": F("code"),
            "verification": F("incident__verification"),
            "team": F("incident__team_id"),
        },
        Count("incident_id"),
    )


def _weeks() -> QuerySet[Any]:
    return _coded(
        Incident.objects.filter(facility_id__isnull=False, date_start__isnull=False),
        {"facility": F("facility_id"), "week": WeekStart("date_start")},
        Count("id"),
    )


def _recruitments() -> QuerySet[Any]:
    recruitment_regimes = [r.id for r in regimes_current().recruitment]
    regime = LedgerLine.objects.filter(recruitment_id=OuterRef("pk"), regime_id__in=recruitment_regimes)
    return _coded(
        Recruitment.objects.all(),
        {
            "month": MonthStart("signed_start"),
            "recruiter": F("recruiter"),
            "regime": Coalesce(Subquery(regime.order_by("regime_id").values("regime_id")[:1]), Value("")),
            "region": Coalesce(F("facility__region_id"), Value("")),
            "facility_type": Coalesce(F("facility__type"), Value("")),
            "team": F("person__team_id"),
        },
        Count("id"),
    )


def _ledger(today: date) -> QuerySet[Any]:
    effective = models.Case(
        models.When(status="pending", due_end__lt=today, then=Value("overdue")),
        default=F("status"),
        output_field=models.CharField(),
    )
    return _coded(
        LedgerLine.objects.all(),
        {
            "kind": F("kind"),
            "regime": F("regime_id"),
            "due_month": MonthStart("due_start"),
            "status": effective,
            "recruiter": Coalesce(F("recruitment__recruiter"), Value("")),
            "region": Coalesce(F("recruitment__facility__region_id"), Value("")),
            "facility_type": Coalesce(F("recruitment__facility__type"), Value("")),
            "team": F("person__team_id"),
        },
        Count("id"),
    )


def _persons() -> QuerySet[Any]:
    return _coded(
        Person.objects.all(),
        {"status": F("status"), "region": Coalesce(F("home_region_id"), Value("")), "team": F("team_id")},
        Count("id"),
    )


def _visit_windows() -> int:
    """VisitWindow from the fresh IncidentWeek: per visit, incidents at its facility in each week from
    WEEKS before the visit's week to WEEKS - 1 after (week ordinals of Mondays: integer arithmetic)."""
    from kartoteka.reports.selectors import WEEKS

    weekly: dict[uuid.UUID, dict[int, int]] = {}
    for fac, week, n in IncidentWeek.objects.values_list("facility", "week", "n").iterator(chunk_size=20_000):
        weekly.setdefault(fac, {})[week.toordinal()] = n
    visits = RecruitmentVisit.objects.filter(date_start__isnull=False).values_list(
        "id", "facility_id", "date_start", "facility__region_id", "facility__type", "recruiter"
    )
    uid = VisitWindow._meta.get_field("visit")
    rows: list[tuple[Any, ...]] = []
    for visit, fac, day, region, ftype, recruiter in visits.iterator(chunk_size=5_000):
        counts = weekly.get(fac)
        if not counts:
            continue
        week0 = day.toordinal() - day.weekday()
        ids = (uid.get_db_prep_value(visit, connection), uid.get_db_prep_value(fac, connection))
        for k in range(-WEEKS, WEEKS):
            n = counts.get(week0 + 7 * k, 0)
            if n:
                rows.append((*ids, day, region or "", ftype or "", recruiter, k, n))
    # Plain tuples through executemany: model instances cost seconds at 50,000 rows.
    columns = ("visit", "facility", "visit_date", "region", "facility_type", "recruiter", "week_offset", "n")
    marks = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {VisitWindow._meta.db_table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608 our names
    with connection.cursor() as cur:
        cur.executemany(sql, rows)
    return len(rows)


def _rollup(source: type[models.Model], keep: tuple[str, ...]) -> QuerySet[Any]:
    """A smaller table: a fresh cube summed over the dimensions not in ``keep``."""
    return _coded(source._default_manager.all(), {k: F(k) for k in keep}, Sum("n"))


@dataclass(frozen=True, slots=True)
class RefreshResult:
    rows: int
    seconds: float
    audit_seq: int
    per_table: dict[str, float] = field(default_factory=dict)


def summaries_refresh(*, today: date | None = None) -> RefreshResult:
    """Rebuild every summary table from the source tables, in one transaction (readers see old or new).

    Not audited: it changes no fact, only derived counts (like the ledger's stored lines it can always be
    rebuilt from the chain-covered tables)."""
    started = time.perf_counter()
    day = today or timezone.now().date()
    with transaction.atomic():
        seq = audit_seq()
        total = 0
        per_table: dict[str, float] = {}
        steps: tuple[tuple[type[models.Model], Callable[[], QuerySet[Any]]], ...] = (
            (IncidentCube, _incident_totals),
            (IncidentCube, _incident_categories),
            (
                IncidentRollup,
                lambda: _rollup(IncidentCube, ("month", "facility_type", "category", "verification", "team")),
            ),
            (IncidentWeek, _weeks),
            (RecruitmentCube, _recruitments),
            (
                RecruitmentRollup,
                lambda: _rollup(RecruitmentCube, ("month", "recruiter", "regime", "facility_type", "team")),
            ),
            (LedgerCube, lambda: _ledger(day)),
            (
                LedgerMid,
                lambda: _rollup(
                    LedgerCube,
                    ("kind", "regime", "due_month", "status", "recruiter", "facility_type", "team"),
                ),
            ),
            (LedgerRollup, lambda: _rollup(LedgerMid, ("kind", "regime", "due_month", "status", "team"))),
            (PersonCube, _persons),
        )
        tables: list[type[models.Model]] = [*dict.fromkeys(m for m, _q in steps), VisitWindow]
        for model in tables:
            model._default_manager.all().delete()
        for model, query in steps:
            t0 = time.perf_counter()
            total += _insert_select(model, query())
            per_table[model.__name__] = per_table.get(model.__name__, 0.0) + time.perf_counter() - t0
        t0 = time.perf_counter()
        total += _visit_windows()
        per_table[VisitWindow.__name__] = time.perf_counter() - t0
        seconds = time.perf_counter() - started
        SummaryState.objects.update_or_create(
            id=1,
            defaults={
                "built_at": timezone.now(), "built_on": day, "dirty": False, "seconds": seconds, "audit_seq": seq,
                "size": _size(), "queued": False,
            },
        )  # fmt: skip
    return RefreshResult(total, seconds, seq, per_table)


def summaries_fresh() -> bool:
    state = SummaryState.objects.filter(id=1).first()
    return (
        state is not None
        and not state.dirty
        and state.audit_seq == audit_seq()
        and state.built_on == timezone.now().date()  # overdue is judged per day
    )


def summaries_ensure(*, inline_limit: int = INLINE_REFRESH_LIMIT) -> bool:
    """Make the summaries fresh if that is cheap; otherwise ask the worker. True when they are fresh."""
    if summaries_fresh():
        return True
    state = SummaryState.objects.filter(id=1).first()
    size = Incident.objects.count() + Person.objects.count() if state is None else state.size
    if size <= inline_limit:
        summaries_refresh()
        return True
    summaries_refresh_enqueue()
    return False


def _size() -> int:
    """Incidents + persons as the fresh cubes count them (cheaper than counting the source tables)."""
    incidents = IncidentCube.objects.filter(category=ALL).aggregate(s=models.Sum("n"))["s"] or 0
    persons = PersonCube.objects.aggregate(s=models.Sum("n"))["s"] or 0
    return int(incidents) + int(persons)


def summaries_refresh_enqueue() -> None:
    """Ask the worker for a rebuild, at most once until that rebuild has run."""
    from kartoteka.reports.tasks import summaries_refresh_task

    with transaction.atomic():
        state, _created = SummaryState.objects.select_for_update().get_or_create(id=1)
        if state.queued:
            return
        state.queued = True
        state.save(update_fields=["queued"])
        transaction.on_commit(lambda: summaries_refresh_task.enqueue())


def summaries_mark_dirty() -> None:
    SummaryState.objects.filter(id=1).update(dirty=True)


# --- publication: request, then approval by someone else --------------------------------------------------


def _period_check(period_from: str, period_to: str) -> tuple[str, str]:
    try:
        quarters = disclosure.quarters_between(period_from, period_to)
    except ValueError as exc:
        raise ValueError(f"period: {exc}") from exc
    if not quarters:
        raise ValueError("period: the first quarter must not come after the last")
    return quarters[0], quarters[-1]


def report_request(*, actor: User, period_from: str, period_to: str, lang: str) -> ReportRequest:
    """Ask for a report to be published; someone else must approve it (:func:`report_approve`)."""
    if not actor.is_active or actor.role not in REQUESTERS:
        raise PermissionDenied("your role may not request publication")
    if lang not in ("ru", "en"):
        raise ValueError("lang: must be ru or en")
    first, last = _period_check(period_from, period_to)
    with transaction.atomic():
        req = ReportRequest.objects.create(period_from=first, period_to=last, lang=lang, requested_by=actor)
        entry_append(
            actor=str(actor.id), action="report.request", object_type="report", object_id=str(req.id),
            details={"from": first.lower(), "to": last.lower(), "lang": lang},
        )  # fmt: skip
    return req


def report_decide(*, actor: User, request_id: uuid.UUID | str, approve: bool) -> ReportRequest:
    """Approve (render the PDF from today's data and keep it) or reject a publication request.

    The approver must be an admin or coordinator other than the requester: four eyes, never two of one."""
    from kartoteka.reports.pdf import report_pdf

    if not actor.is_active or actor.role not in APPROVERS:
        raise PermissionDenied("only an admin or a coordinator may approve publication")
    with transaction.atomic():
        req = ReportRequest.objects.select_for_update().filter(id=request_id).first()
        if req is None:
            raise ValueError("request: no such publication request")
        if req.status != ReportRequest.Status.REQUESTED:
            raise ValueError("request: already decided")
        if req.requested_by_id == actor.id:
            raise PermissionDenied("a second staff member must approve: you made this request")
        details: dict[str, audit.Code] = {
            "from": req.period_from.lower(), "to": req.period_to.lower(), "lang": req.lang,
        }  # fmt: skip
        if approve:
            pdf = report_pdf(period_from=req.period_from, period_to=req.period_to, lang=req.lang)
            req.pdf = pdf
            req.pdf_sha256 = crypto.digest(pdf).hex()
            details["digest"] = req.pdf_sha256
        req.status = ReportRequest.Status.APPROVED if approve else ReportRequest.Status.REJECTED
        req.decided_by = actor
        req.decided_at = timezone.now()
        req.save()
        entry_append(
            actor=str(actor.id),
            action="report.approve" if approve else "report.reject",
            object_type="report",
            object_id=str(req.id),
            details=details,
        )
    return req
