"""Writes for teams, users, shares, sign-in state, API tokens, break-glass and identity reads.

Each write that changes who may see what appends to the audit chain in the same transaction. Sign-in
bookkeeping (throttle rows, session index, identity-read rows) is not audited: it is not a decision.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from kartoteka.accounts.models import (
    ApiToken,
    BreakGlassGrant,
    IdentityRead,
    LoginThrottle,
    Membership,
    Notice,
    NoticeKind,
    Role,
    Share,
    Team,
    User,
    UserSession,
)
from kartoteka.audit.services import entry_append
from kartoteka.core import sealing
from kartoteka.core.fields import new_id
from kartoteka.lib import crypto

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
    """Add ``user`` to ``team``. An admin adding themselves is audited apart and the team is told."""
    self_join = actor is not None and actor.pk == user.pk and actor.role == Role.ADMIN
    with transaction.atomic():
        membership, created = Membership.objects.get_or_create(user=user, team=team)
        entry_append(
            actor=_actor_id(actor),
            action="membership.admin_self_add" if self_join else "membership.add",
            object_type="user",
            object_id=str(user.id),
            details={"team": str(team.id)},
        )
        if self_join and created:
            Notice.objects.create(
                team=team,
                kind=NoticeKind.ADMIN_JOINED,
                actor=actor,
                object_type="user",
                object_id=str(user.id),
            )
    _team_cache_clear(user)
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


def _team_cache_clear(user: User) -> None:
    # access.py caches team ids on the user object for one request; a membership change invalidates it.
    for attr in ("_kartoteka_team_ids", "_kartoteka_glass_team_ids"):
        if hasattr(user, attr):
            delattr(user, attr)


def _now() -> datetime:
    return timezone.now()


# --- password throttling per account ---------------------------------------------------------------------


def _account_tag(username: str) -> int:
    """A keyed hash of the lower-cased name: equal for equal names, useless without the secret key."""
    root = crypto.digest(settings.SECRET_KEY.encode("utf-8"))
    key = crypto.derive_key(root, "accounts.login-throttle")
    return crypto.blind_index(key, username.strip().lower())


def login_delay(failures: int) -> timedelta:
    """1 s after the first failure, doubling, capped (15 min by default): slows guessing, never locks out."""
    if failures <= 0:
        return timedelta(0)
    cap: int = settings.KARTOTEKA_LOGIN_MAX_DELAY_SECONDS
    return timedelta(seconds=min(2 ** min(failures - 1, 30), cap))


def login_throttle_wait(*, username: str, now: datetime | None = None) -> float:
    """Seconds before a password for this account name is checked again; 0.0 when it may be tried now."""
    row = LoginThrottle.objects.filter(account_tag=_account_tag(username)).first()
    if row is None or row.next_allowed_at is None:
        return 0.0
    return max(0.0, (row.next_allowed_at - (now or _now())).total_seconds())


def login_failure_record(*, username: str, now: datetime | None = None) -> timedelta:
    """Count one failed password for this account name and return the delay before the next attempt."""
    moment = now or _now()
    with transaction.atomic():
        row, _ = LoginThrottle.objects.select_for_update().get_or_create(account_tag=_account_tag(username))
        row.failures += 1
        delay = login_delay(row.failures)
        row.next_allowed_at = moment + delay
        row.save(update_fields=["failures", "next_allowed_at", "updated_at"])
    return delay


def login_success_record(*, username: str) -> None:
    LoginThrottle.objects.filter(account_tag=_account_tag(username)).delete()


# --- sessions ------------------------------------------------------------------------------------------------

# Unix seconds, kept in the session itself: when the password was accepted, and when it was last used.
SESSION_AUTH_AT = "kartoteka_auth_at"
SESSION_SEEN_AT = "kartoteka_seen_at"


def _session_store(session_key: str) -> SessionBase:
    from importlib import import_module

    engine = import_module(settings.SESSION_ENGINE)
    store: SessionBase = engine.SessionStore(session_key=session_key)
    return store


def session_track(*, request: HttpRequest, user: User) -> None:
    """Index the request's session under its user and stamp its start (called on every login())."""
    session = request.session
    stamp = int(_now().timestamp())
    session[SESSION_AUTH_AT] = stamp
    session[SESSION_SEEN_AT] = stamp
    if session.session_key is None:
        session.save()
    key = session.session_key
    if key is None:  # pragma: no cover - save() always assigns one
        return
    stale = _now() - timedelta(seconds=settings.SESSION_COOKIE_AGE)
    UserSession.objects.filter(user=user, created_at__lt=stale).delete()
    UserSession.objects.update_or_create(session_key=key, defaults={"user": user})


def session_rekey(*, request: HttpRequest, user: User) -> None:
    """A fresh session id after a privilege step (the second factor), keeping the session's contents."""
    old = request.session.session_key
    request.session.cycle_key()
    new = request.session.session_key
    if old:
        UserSession.objects.filter(session_key=old).delete()
    if new:
        UserSession.objects.update_or_create(session_key=new, defaults={"user": user})


