"""Reads for the dashboard: aggregates only, never an identity, from the summary tables.

Totals cover the whole installation (an organisation publishes what all its teams documented); each
section also says how much of its count the viewer may open, using the access gates: rows owned by the
viewer's readable teams come from the summaries' team column, objects shared with the viewer outside
those teams are counted through the gate itself (few, by construction of sharing).

Filters are whole months: an incident counts in the month its (possibly partial) date starts in.

Who is counting is always said: a :class:`User` sees what the gates let them open; :data:`WHOLE_INSTALLATION`,
passed by name on the system paths (the worker's pre-draw, the published report), sees every count whole;
``None`` (no viewer) sees nothing. A count is never whole because a caller left the viewer out.
"""

from __future__ import annotations

import enum
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Final

from django.db import models
from django.db.models import Q, QuerySet, Sum

from kartoteka.accounts import access
from kartoteka.accounts.models import Share, User
from kartoteka.casework.models import Case, IncidentCategory, RecruitmentVisit
from kartoteka.law.models import LedgerLine
from kartoteka.people.models import Person
from kartoteka.reports.models import (
    ALL,
    IncidentCube,
    IncidentRollup,
    LedgerCube,
    LedgerMid,
    LedgerRollup,
    PersonCube,
    RecruitmentCube,
    RecruitmentRollup,
    VisitWindow,
)

TOP_N = 10
WEEKS = 8  # weeks before and after a recruitment visit
LEDGER_ORDER = (
    "kept", "partly_kept", "broken", "overdue", "beyond_the_law", "pending", "not_applicable", "unknown",
)  # fmt: skip


class Whole(enum.Enum):
    """The viewer of the system paths that publish or pre-draw for everyone: every count whole."""

    INSTALLATION = "installation"


WHOLE_INSTALLATION: Final = Whole.INSTALLATION

# Who counts: a signed-in user (what the gates let them open), the whole installation (named on purpose), or
# None, no viewer, to whom nothing is visible. None is accepted, rather than refused, because callers that read
# only totals and figures pass it.
type Viewer = User | Whole | None


@dataclass(frozen=True, slots=True)
class Filters:
    date_from: date | None = None  # any day of the first month
    date_to: date | None = None  # any day of the last month (inclusive)
    region: str | None = None
    facility_type: str | None = None
    recruiter: str | None = None
    category: str | None = None
    verification: str | None = None

    @property
    def month_from(self) -> date | None:
        return None if self.date_from is None else self.date_from.replace(day=1)

    @property
    def month_to(self) -> date | None:
        return None if self.date_to is None else self.date_to.replace(day=1)

    @property
    def day_after(self) -> date | None:
        """The first day after the last month: the exclusive end of the range."""
        if self.date_to is None:
            return None
        first = self.date_to.replace(day=1)
        return (first + timedelta(days=32)).replace(day=1)


@dataclass(frozen=True, slots=True)
class Count:
    total: int
    visible: int

    @property
    def partial(self) -> bool:
        return self.visible < self.total


@dataclass(frozen=True, slots=True)
class VisitRow:
    facility: uuid.UUID
    visits: int
    before: int  # incidents in the WEEKS weeks before its visits, summed over its visits
    after: int  # incidents in the visit's week and the WEEKS - 1 after


@dataclass(frozen=True, slots=True)
class VisitFigures:
    visits: Count
    per_facility: tuple[VisitRow, ...]
    by_offset: tuple[tuple[int, int], ...]  # week relative to the visit (-WEEKS..WEEKS-1) -> incidents

    @property
    def before(self) -> int:
        return sum(n for k, n in self.by_offset if k < 0)

    @property
    def after(self) -> int:
        return sum(n for k, n in self.by_offset if k >= 0)


@dataclass(frozen=True, slots=True)
class Dashboard:
    filters: Filters
    incidents: Count
    incidents_by_month: tuple[tuple[date, str, int], ...]  # month, category, incidents
    incidents_by_region: tuple[tuple[str, int], ...]  # every region with incidents, most first
    incidents_by_facility: tuple[tuple[uuid.UUID, int], ...]  # top N
    verification_mix: tuple[tuple[str, int], ...]
    recruitments: Count
    recruitment_by_wave: tuple[tuple[str, str, int], ...]  # quarter signed, recruiter, recruitments
    recruitment_by_recruiter: tuple[tuple[str, int], ...]
    recruitment_by_regime: tuple[tuple[str, int], ...]
    ledger: Count
    ledger_by: Mapping[str, tuple[tuple[str, Mapping[str, int]], ...]]  # kind|regime|year -> rows
    persons: Count
    persons_by_status: tuple[tuple[str, int], ...]
    visits: VisitFigures
    undated_incidents: int = 0
    timings: dict[str, float] = field(default_factory=dict, compare=False)


