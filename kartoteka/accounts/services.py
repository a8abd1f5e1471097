"""Writes for teams, users and shares. Each appends to the audit chain in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.db import transaction

from kartoteka.accounts.models import Membership, Role, Share, Team, User
from kartoteka.audit.services import entry_append

SYSTEM_ACTOR = "system:setup"

SHAREABLE = frozenset({"person", "record", "source", "incident", "visit", "case"})


def _actor_id(actor: User | None) -> str:
    return str(actor.id) if actor is not None else SYSTEM_ACTOR


def team_create(*, actor: User | None, name: str) -> Team:
    with transaction.atomic():
        team = Team.objects.create(name=name)
        entry_append(actor=_actor_id(actor), action="team.create", object_type="team", object_id=str(team.id))
    return team


def user_create(
    *, actor: User | None, username: str, password: str, role: str, teams: Sequence[Team] = ()
) -> User:
    if role not in Role.values:
        raise ValueError(f"role must be one of {', '.join(Role.values)}")
    with transaction.atomic():
        user = User.objects.create_user(username=username, password=password, role=role)
        entry_append(actor=_actor_id(actor), action="user.create", object_type="user", object_id=str(user.id))
        for team in teams:
            membership_add(actor=actor, user=user, team=team)
    return user


def membership_add(*, actor: User | None, user: User, team: Team) -> Membership:
    with transaction.atomic():
        membership, _ = Membership.objects.get_or_create(user=user, team=team)
        entry_append(
            actor=_actor_id(actor),
            action="membership.add",
            object_type="user",
            object_id=str(user.id),
            details={"team": str(team.id)},
        )
    return membership


def share_grant(
    *,
    actor: User,
    object_type: str,
    object_id: uuid.UUID,
    team: Team | None = None,
    user: User | None = None,
    can_write: bool = False,
) -> Share:
    """Make one object visible to another team or one user. Only someone who may write it can share it."""
    from kartoteka.accounts import access

    if object_type not in SHAREABLE:
        raise ValueError(f"cannot share objects of type {object_type!r}")
    if (team is None) == (user is None):
        raise ValueError("share with exactly one team or one user")
    access.object_get_for_user(actor, object_type, object_id, write=True)
    with transaction.atomic():
        share = Share.objects.create(
            object_type=object_type,
            object_id=object_id,
            team=team,
            user=user,
            can_write=can_write,
            granted_by=actor,
        )
        entry_append(
            actor=str(actor.id),
            action="share.grant",
            object_type=object_type,
            object_id=str(object_id),
            details={"share": str(share.id), "write": can_write},
        )
    return share
