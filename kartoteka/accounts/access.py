"""The access gates: one per object type, used by every view, API endpoint, command and job.

Rules (docs/access.md):
- A user sees what their teams own, plus what is shared with one of their teams or with them personally.
- Dependent objects (status entries, recruitments, service events, promises, deliveries) are visible
  exactly when their person is; a person is also visible to whoever may see one of the person's cases
  (a lawyer given one case sees that person, not the team's other persons).
- Writing needs a staff role that writes (never an analyst) and either team ownership or a share that
  grants writing.
- Missing and forbidden are the same answer: :class:`NotFound` (an Http404), so ids cannot be probed.
- Break-glass: an admin with a live grant for a team reads (never writes) that team's objects as if a
  member; opening the grant is audited and noticed (accounts.services.break_glass_open).
- Analysts pass the read gates of their teams' objects but never receive identity fields: selectors
  check :func:`sees_identities` before they decrypt anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import connection
from django.db.models import Model, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from kartoteka.accounts.models import BreakGlassGrant, Role, Share, Team, User
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
from kartoteka.core import rawsql
from kartoteka.people.models import Person, Record, StatusEntry

WRITING_ROLES = frozenset({Role.ADMIN, Role.COORDINATOR, Role.CASEWORKER, Role.LAWYER})


class NotFound(Http404):
    """Missing or not yours: callers cannot tell which."""


def sees_identities(user: User) -> bool:
    return bool(user.is_active and user.role != Role.ANALYST)


def _team_ids(user: User) -> list[uuid.UUID]:
    cached: list[uuid.UUID] | None = getattr(user, "_kartoteka_team_ids", None)
    if cached is None:
        cached = list(user.teams.values_list("id", flat=True))
        user._kartoteka_team_ids = cached  # type: ignore[attr-defined]
    return cached


def _glass_team_ids(user: User) -> list[uuid.UUID]:
    """Teams an admin may read for now through break-glass (accounts.services.break_glass_open)."""
    if user.role != Role.ADMIN or not user.is_authenticated:
        return []
    cached: list[uuid.UUID] | None = getattr(user, "_kartoteka_glass_team_ids", None)
    if cached is None:
        grants = BreakGlassGrant.objects.filter(user=user, expires_at__gt=timezone.now())
        cached = list(grants.values_list("team_id", flat=True).distinct())
        user._kartoteka_glass_team_ids = cached  # type: ignore[attr-defined]
    return cached


def _readable_team_ids(user: User, *, write: bool) -> list[uuid.UUID]:
    # Break-glass opens reading only: a write gate never sees the granted teams.
    return _team_ids(user) if write else _team_ids(user) + _glass_team_ids(user)


def readable_team_ids(user: User, *, write: bool) -> list[uuid.UUID]:
    """Teams whose own objects ``user`` may read (``write=False``) or write (``write=True``).

    The gates' own notion of team ownership, for other apps that filter by team themselves (aggregate
    counts, merge events) and must never disagree with what the gates show: membership, plus teams under a
    live break-glass grant when reading. Shares are not included (they open single objects, not teams).
    Fails closed: an inactive or anonymous user, or a writer without a writing role, gets no team."""
    if not _may_act(user, write=write):
        return []
    return _readable_team_ids(user, write=write)


def team_manageable(user: User, team: Team) -> bool:
    """May ``user`` change ``team``'s members and withdraw its shares? Admins, and the team's coordinators."""
    if not user.is_active or not user.is_authenticated:
        return False
    return user.role == Role.ADMIN or (user.role == Role.COORDINATOR and team.id in _team_ids(user))


def _shared_ids(user: User, object_type: str, *, write: bool) -> QuerySet[Share, uuid.UUID]:
    shares = Share.objects.filter(object_type=object_type).filter(Q(user=user) | Q(team__in=_team_ids(user)))
    if write:
        shares = shares.filter(can_write=True)
    return shares.values_list("object_id", flat=True)


def _owned_or_shared(user: User, object_type: str, *, write: bool, prefix: str = "") -> Q:
    return Q(**{f"{prefix}team__in": _readable_team_ids(user, write=write)}) | Q(
        **{f"{prefix}id__in": _shared_ids(user, object_type, write=write)}
    )


def _may_act(user: User, *, write: bool) -> bool:
    if not user.is_active or not user.is_authenticated:
        return False
    return not write or user.role in WRITING_ROLES


def team_writable(user: User, team: Team) -> bool:
    """May ``user`` create records owned by ``team``?"""
    return _may_act(user, write=True) and team.id in _team_ids(user)


def _person_q(user: User, *, write: bool, prefix: str = "") -> Q:
    q = _owned_or_shared(user, "person", write=write, prefix=prefix)
    shared_cases = Case.objects.filter(_owned_or_shared(user, "case", write=write)).values_list("person_id")
    return q | Q(**{f"{prefix}id__in": shared_cases})


def _filter[M: Model](user: User, qs: QuerySet[M], q: Q, *, write: bool) -> QuerySet[M]:
    if not _may_act(user, write=write):
        return qs.none()
    return qs.filter(q).distinct()


def _get[M: Model](qs: QuerySet[M], object_id: uuid.UUID | str) -> M:
    try:
        return qs.get(pk=object_id)
    except (ObjectDoesNotExist, ValidationError, ValueError, TypeError) as exc:
        raise NotFound from exc  # a malformed id is just another missing one


# --- persons and what hangs off them -------------------------------------------------------------------


def person_list_for_user(user: User, *, write: bool = False) -> QuerySet[Person]:
    return _filter(user, Person.objects.all(), _person_q(user, write=write), write=write)


def person_get_for_user(user: User, person_id: uuid.UUID | str, *, write: bool = False) -> Person:
    return _get(person_list_for_user(user, write=write), person_id)


def record_list_for_user(user: User, *, write: bool = False) -> QuerySet[Record]:
    q = _owned_or_shared(user, "record", write=write) | _person_q(user, write=write, prefix="person__")
    return _filter(user, Record.objects.all(), q, write=write)


def record_ids_readable(user: User, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``ids`` that :func:`record_list_for_user` (reading) lets through, for a caller holding a
    page of candidate ids (name search).

    The gate's first disjuncts — the record's team or its person's team is readable — settle almost every
    id in one plain statement; only the ids they leave out go through the full gate. Building the full
    gate's query (shares, cases) costs Django several milliseconds, ten times what running it costs."""
    if not ids or not _may_act(user, write=False):
        return set()
    teams = set(_readable_team_ids(user, write=False))
    record_id, r_id = rawsql.model_field(Record, "id")
    r_team, r_person = rawsql.column(Record, "team"), rawsql.column(Record, "person")
    p_id, p_team = rawsql.column(Person, "id"), rawsql.column(Person, "team")
    team_id, _ = rawsql.model_field(Team, "id")
    records, persons = rawsql.table(Record), rawsql.table(Person)
    # Compared as the database spells them: no id is parsed back.
    wanted = {record_id.get_db_prep_value(i, connection): i for i in ids}
    owners = {team_id.get_db_prep_value(t, connection) for t in teams}
    with connection.cursor() as cursor:
        # Table and column names are the models' own, every id a placeholder.
        cursor.execute(
            f"SELECT r.{r_id}, r.{r_team}, p.{p_team} FROM {records} r "  # noqa: S608
            f"LEFT JOIN {persons} p ON p.{p_id} = r.{r_person} WHERE r.{r_id} IN ({rawsql.placeholders(len(wanted))})",
            list(wanted),
        )
        readable = {wanted[pk] for pk, team, person_team in cursor.fetchall() if {team, person_team} & owners}
    rest = [i for i in ids if i not in readable]
    if rest:
        readable.update(record_list_for_user(user).filter(pk__in=rest).values_list("pk", flat=True))
    return readable


