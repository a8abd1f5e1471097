"""Test helpers that build teams and users the way every access test needs them.

Every access test has an owner, a teammate, an outsider and an analyst (healthchecks' and zulip's habit);
`lawyer` belongs to no team and sees only what is shared with them.
"""

from __future__ import annotations

from dataclasses import dataclass

from kartoteka.accounts.models import Membership, Role, Team, User


@dataclass
class Cast:
    team: Team
    other_team: Team
    owner: User
    teammate: User
    outsider: User
    analyst: User
    lawyer: User


def user_make(username: str, *, role: str = Role.CASEWORKER, teams: tuple[Team, ...] = ()) -> User:
    user = User.objects.create_user(username=username, password="correct horse battery staple", role=role)
    for team in teams:
        Membership.objects.create(user=user, team=team)
    return user


def cast_make() -> Cast:
    team = Team.objects.create(name="Команда А")
    other = Team.objects.create(name="Команда Б")
    return Cast(
        team=team,
        other_team=other,
        owner=user_make("owner", teams=(team,)),
        teammate=user_make("teammate", teams=(team,)),
        outsider=user_make("outsider", teams=(other,)),
        analyst=user_make("analyst", role=Role.ANALYST, teams=(team,)),
        lawyer=user_make("lawyer", role=Role.LAWYER),
    )