def _readable_teams(viewer: Viewer) -> list[uuid.UUID]:
    # The gate's own notion of "teams whose objects this user reads" (membership and live break-glass), so
    # the visible counts can never disagree with what the lists show.
    if not isinstance(viewer, User) or not viewer.is_active or not viewer.is_authenticated:
        return []
    return access.readable_team_ids(viewer, write=False)


def _counted(viewer: Viewer, total: int, visible_to: Callable[[User], int]) -> Count:
    """``total`` with the part ``viewer`` may open: all of it only for the whole installation, asked for by
    name; none of it without a user (fails closed); otherwise what ``visible_to`` finds for the user."""
    if viewer is WHOLE_INSTALLATION:
        return Count(total, total)
    if not isinstance(viewer, User):
        return Count(total, 0)
    return Count(total, visible_to(viewer))


def _sum(qs: QuerySet[Any]) -> int:
    return int(qs.aggregate(s=Sum("n"))["s"] or 0)


def _by_team(qs: QuerySet[Any], teams: list[uuid.UUID]) -> tuple[int, int]:
    """(total, the part owned by ``teams``) in one grouped query."""
    rows = qs.values("team").annotate(s=Sum("n")).order_by().values_list("team", "s")
    mine = set(teams)
    total = visible = 0
    for team, n in rows:
        total += int(n)
        visible += int(n) if team in mine else 0
    return total, visible


def _months(qs: QuerySet[Any], f: Filters, column: str = "month") -> QuerySet[Any]:
    if f.month_from is not None:
        qs = qs.filter(**{f"{column}__gte": f.month_from})
    if f.month_to is not None:
        qs = qs.filter(**{f"{column}__lte": f.month_to})
    return qs


def _where(qs: QuerySet[Any], f: Filters, *, region: bool = True, ftype: bool = True) -> QuerySet[Any]:
    if region and f.region:
        qs = qs.filter(region=f.region)
    if ftype and f.facility_type:
        qs = qs.filter(facility_type=f.facility_type)
    return qs


# --- incidents ------------------------------------------------------------------------------------------


def _incident_cube(f: Filters, *, category: str | None, facility: bool = False) -> QuerySet[Any]:
    """The smallest summary that can answer: the rollup unless a region or a facility is asked for."""
    table: Any = IncidentCube if (f.region or facility) else IncidentRollup
    qs = _where(_months(table.objects.all(), f), f).filter(category=category or ALL)
    if f.verification:
        qs = qs.filter(verification=f.verification)
    return qs


def _shared_incidents(user: User, teams: list[uuid.UUID], f: Filters) -> int:
    """Incidents shared with the user outside their teams and matching the filters (the gate decides)."""
    # Only shared incidents can be visible outside the user's teams; listing them first spares the
    # database the gate's OR over every incident.
    shared = list(Share.objects.filter(object_type="incident").values_list("object_id", flat=True))
    if not shared:
        return 0
    qs = access.incident_list_for_user(user).filter(id__in=shared).exclude(team_id__in=teams)
    if f.month_from is not None:
        qs = qs.filter(date_start__gte=f.month_from)
    if f.day_after is not None:
        qs = qs.filter(date_start__lt=f.day_after)
    if f.region:
        qs = qs.filter(Q(region_id=f.region) | Q(region_id__isnull=True, facility__region_id=f.region))
    if f.facility_type:
        qs = qs.filter(facility__type=f.facility_type)
    if f.category:
        qs = qs.filter(id__in=IncidentCategory.objects.filter(code=f.category).values("incident_id"))
    if f.verification:
        qs = qs.filter(verification=f.verification)
    return qs.count()


def incident_count(viewer: Viewer, f: Filters) -> Count:
    teams = _readable_teams(viewer)
    total, own = _by_team(_incident_cube(f, category=f.category), teams)
    return _counted(viewer, total, lambda user: own + _shared_incidents(user, teams, f))


def incidents_by_month(f: Filters) -> tuple[tuple[date, str, int], ...]:
    table: Any = IncidentCube if f.region else IncidentRollup
    qs = _months(table.objects.exclude(category=ALL).filter(month__isnull=False), f)
    qs = _where(qs, f)
    if f.category:
        qs = qs.filter(category=f.category)
    if f.verification:
        qs = qs.filter(verification=f.verification)
    rows = qs.values("month", "category").annotate(s=Sum("n")).order_by("month", "category")
    return tuple((r["month"], r["category"], int(r["s"])) for r in rows)