def session_forget(*, session_key: str | None) -> None:
    if session_key:
        UserSession.objects.filter(session_key=session_key).delete()


def sessions_end(*, user: User) -> int:
    """Delete every session ``user`` holds, whatever backend stores them. Returns how many were indexed."""
    keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    for key in keys:
        _session_store(key).delete(key)
    UserSession.objects.filter(user=user).delete()
    return len(keys)


def _may_manage_user(actor: User, user: User) -> bool:
    if not actor.is_active:
        return False
    if actor.role == Role.ADMIN:
        return True
    if actor.role != Role.COORDINATOR or user.role == Role.ADMIN:
        return False
    return Membership.objects.filter(user=user, team__in=actor.teams.all()).exists()


def user_deactivate(*, actor: User, user: User) -> None:
    """Offboarding: the account stops working at once, in every session and with every API token.

    Sessions are found through UserSession, the index written at every login (so no session is decoded);
    ModelBackend also drops inactive users on each request, a second lock on the same door.
    """
    if not _may_manage_user(actor, user):
        raise PermissionDenied
    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active"])
        revoked = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=_now())
        ended = sessions_end(user=user)
        entry_append(
            actor=str(actor.id),
            action="user.deactivate",
            object_type="user",
            object_id=str(user.id),
            details={"tokens": revoked, "sessions": ended},
        )


# --- API tokens -----------------------------------------------------------------------------------------------

TOKEN_PREFIX = "kt_"  # noqa: S105 - a marker that says "this is a Kartoteka token", not a secret
_TOKEN_MAX_CHARS = 64


def _token_hash(raw: str) -> str:
    return crypto.digest(raw.encode("utf-8")).hex()


def api_token_create(*, user: User, name: str, days: int) -> tuple[str, ApiToken]:
    """A new bearer token for ``user``: (the token, shown once and never stored; its row).

    Callers offer this only in a session that passed the second factor (the middleware sees to it).
    """
    max_days: int = settings.KARTOTEKA_API_TOKEN_MAX_DAYS
    if not 1 <= days <= max_days:
        raise ValueError(f"days must be between 1 and {max_days}")
    name = name.strip()
    if not name or len(name) > 80:
        raise ValueError("name must be 1 to 80 characters")
    if not user.is_active:
        raise PermissionDenied
    raw = TOKEN_PREFIX + base64.urlsafe_b64encode(crypto.random_key()).rstrip(b"=").decode("ascii")
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name, token_hash=_token_hash(raw), expires_at=_now() + timedelta(days=days)
        )
        entry_append(
            actor=str(user.id),
            action="api_token.create",
            object_type="api_token",
            object_id=str(token.id),
            details={"days": days},
        )
    return raw, token


def api_token_revoke(*, actor: User, token: ApiToken) -> None:
    if token.user_id != actor.pk and not (actor.is_active and actor.role == Role.ADMIN):
        raise PermissionDenied
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=_now())
        if updated:
            entry_append(
                actor=str(actor.id),
                action="api_token.revoke",
                object_type="api_token",
                object_id=str(token.id),
            )
    token.refresh_from_db(fields=["revoked_at"])


