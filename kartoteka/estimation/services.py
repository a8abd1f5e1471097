"""Writes for estimation: declaring a source as a list, saving an estimate, approving it for publication.

Every write is in the audit chain. A saved estimate holds figures only; publishing one (into reports and
the public data set) needs a second staff member's approval, never the author's own.
"""

from __future__ import annotations

import math

from django.db import transaction
from django.utils import timezone

from kartoteka.accounts import access
from kartoteka.accounts.models import Role, Team, User
from kartoteka.audit.services import entry_append
from kartoteka.estimation import report
from kartoteka.estimation.access import saved_estimate_get_for_user
from kartoteka.estimation.errors import EstimationError
from kartoteka.estimation.models import DeclaredList, SavedEstimate

APPROVING_ROLES = frozenset({Role.ADMIN, Role.COORDINATOR, Role.ANALYST})
_MAX_LABEL = 60


def _member(user: User, team: Team) -> None:
    if not user.is_active or not user.teams.filter(pk=team.pk).exists():
        raise access.NotFound


def _label(field: str, value: str, limit: int = _MAX_LABEL) -> str:
    value = value.strip()
    if not value:
        raise EstimationError(f"{field}: required")
    if len(value) > limit:
        raise EstimationError(f"{field}: at most {limit} characters")
    return value


def declared_list_create(
    *, actor: User, source_id: str, name: str, population: str, period: str
) -> DeclaredList:
    """Read one source's records as a list counting `population` over `period`."""
    source = access.source_get_for_user(actor, source_id)
    _member(actor, source.team)
    name = _label("name", name)
    population = _label("population", population)
    period = _label("period", period, 40)
    if DeclaredList.objects.filter(team=source.team, name=name).exists():
        raise EstimationError(f"name: a list named {name!r} already exists in this team")
    with transaction.atomic():
        declared = DeclaredList.objects.create(
            team=source.team, name=name, source=source, population=population, period=period, created_by=actor
        )
        entry_append(
            actor=str(actor.id), action="estimation.list_declare", object_type="declared_list",
            object_id=str(declared.id),
        )  # fmt: skip
    return declared


def _summary(result: report.EstimationReport) -> dict[str, object]:
    def finite(x: float) -> float | None:
        return x if math.isfinite(x) else None

    return {
        "reason": result.reason.key,
        "methods": [
            {"method": e.method, "estimate": finite(e.estimate), "lower": finite(e.lower),
             "upper": finite(e.upper), "usable": e.usable}
            for e in result.methods
        ],
        "caveats": [c.key for c in result.caveats],
        "strata": {k: {"estimate": finite(e.estimate), "lower": finite(e.lower), "upper": finite(e.upper)}
                   for k, e in result.strata.items()},
    }  # fmt: skip


def estimate_save(*, actor: User, team: Team, result: report.EstimationReport) -> SavedEstimate:
    _member(actor, team)
    d = result.default
    if not (math.isfinite(d.estimate) and math.isfinite(d.lower) and math.isfinite(d.upper)):
        raise EstimationError("estimate: the default method gave no finite interval; nothing to save")
    with transaction.atomic():
        saved = SavedEstimate.objects.create(
            team=team, population=result.population, period=result.period[:120], lists=list(result.lists),
            n_observed=result.n_observed, method=d.method, estimate=d.estimate, lower=d.lower,
            upper=d.upper, summary=_summary(result), created_by=actor,
        )  # fmt: skip
        entry_append(
            actor=str(actor.id), action="estimation.save", object_type="estimate", object_id=str(saved.id),
            details={"method": d.method, "estimate": round(d.estimate)},
        )  # fmt: skip
    return saved


def estimate_approve(*, actor: User, estimate_id: str) -> SavedEstimate:
    """A second staff member of the team approves an estimate for publication."""
    saved = saved_estimate_get_for_user(actor, estimate_id)
    _member(actor, saved.team)
    if actor.role not in APPROVING_ROLES:
        raise EstimationError("approval: only an admin, a coordinator or an analyst may approve")
    if saved.created_by_id == actor.id:
        raise EstimationError("approval: the author of an estimate cannot approve it; ask a colleague")
    if saved.approved_at is not None:
        raise EstimationError("approval: already approved")
    with transaction.atomic():
        saved.approved_at = timezone.now()
        saved.approved_by = actor
        saved.save(update_fields=["approved_at", "approved_by"])
        entry_append(
            actor=str(actor.id), action="estimation.approve", object_type="estimate", object_id=str(saved.id)
        )
    return saved