def incidents_undated(f: Filters) -> int:
    if f.month_from is not None or f.month_to is not None:
        return 0
    return _sum(_incident_cube(f, category=f.category).filter(month__isnull=True))


def _grouped(qs: QuerySet[Any], column: str) -> tuple[tuple[Any, int], ...]:
    rows = qs.values(column).annotate(s=Sum("n")).order_by("-s", column)
    return tuple((r[column], int(r["s"])) for r in rows)


def incidents_by_region(f: Filters) -> tuple[tuple[str, int], ...]:
    return _grouped(_incident_cube(f, category=f.category, facility=True), "region")


def incidents_by_facility(f: Filters, *, top: int = TOP_N) -> tuple[tuple[uuid.UUID, int], ...]:
    qs = _incident_cube(f, category=f.category, facility=True).filter(facility__isnull=False)
    return _grouped(qs, "facility")[:top]


def verification_mix(f: Filters) -> tuple[tuple[str, int], ...]:
    return _grouped(_incident_cube(f, category=f.category), "verification")


# --- recruitment ----------------------------------------------------------------------------------------


def _recruitment_cube(f: Filters) -> QuerySet[Any]:
    table: Any = RecruitmentCube if f.region else RecruitmentRollup
    qs = _where(_months(table.objects.all(), f), f)
    if f.recruiter:
        qs = qs.filter(recruiter=f.recruiter)
    return qs


def _shared_persons(user: User, teams: list[uuid.UUID]) -> list[uuid.UUID]:
    """Persons visible to the user outside their teams: only persons shared with them, or whose case is
    shared with them, can pass the gate, so those few candidates are listed first and the gate is asked
    about them alone (the gate's OR over 200,000 persons would otherwise cost a full scan per count)."""
    shared = Share.objects.filter(object_type="person").values_list("object_id", flat=True)
    cases = Share.objects.filter(object_type="case").values("object_id")
    candidates = {*shared, *Case.objects.filter(id__in=cases).values_list("person_id", flat=True)}
    if not candidates:
        return []
    gate = access.person_list_for_user(user).filter(id__in=candidates).exclude(team_id__in=teams)
    return list(gate.values_list("id", flat=True))


def recruitment_count(viewer: Viewer, f: Filters) -> Count:
    teams = _readable_teams(viewer)
    total, own = _by_team(_recruitment_cube(f), teams)
    return _counted(viewer, total, lambda user: own + _shared_recruitments(user, teams, f))


def _shared_recruitments(user: User, teams: list[uuid.UUID], f: Filters) -> int:
    """Recruitments of the persons visible to the user outside their teams, matching the filters."""
    from kartoteka.casework.models import Recruitment

    shared = Recruitment.objects.filter(person_id__in=_shared_persons(user, teams))
    return _detail_filtered(shared, f, day="signed_start", facility="facility", recruiter="recruiter").count()


def _detail_filtered(
    qs: QuerySet[Any], f: Filters, *, day: str, facility: str, recruiter: str
) -> QuerySet[Any]:
    """The dashboard's filters over a detail table (what no summary holds: rows shared across teams), its
    day, facility and recruiter fields at the paths given."""
    if f.month_from is not None:
        qs = qs.filter(**{f"{day}__gte": f.month_from})
    if f.day_after is not None:
        qs = qs.filter(**{f"{day}__lt": f.day_after})
    if f.region:
        qs = qs.filter(**{f"{facility}__region_id": f.region})
    if f.facility_type:
        qs = qs.filter(**{f"{facility}__type": f.facility_type})
    if f.recruiter:
        qs = qs.filter(**{recruiter: f.recruiter})
    return qs


def quarter_label(month: date) -> str:
    return f"{month.year}Q{(month.month - 1) // 3 + 1}"


def recruitment_by_wave(f: Filters) -> tuple[tuple[str, str, int], ...]:
    rows = _recruitment_cube(f).filter(month__isnull=False).values("month", "recruiter").annotate(s=Sum("n"))
    waves: Counter[tuple[str, str]] = Counter()
    for r in rows.order_by():
        waves[(quarter_label(r["month"]), r["recruiter"])] += int(r["s"])
    return tuple((q, rec, n) for (q, rec), n in sorted(waves.items()))


# --- the ledger -----------------------------------------------------------------------------------------


