"""Reads for the account pages: team members and shares, notices, API tokens, break-glass grants and
who viewed a person's identity. Views get frozen dataclasses, never rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Model, QuerySet
from django.utils import timezone

from kartoteka.accounts.models import (
    ApiToken,
    BreakGlassGrant,
    IdentityRead,
    Membership,
    Notice,
    Role,
    Share,
    Team,
    User,
)
from kartoteka.casework.models import Case, Incident, RecruitmentVisit, Source
from kartoteka.people.models import Person, Record

_OWNED: dict[str, type[Model]] = {
    "person": Person,
    "record": Record,
    "source": Source,
    "incident": Incident,
    "visit": RecruitmentVisit,
    "case": Case,
}


@dataclass(frozen=True)
class MemberView:
    user_id: uuid.UUID
    username: str
    role: str
    is_active: bool
    joined_at: datetime


@dataclass(frozen=True)
class ShareView:
    id: uuid.UUID
    object_type: str
    object_id: uuid.UUID
    grantee: str  # a team's name or a username
    can_write: bool
    created_at: datetime


@dataclass(frozen=True)
class NoticeView:
    id: uuid.UUID
    team: str
    kind: str
    kind_label: str
    actor: str
    object_type: str
    object_id: str
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True)
class TokenView:
    id: uuid.UUID
    name: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    live: bool


@dataclass(frozen=True)
class GrantView:
    id: uuid.UUID
    team_id: uuid.UUID
    team: str
    expires_at: datetime


@dataclass(frozen=True)
class ReaderView:
    username: str
    reads: int
    last_at: datetime


def teams_manageable(user: User) -> list[Team]:
    if not user.is_active:
        return []
    if user.role == Role.ADMIN:
        return list(Team.objects.order_by("name"))
    if user.role == Role.COORDINATOR:
        return list(user.teams.order_by("name"))
    return []


def team_members(team: Team) -> list[MemberView]:
    rows = Membership.objects.filter(team=team).select_related("user").order_by("user__username")
    return [
        MemberView(
            user_id=m.user.id,
            username=m.user.username,
            role=m.user.role,
            is_active=m.user.is_active,
            joined_at=m.created_at,
        )
        for m in rows
    ]


def _team_shares_qs(team: Team) -> QuerySet[Share]:
    qs = Share.objects.none()
    for object_type, model in _OWNED.items():
        owned = model._default_manager.filter(team=team).values("id")
        qs = qs | Share.objects.filter(object_type=object_type, object_id__in=owned)
    return qs


def team_shares(team: Team) -> list[ShareView]:
    """Shares of objects the team owns (the ones its coordinators may withdraw)."""
    rows = _team_shares_qs(team).select_related("team", "user").order_by("-created_at")
    return [
        ShareView(
            id=s.id,
            object_type=s.object_type,
            object_id=s.object_id,
            grantee=s.team.name if s.team is not None else (s.user.username if s.user is not None else ""),
            can_write=s.can_write,
            created_at=s.created_at,
        )
        for s in rows
    ]


def share_owner_team_id(share: Share) -> uuid.UUID | None:
    model = _OWNED.get(share.object_type)
    if model is None:
        return None
    team_id: uuid.UUID | None = (
        model._default_manager.filter(pk=share.object_id).values_list("team_id", flat=True).first()
    )
    return team_id


def notices_for_user(user: User) -> QuerySet[Notice]:
    """Admins see every team's notices; coordinators their teams'; nobody else any."""
    if not user.is_active:
        return Notice.objects.none()
    if user.role == Role.ADMIN:
        return Notice.objects.all()
    if user.role == Role.COORDINATOR:
        return Notice.objects.filter(team__in=user.teams.all())
    return Notice.objects.none()


def notice_list(*, user: User, limit: int = 100) -> list[NoticeView]:
    rows = notices_for_user(user).select_related("team", "actor").order_by("-created_at")[:limit]
    return [
        NoticeView(
            id=n.id,
            team=n.team.name,
            kind=n.kind,
            kind_label=n.get_kind_display(),
            actor=n.actor.username if n.actor is not None else "",
            object_type=n.object_type,
            object_id=n.object_id,
            created_at=n.created_at,
            read_at=n.read_at,
        )
        for n in rows
    ]


def api_token_list(*, user: User) -> list[TokenView]:
    now = timezone.now()
    return [
        TokenView(
            id=t.id,
            name=t.name,
            created_at=t.created_at,
            expires_at=t.expires_at,
            revoked_at=t.revoked_at,
            live=t.is_live(now),
        )
        for t in ApiToken.objects.filter(user=user).order_by("-created_at")
    ]


def break_glass_active(*, user: User) -> list[GrantView]:
    rows = BreakGlassGrant.objects.filter(user=user, expires_at__gt=timezone.now()).select_related("team")
    return [GrantView(id=g.id, team_id=g.team_id, team=g.team.name, expires_at=g.expires_at) for g in rows]


def identity_readers(person_id: uuid.UUID | str, *, limit: int = 50) -> list[ReaderView]:
    """Who has been shown this person's identity, how often and when last ("who viewed this").

    Callers pass the person through the access gate first.
    """
    rows = (
        IdentityRead.objects.filter(person_id=person_id)
        .values("user__username")
        .annotate(reads=Count("id"), last_at=Max("at"))
        .order_by("-last_at")[:limit]
    )
    return [ReaderView(username=r["user__username"], reads=r["reads"], last_at=r["last_at"]) for r in rows]