def api_token_user(raw: str) -> User | None:
    """The active user a live token belongs to, or None (unknown, expired, revoked or deactivated)."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > _TOKEN_MAX_CHARS:
        return None
    token = ApiToken.objects.select_related("user").filter(token_hash=_token_hash(raw)).first()
    if token is None or not token.is_live(_now()) or not token.user.is_active:
        return None
    return token.user


# --- teams: members and shares, managed by coordinators ------------------------------------------------------


def team_member_add(*, actor: User, team: Team, username: str) -> Membership:
    from kartoteka.accounts import access

    if not access.team_manageable(actor, team):
        raise access.NotFound
    user = User.objects.filter(username=username.strip(), is_active=True).first()
    if user is None:
        raise ValueError("no active user with that username")
    return membership_add(actor=actor, user=user, team=team)


def team_member_remove(*, actor: User, team: Team, user: User) -> None:
    from kartoteka.accounts import access

    if not access.team_manageable(actor, team):
        raise access.NotFound
    with transaction.atomic():
        deleted, _ = Membership.objects.filter(user=user, team=team).delete()
        if deleted:
            entry_append(
                actor=str(actor.id),
                action="membership.remove",
                object_type="user",
                object_id=str(user.id),
                details={"team": str(team.id)},
            )
    _team_cache_clear(user)


def share_revoke(*, actor: User, share: Share) -> None:
    """Withdraw a share of one of the team's objects; only the owning team's managers may."""
    from kartoteka.accounts import access, selectors

    team_id = selectors.share_owner_team_id(share)
    team = Team.objects.filter(pk=team_id).first() if team_id else None
    if team is None or not access.team_manageable(actor, team):
        raise access.NotFound
    with transaction.atomic():
        share_id = str(share.id)
        share.delete()
        entry_append(
            actor=str(actor.id),
            action="share.revoke",
            object_type=share.object_type,
            object_id=str(share.object_id),
            details={"share": share_id},
        )


# --- break-glass ------------------------------------------------------------------------------------------------


class ReauthFailed(Exception):
    """The password given again was wrong, or the account is in a throttle delay."""


def break_glass_open(
    *, actor: User, team: Team, password: str, reason: str, now: datetime | None = None
) -> BreakGlassGrant:
    """Let an admin read (never write) another team's records for a limited time, on the record.

    Asks for the password again (throttled like a login), seals the reason, appends an audit entry and
    leaves a notice for the team's coordinators.
    """
    if not actor.is_active or actor.role != Role.ADMIN:
        raise PermissionDenied
    if Membership.objects.filter(user=actor, team=team).exists():
        raise ValueError("you are a member of this team already")
    reason = reason.strip()
    if len(reason) < 10:
        raise ValueError("state the reason (at least 10 characters)")
    moment = now or _now()
    if login_throttle_wait(username=actor.username, now=moment) > 0:
        raise ReauthFailed
    if not actor.check_password(password):
        login_failure_record(username=actor.username, now=moment)
        raise ReauthFailed
    login_success_record(username=actor.username)
    minutes: int = settings.KARTOTEKA_BREAK_GLASS_MINUTES
    grant_id = new_id()
    wrapped, fields = sealing.rows_seal("accounts.breakglassgrant", [(str(grant_id), {"reason": reason})])[0]
    with transaction.atomic():
        grant = BreakGlassGrant.objects.create(
            id=grant_id,
            user=actor,
            team=team,
            wrapped_key=wrapped,
            reason_enc=fields.get("reason"),
            expires_at=moment + timedelta(minutes=minutes),
        )
        entry_append(
            actor=str(actor.id),
            action="break_glass.open",
            object_type="team",
            object_id=str(team.id),
            details={"grant": str(grant.id), "minutes": minutes},
        )
        Notice.objects.create(
            team=team,
            kind=NoticeKind.BREAK_GLASS,
            actor=actor,
            object_type="break_glass",
            object_id=str(grant.id),
        )
    _team_cache_clear(actor)
    return grant


# --- notices ------------------------------------------------------------------------------------------------------


def notice_mark_read(*, user: User, notice_id: uuid.UUID | str) -> None:
    from kartoteka.accounts import access, selectors

    try:
        updated = (
            selectors.notices_for_user(user).filter(pk=notice_id, read_at__isnull=True).update(read_at=_now())
        )
    except (ValueError, TypeError) as exc:
        raise access.NotFound from exc
    if not updated and not selectors.notices_for_user(user).filter(pk=notice_id).exists():
        raise access.NotFound


# --- identity reads ----------------------------------------------------------------------------------------------

IDENTITY_ALERT_ACTOR = "system:identity-reads"


def identity_reads_log(
    *, user: User, person_ids: Iterable[uuid.UUID | str], now: datetime | None = None
) -> int:
    """Record that ``user`` was shown these persons' identity fields (who, when, which; no content).

    More than KARTOTEKA_IDENTITY_READ_ALERT reads by one user within the window leaves one notice per
    window for the coordinators of the user's teams (or, for a user without a team, of the persons' teams).
    """
    ids = list(dict.fromkeys(uuid.UUID(str(p)) for p in person_ids))
    if not ids:
        return 0
    moment = now or _now()
    with transaction.atomic():
        IdentityRead.objects.bulk_create(
            [IdentityRead(user=user, person_id=pid, at=moment) for pid in ids], batch_size=1000
        )
        _identity_alert_check(user, ids, moment)
    return len(ids)


def _identity_alert_check(user: User, ids: list[uuid.UUID], moment: datetime) -> None:
    since = moment - timedelta(minutes=settings.KARTOTEKA_IDENTITY_READ_WINDOW_MINUTES)
    limit: int = settings.KARTOTEKA_IDENTITY_READ_ALERT
    if Notice.objects.filter(kind=NoticeKind.IDENTITY_READS, actor=user, created_at__gt=since).exists():
        return
    count = IdentityRead.objects.filter(user=user, at__gt=since, at__lte=moment).count()
    if count <= limit:
        return
    team_ids = list(Membership.objects.filter(user=user).values_list("team_id", flat=True))
    if not team_ids:
        from kartoteka.people.models import Person

        team_ids = list(Person.objects.filter(id__in=ids).values_list("team_id", flat=True).distinct())
    Notice.objects.bulk_create(
        [
            Notice(
                team_id=tid,
                kind=NoticeKind.IDENTITY_READS,
                actor=user,
                object_type="user",
                object_id=str(user.id),
                created_at=moment,
            )
            for tid in dict.fromkeys(team_ids)
        ]
    )
    entry_append(
        actor=IDENTITY_ALERT_ACTOR,
        action="identity_reads.alert",
        object_type="user",
        object_id=str(user.id),
        details={"reads": count},
    )