def _ledger_cube(f: Filters) -> QuerySet[Any]:
    table: Any = LedgerCube if f.region else LedgerMid if (f.facility_type or f.recruiter) else LedgerRollup
    qs = _where(_months(table.objects.all(), f, "due_month"), f)
    if f.recruiter:
        qs = qs.filter(recruiter=f.recruiter)
    return qs


def ledger_figures(f: Filters, *, today: date) -> dict[str, tuple[tuple[str, Mapping[str, int]], ...]]:
    """Ledger lines per effective status (a pending line past its last possible day is overdue, as judged on
    the day of the summaries' build: they are stale the next day), by promise kind, by regime and by the
    year the line fell due. ``today`` is kept for callers; the build day decides."""
    del today
    rows = _ledger_cube(f).values("kind", "regime", "due_month", "status").annotate(s=Sum("n")).order_by()
    out: dict[str, defaultdict[str, Counter[str]]] = {
        "kind": defaultdict(Counter), "regime": defaultdict(Counter), "year": defaultdict(Counter),
    }  # fmt: skip
    for r in rows:
        status = r["status"]
        n = int(r["s"])
        out["kind"][r["kind"] or "unknown"][status] += n
        out["regime"][r["regime"] or "unknown"][status] += n
        out["year"][str(r["due_month"].year) if r["due_month"] else "unknown"][status] += n
    return {by: tuple((key, dict(c)) for key, c in sorted(groups.items())) for by, groups in out.items()}


def ledger_count(viewer: Viewer, f: Filters) -> Count:
    teams = _readable_teams(viewer)
    total, own = _by_team(_ledger_cube(f), teams)
    return _counted(viewer, total, lambda user: own + _shared_ledger_lines(user, teams, f))


def _shared_ledger_lines(user: User, teams: list[uuid.UUID], f: Filters) -> int:
    """Ledger lines of the persons visible to the user outside their teams, matching the filters."""
    shared = LedgerLine.objects.filter(person_id__in=_shared_persons(user, teams))
    return _detail_filtered(
        shared, f, day="due_start", facility="recruitment__facility", recruiter="recruitment__recruiter"
    ).count()


# --- persons --------------------------------------------------------------------------------------------


def _person_cube(f: Filters) -> QuerySet[PersonCube]:
    qs = PersonCube.objects.all()
    return qs.filter(region=f.region) if f.region else qs


def person_count(viewer: Viewer, f: Filters) -> Count:
    teams = _readable_teams(viewer)
    total, own = _by_team(_person_cube(f), teams)
    return _counted(viewer, total, lambda user: own + _shared_person_count(user, teams, f))


def _shared_person_count(user: User, teams: list[uuid.UUID], f: Filters) -> int:
    shared = Person.objects.filter(id__in=_shared_persons(user, teams))
    if f.region:
        shared = shared.filter(home_region_id=f.region)
    return shared.count()


# --- pressure around recruitment visits -----------------------------------------------------------------


def _visits(f: Filters) -> QuerySet[RecruitmentVisit]:
    qs = RecruitmentVisit.objects.filter(date_start__isnull=False)
    if f.month_from is not None:
        qs = qs.filter(date_start__gte=f.month_from)
    if f.day_after is not None:
        qs = qs.filter(date_start__lt=f.day_after)
    if f.region:
        qs = qs.filter(facility__region_id=f.region)
    if f.facility_type:
        qs = qs.filter(facility__type=f.facility_type)
    if f.recruiter:
        qs = qs.filter(recruiter=f.recruiter)
    return qs


def _visible_visits(user: User, qs: QuerySet[RecruitmentVisit]) -> int:
    teams = _readable_teams(user)
    own = qs.filter(team_id__in=teams).count() if teams else 0
    shared = list(Share.objects.filter(object_type="visit").values_list("object_id", flat=True))
    if not shared:
        return own
    gate = access.visit_list_for_user(user).filter(id__in=shared).exclude(team_id__in=teams)
    return own + qs.filter(id__in=gate.values("id")).count()


def _windows(f: Filters) -> QuerySet[VisitWindow]:
    """VisitWindow rows of the visits :func:`_visits` selects (the same filters, on the copied columns)."""
    qs = VisitWindow.objects.all()
    if f.month_from is not None:
        qs = qs.filter(visit_date__gte=f.month_from)
    if f.day_after is not None:
        qs = qs.filter(visit_date__lt=f.day_after)
    return _where(qs.filter(recruiter=f.recruiter) if f.recruiter else qs, f)