def record_get_for_user(user: User, record_id: uuid.UUID | str, *, write: bool = False) -> Record:
    return _get(record_list_for_user(user, write=write), record_id)


def status_entry_list_for_user(user: User, *, write: bool = False) -> QuerySet[StatusEntry]:
    return _filter(
        user, StatusEntry.objects.all(), _person_q(user, write=write, prefix="person__"), write=write
    )


def status_entry_get_for_user(user: User, entry_id: uuid.UUID | str, *, write: bool = False) -> StatusEntry:
    return _get(status_entry_list_for_user(user, write=write), entry_id)


def recruitment_list_for_user(user: User, *, write: bool = False) -> QuerySet[Recruitment]:
    return _filter(
        user, Recruitment.objects.all(), _person_q(user, write=write, prefix="person__"), write=write
    )


def recruitment_get_for_user(
    user: User, recruitment_id: uuid.UUID | str, *, write: bool = False
) -> Recruitment:
    return _get(recruitment_list_for_user(user, write=write), recruitment_id)


def service_event_list_for_user(user: User, *, write: bool = False) -> QuerySet[ServiceEvent]:
    return _filter(
        user, ServiceEvent.objects.all(), _person_q(user, write=write, prefix="person__"), write=write
    )


def service_event_get_for_user(user: User, event_id: uuid.UUID | str, *, write: bool = False) -> ServiceEvent:
    return _get(service_event_list_for_user(user, write=write), event_id)


