"""The access gates for candidate pairs and merge events (kartoteka.accounts.access style).

- A same-team pair is seen by staff who may see BOTH of its records (and decided by those who may write
  both); analysts never: reviewing compares identities.
- A pair spanning two teams is seen only by a coordinator (or admin member) of either team. Each sees
  their own team's record and the scores; the other team's record stays hidden (:func:`pair_sides`).
- A merge event is seen by whoever may read its team; a link event by a coordinator of either team.
- Missing and forbidden are the same answer: :class:`NotFound`.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from kartoteka.accounts import access
from kartoteka.accounts.access import NotFound
from kartoteka.accounts.models import Role, User
from kartoteka.linkage.models import CandidatePair, EventKind, MergeEvent

__all__ = [
    "NotFound",
    "candidate_pair_get_for_user",
    "candidate_pair_list_for_user",
    "coordinated_team_ids",
    "merge_event_get_for_user",
    "merge_event_list_for_user",
    "pair_sides",
]

_COORDINATING = frozenset({Role.COORDINATOR, Role.ADMIN})


def _active(user: User) -> bool:
    return bool(user.is_active and user.is_authenticated)


def coordinated_team_ids(user: User) -> list[uuid.UUID]:
    """Teams ``user`` coordinates: membership, never break-glass (which only reads)."""
    if not _active(user) or user.role not in _COORDINATING:
        return []
    return list(user.teams.values_list("id", flat=True))


def _pair_q(user: User, *, write: bool) -> Q:
    records = access.record_list_for_user(user, write=write).values("pk")
    same = Q(cross_team=False, record_a__in=records, record_b__in=records)
    coordinated = coordinated_team_ids(user)
    cross = Q(cross_team=True) & (Q(record_a__team__in=coordinated) | Q(record_b__team__in=coordinated))
    return same | cross


def candidate_pair_list_for_user(user: User, *, write: bool = False) -> QuerySet[CandidatePair]:
    if not _active(user) or not access.sees_identities(user):
        return CandidatePair.objects.none()
    if write and user.role not in access.WRITING_ROLES:
        return CandidatePair.objects.none()
    return CandidatePair.objects.filter(_pair_q(user, write=write))


def candidate_pair_get_for_user(
    user: User, pair_id: uuid.UUID | str, *, write: bool = False
) -> CandidatePair:
    pairs = candidate_pair_list_for_user(user, write=write).select_related("record_a", "record_b")
    try:
        return pairs.get(pk=pair_id)
    except (CandidatePair.DoesNotExist, ValidationError, ValueError, TypeError) as exc:
        raise NotFound from exc  # a malformed id is just another missing one


def pair_sides(user: User, pair: CandidatePair) -> tuple[bool, bool]:
    """Whether ``user`` may see record a's and record b's identity on this pair's page.

    A same-team pair that passed the gate shows both. A cross-team pair shows the records of the teams
    the user coordinates, and the other side only to someone who coordinates both teams.
    """
    if not pair.cross_team:
        return True, True
    coordinated = set(coordinated_team_ids(user))
    return pair.record_a.team_id in coordinated, pair.record_b.team_id in coordinated


def merge_event_list_for_user(user: User, *, write: bool = False) -> QuerySet[MergeEvent]:
    if not _active(user) or (write and user.role not in access.WRITING_ROLES):
        return MergeEvent.objects.none()
    readable = access.readable_team_ids(user, write=write)
    coordinated = coordinated_team_ids(user)
    merges = Q(kind__in=[EventKind.MERGE, EventKind.UNMERGE], team__in=readable)
    links = Q(kind__in=[EventKind.LINK, EventKind.UNLINK]) & (
        Q(team__in=coordinated) | Q(other_team__in=coordinated)
    )
    return MergeEvent.objects.filter(merges | links)


def merge_event_get_for_user(user: User, event_id: uuid.UUID | str, *, write: bool = False) -> MergeEvent:
    try:
        return merge_event_list_for_user(user, write=write).get(pk=event_id)
    except (MergeEvent.DoesNotExist, ValidationError, ValueError, TypeError) as exc:
        raise NotFound from exc