def visit_count(viewer: Viewer, f: Filters) -> Count:
    qs = _visits(f)
    return _counted(viewer, qs.count(), lambda user: _visible_visits(user, qs))


def visit_figures(viewer: Viewer, f: Filters) -> VisitFigures:
    """For each recorded visit, incidents at its facility in the WEEKS weeks before the visit's week and in
    that week plus the WEEKS - 1 after; per facility and summed across facilities by week offset.

    Every incident at the facility counts (all categories and verification levels): the weekly summary
    has no other dimension. The windows come from VisitWindow, built with the other summaries."""
    per_facility = dict(
        _visits(f)
        .values("facility_id")
        .annotate(v=models.Count("id"))
        .order_by()
        .values_list("facility_id", "v")
    )
    total = sum(per_facility.values())
    count = _counted(viewer, total, lambda user: _visible_visits(user, _visits(f)))
    if not total:
        return VisitFigures(count, (), tuple((k, 0) for k in range(-WEEKS, WEEKS)))
    windows = _windows(f)
    by_offset = dict(
        windows.values("week_offset").annotate(s=Sum("n")).order_by().values_list("week_offset", "s")
    )
    around = windows.values("facility").annotate(
        b=Sum("n", filter=Q(week_offset__lt=0)), a=Sum("n", filter=Q(week_offset__gte=0))
    )
    sums = {r["facility"]: (int(r["b"] or 0), int(r["a"] or 0)) for r in around.order_by()}
    rows = sorted(
        (VisitRow(fac, v, *sums.get(fac, (0, 0))) for fac, v in per_facility.items()),
        key=lambda r: (-r.visits, -r.after, str(r.facility)),
    )
    return VisitFigures(
        count, tuple(rows), tuple((k, int(by_offset.get(k, 0))) for k in range(-WEEKS, WEEKS))
    )


# --- everything -----------------------------------------------------------------------------------------


def _timed[T](timings: dict[str, float], name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    timings[name] = time.perf_counter() - t0
    return result


def dashboard(*, user: Viewer, filters: Filters, today: date) -> Dashboard:
    """Every figure of the dashboard; ``timings`` holds each query's seconds (for the bench). The figures are
    the same for every viewer; the counts' visible parts are ``user``'s (see :data:`Viewer`)."""
    f = filters
    t: dict[str, float] = {}
    ledger = _timed(t, "ledger_figures", ledger_figures, f, today=today)
    recruit = _recruitment_cube(f)
    return Dashboard(
        filters=f,
        incidents=_timed(t, "incident_count", incident_count, user, f),
        incidents_by_month=_timed(t, "incidents_by_month", incidents_by_month, f),
        incidents_by_region=_timed(t, "incidents_by_region", incidents_by_region, f),
        incidents_by_facility=_timed(t, "incidents_by_facility", incidents_by_facility, f),
        verification_mix=_timed(t, "verification_mix", verification_mix, f),
        recruitments=_timed(t, "recruitment_count", recruitment_count, user, f),
        recruitment_by_wave=_timed(t, "recruitment_by_wave", recruitment_by_wave, f),
        recruitment_by_recruiter=_timed(t, "recruitment_by_recruiter", _grouped, recruit, "recruiter"),
        recruitment_by_regime=_timed(t, "recruitment_by_regime", _grouped, recruit, "regime"),
        ledger=_timed(t, "ledger_count", ledger_count, user, f),
        ledger_by=ledger,
        persons=_timed(t, "person_count", person_count, user, f),
        persons_by_status=_timed(t, "persons_by_status", _grouped, _person_cube(f), "status"),
        visits=_timed(t, "visit_figures", visit_figures, user, f),
        undated_incidents=_timed(t, "incidents_undated", incidents_undated, f),
        timings=t,
    )


@dataclass(frozen=True, slots=True)
class Counts:
    incidents: Count
    recruitments: Count
    ledger: Count
    persons: Count
    visits: Count


def dashboard_counts(*, user: Viewer, filters: Filters) -> Counts:
    """The section counts alone (what the viewer may open differs per viewer; the figures do not): the
    page's queries when its figures are already drawn."""
    f = filters
    return Counts(
        incidents=incident_count(user, f),
        recruitments=recruitment_count(user, f),
        ledger=ledger_count(user, f),
        persons=person_count(user, f),
        visits=visit_count(user, f),
    )


def ledger_status_order(statuses: Iterable[str]) -> list[str]:
    order = {s: i for i, s in enumerate(LEDGER_ORDER)}
    return sorted(set(statuses), key=lambda s: (order.get(s, 99), s))