def promise_list_for_user(user: User, *, write: bool = False) -> QuerySet[Promise]:
    return _filter(user, Promise.objects.all(), _person_q(user, write=write, prefix="person__"), write=write)


def promise_get_for_user(user: User, promise_id: uuid.UUID | str, *, write: bool = False) -> Promise:
    return _get(promise_list_for_user(user, write=write), promise_id)


def delivery_list_for_user(user: User, *, write: bool = False) -> QuerySet[Delivery]:
    q = _person_q(user, write=write, prefix="promise__person__")
    return _filter(user, Delivery.objects.all(), q, write=write)


def delivery_get_for_user(user: User, delivery_id: uuid.UUID | str, *, write: bool = False) -> Delivery:
    return _get(delivery_list_for_user(user, write=write), delivery_id)


# --- objects a team owns directly --------------------------------------------------------------------------


def source_list_for_user(user: User, *, write: bool = False) -> QuerySet[Source]:
    return _filter(user, Source.objects.all(), _owned_or_shared(user, "source", write=write), write=write)


def source_get_for_user(user: User, source_id: uuid.UUID | str, *, write: bool = False) -> Source:
    return _get(source_list_for_user(user, write=write), source_id)


def incident_list_for_user(user: User, *, write: bool = False) -> QuerySet[Incident]:
    return _filter(user, Incident.objects.all(), _owned_or_shared(user, "incident", write=write), write=write)


def incident_get_for_user(user: User, incident_id: uuid.UUID | str, *, write: bool = False) -> Incident:
    return _get(incident_list_for_user(user, write=write), incident_id)


def visit_list_for_user(user: User, *, write: bool = False) -> QuerySet[RecruitmentVisit]:
    q = _owned_or_shared(user, "visit", write=write)
    return _filter(user, RecruitmentVisit.objects.all(), q, write=write)


def visit_get_for_user(user: User, visit_id: uuid.UUID | str, *, write: bool = False) -> RecruitmentVisit:
    return _get(visit_list_for_user(user, write=write), visit_id)


def case_list_for_user(user: User, *, write: bool = False) -> QuerySet[Case]:
    return _filter(user, Case.objects.all(), _owned_or_shared(user, "case", write=write), write=write)


def case_get_for_user(user: User, case_id: uuid.UUID | str, *, write: bool = False) -> Case:
    return _get(case_list_for_user(user, write=write), case_id)


_GETTERS = {
    "person": person_get_for_user,
    "record": record_get_for_user,
    "source": source_get_for_user,
    "incident": incident_get_for_user,
    "visit": visit_get_for_user,
    "case": case_get_for_user,
}


def object_get_for_user(
    user: User, object_type: str, object_id: uuid.UUID | str, *, write: bool = False
) -> Model:
    """The gate for a shareable object named by type, for code that handles several types alike."""
    getter = _GETTERS.get(object_type)
    if getter is None:
        raise NotFound
    result: Model = getter(user, object_id, write=write)
    return result
