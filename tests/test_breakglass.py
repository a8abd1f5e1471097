"""Roles in practice: break-glass reads, an admin joining a team, coordinators managing members and shares."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from kartoteka.accounts import access, selectors, services
from kartoteka.accounts.models import BreakGlassGrant, Membership, Notice, NoticeKind, Role, Share, User
from kartoteka.accounts.testing import login_verified
from kartoteka.audit.models import AuditEntry
from kartoteka.core import sealing
from kartoteka.people.models import Person
from kartoteka.people.services import PersonInput, person_create
from kartoteka.testing.factories import Cast, cast_make, user_make

PASSWORD = "correct horse battery staple"
REASON = "Court deadline tomorrow; the coordinator is unreachable"


def _fresh(user: User) -> User:
    # The gates cache team ids on the user object for one request; each request loads the user anew.
    return User.objects.get(pk=user.pk)


def _people(cast: Cast) -> tuple[Person, Person]:
    ours = person_create(actor=cast.owner, team=cast.team, data=PersonInput(full_name="Смирнов Олег"))
    theirs = person_create(
        actor=cast.outsider, team=cast.other_team, data=PersonInput(full_name="Волков Иван")
    )
    return ours, theirs


def _coordinator(cast: Cast) -> User:
    return user_make("coord", role=Role.COORDINATOR, teams=(cast.team,))


@pytest.mark.django_db
def test_it_gives_an_admin_404_on_another_teams_person_without_break_glass(agent_ready: Path) -> None:
    cast = cast_make()
    ours, _theirs = _people(cast)
    admin = user_make("admin", role=Role.ADMIN)
    with pytest.raises(access.NotFound):
        access.person_get_for_user(admin, ours.id)
    assert not access.person_list_for_user(admin).exists()


@pytest.mark.django_db
def test_it_opens_a_time_limited_read_only_grant_with_audit_entry_and_notice(agent_ready: Path) -> None:
    cast = cast_make()
    ours, theirs = _people(cast)
    coordinator = _coordinator(cast)
    admin = user_make("admin", role=Role.ADMIN)
    client = Client()
    login_verified(client, admin)

    refused = client.post(
        "/accounts/break-glass/", {"team": cast.team.id, "reason": REASON, "password": "nope"}
    )
    assert refused.status_code == 403
    assert not BreakGlassGrant.objects.exists()
    assert not Notice.objects.exists()
    services.login_success_record(username="admin")  # skip the 1 s throttle the wrong password started

    response = client.post(
        "/accounts/break-glass/", {"team": cast.team.id, "reason": REASON, "password": PASSWORD}
    )
    assert response.status_code == 302
    grant = BreakGlassGrant.objects.get()
    assert (grant.user, grant.team) == (admin, cast.team)
    assert timedelta(minutes=59) < grant.expires_at - timezone.now() <= timedelta(minutes=60)
    # The reason is sealed like any free text, and opens to what was typed.
    assert REASON.encode() not in bytes(grant.reason_enc or b"")
    opened = sealing.rows_open(
        "accounts.breakglassgrant", [(str(grant.id), grant.wrapped_key, {"reason": grant.reason_enc})]
    )
    assert opened == [{"reason": REASON}]

    entry = AuditEntry.objects.get(action="break_glass.open")
    assert (entry.actor, entry.object_type, entry.object_id) == (str(admin.id), "team", str(cast.team.id))
    notice = Notice.objects.get()
    assert (notice.team, notice.kind, notice.actor) == (cast.team, NoticeKind.BREAK_GLASS, admin)
    page = Client()
    login_verified(page, coordinator)
    assert "Break-glass read" in page.get("/accounts/notices/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    # Read only, that team only.
    assert access.person_get_for_user(_fresh(admin), ours.id) == ours
    with pytest.raises(access.NotFound):
        access.person_get_for_user(_fresh(admin), ours.id, write=True)
    with pytest.raises(access.NotFound):
        access.person_get_for_user(_fresh(admin), theirs.id)
    assert not access.team_writable(_fresh(admin), cast.team)

    # And for a limited time.
    BreakGlassGrant.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(access.NotFound):
        access.person_get_for_user(_fresh(admin), ours.id)


@pytest.mark.django_db
def test_it_refuses_break_glass_to_non_admins_and_without_a_reason(agent_ready: Path) -> None:
    cast = cast_make()
    coordinator = user_make("coord_b", role=Role.COORDINATOR, teams=(cast.other_team,))
    client = Client()
    login_verified(client, coordinator)
    assert client.get("/accounts/break-glass/").status_code == 404
    assert (
        client.post(
            "/accounts/break-glass/", {"team": cast.team.id, "reason": REASON, "password": PASSWORD}
        ).status_code
        == 404
    )
    admin = user_make("admin", role=Role.ADMIN)
    with pytest.raises(ValueError, match="reason"):
        services.break_glass_open(actor=admin, team=cast.team, password=PASSWORD, reason="because")
    assert not BreakGlassGrant.objects.exists()


@pytest.mark.django_db
def test_it_audits_and_notifies_an_admin_adding_themselves_to_a_team(agent_ready: Path) -> None:
    cast = cast_make()
    admin = user_make("admin", role=Role.ADMIN)
    client = Client()
    login_verified(client, admin)
    assert client.post(f"/accounts/team/{cast.team.id}/", {"username": "admin"}).status_code == 302
    assert Membership.objects.filter(user=admin, team=cast.team).exists()
    entry = AuditEntry.objects.get(action="membership.admin_self_add")
    assert (entry.actor, entry.object_id) == (str(admin.id), str(admin.id))
    notice = Notice.objects.get()
    assert (notice.team, notice.kind, notice.actor) == (cast.team, NoticeKind.ADMIN_JOINED, admin)
    # Adding someone else is an ordinary membership change: audited, no notice.
    services.team_member_add(actor=admin, team=cast.team, username="lawyer")
    assert AuditEntry.objects.filter(action="membership.add", object_id=str(cast.lawyer.id)).exists()
    assert Notice.objects.count() == 1


@pytest.mark.django_db
def test_it_lets_a_coordinator_manage_their_team_and_nobody_else(agent_ready: Path) -> None:
    cast = cast_make()
    ours, _theirs = _people(cast)
    coordinator = _coordinator(cast)
    share = services.share_grant(actor=cast.owner, object_type="person", object_id=ours.id, user=cast.lawyer)
    client = Client()
    login_verified(client, coordinator)
    page = client.get(f"/accounts/team/{cast.team.id}/")
    assert page.status_code == 200
    assert "lawyer" in page.content.decode()
    assert [m.username for m in selectors.team_members(cast.team)] == [
        "analyst",
        "coord",
        "owner",
        "teammate",
    ]

    assert client.post(f"/accounts/team/{cast.team.id}/", {"username": "outsider"}).status_code == 302
    assert Membership.objects.filter(user=cast.outsider, team=cast.team).exists()
    client.post(f"/accounts/team/{cast.team.id}/members/{cast.teammate.id}/remove/")
    assert not Membership.objects.filter(user=cast.teammate, team=cast.team).exists()
    assert AuditEntry.objects.filter(action="membership.remove", object_id=str(cast.teammate.id)).exists()

    assert client.post(f"/accounts/team/{cast.team.id}/shares/{share.id}/revoke/").status_code == 302
    assert not Share.objects.filter(pk=share.pk).exists()
    assert AuditEntry.objects.filter(action="share.revoke", object_id=str(ours.id)).exists()
    with pytest.raises(access.NotFound):
        access.person_get_for_user(_fresh(cast.lawyer), ours.id)

    # A coordinator of another team, and a caseworker of this one, get 404.
    for stranger in (user_make("coord_b", role=Role.COORDINATOR, teams=(cast.other_team,)), cast.owner):
        other = Client()
        login_verified(other, stranger)
        assert other.get(f"/accounts/team/{cast.team.id}/").status_code == 404
        assert other.post(f"/accounts/team/{cast.team.id}/", {"username": "lawyer"}).status_code == 404
    assert not Membership.objects.filter(user=cast.lawyer).exists()


@pytest.mark.django_db
def test_it_tells_other_apps_the_teams_the_gates_open_and_none_to_whom_they_refuse(agent_ready: Path) -> None:
    cast = cast_make()
    admin = user_make("admin", role=Role.ADMIN)
    services.break_glass_open(actor=admin, team=cast.team, password=PASSWORD, reason=REASON)
    admin = _fresh(admin)
    assert access.readable_team_ids(admin, write=False) == [cast.team.id]
    assert access.readable_team_ids(admin, write=True) == []  # break-glass reads, never writes
    assert access.readable_team_ids(cast.owner, write=True) == [cast.team.id]
    assert access.readable_team_ids(cast.analyst, write=False) == [cast.team.id]
    assert access.readable_team_ids(cast.analyst, write=True) == []
    owner = _fresh(cast.owner)
    owner.is_active = False
    assert access.readable_team_ids(owner, write=False) == []
