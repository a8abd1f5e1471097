"""Sign-in with a second factor, throttling, sessions, API tokens, offboarding and identity reads.

Everything runs through the real views, middleware and sealed devices (a real key agent); codes are
computed with django_otp.oath.TOTP from the seed an authenticator app would hold.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.utils import timezone

from kartoteka.accounts import otp, selectors, services
from kartoteka.accounts.middleware import PUBLIC_PATHS, is_public
from kartoteka.accounts.models import (
    ApiToken,
    LoginThrottle,
    Notice,
    NoticeKind,
    RecoveryCode,
    RecoveryCodeDevice,
    Role,
    SealedTOTPDevice,
    User,
    UserSession,
)
from kartoteka.accounts.testing import login_verified, totp_code, totp_enrolled
from kartoteka.lib import crypto
from kartoteka.testing import canary
from kartoteka.testing.factories import cast_make, user_make

PASSWORD = "correct horse battery staple"  # the factories' password


def _code(enrolment: otp.Enrolment, *, steps_ahead: int = 0) -> str:
    return totp_code(enrolment, steps_ahead=steps_ahead)


def _device(user: User) -> otp.Enrolment:
    return totp_enrolled(user)


def _password(client: Client, username: str, password: str = PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


def _session_key(client: Client) -> str:
    return str(client.cookies[settings.SESSION_COOKIE_NAME].value)


def _signed_in(client: Client, user: User, device: otp.Enrolment) -> None:
    assert _password(client, user.username).status_code == 302
    assert client.post("/accounts/login/otp/", {"code": _code(device)}).status_code == 302


# --- the two steps ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_changes_the_session_id_at_login_and_again_after_the_code(agent_ready: Path) -> None:
    user = user_make("ivanova")
    device = _device(user)
    client = Client()
    planted = client.session.session_key  # e.g. fixed by an attacker before sign-in
    assert planted
    assert Session.objects.filter(session_key=planted).exists()

    response = _password(client, "ivanova")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/otp/"
    after_password = _session_key(client)
    assert after_password != planted
    assert not Session.objects.filter(session_key=planted).exists()
    assert client.get("/").status_code == 302  # password alone opens nothing

    response = client.post("/accounts/login/otp/", {"code": _code(device)})
    assert response.status_code == 302
    assert response["Location"] == "/"
    after_code = _session_key(client)
    assert after_code not in (planted, after_password)
    assert not Session.objects.filter(session_key=after_password).exists()
    assert list(UserSession.objects.filter(user=user).values_list("session_key", flat=True)) == [after_code]
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_it_rejects_a_totp_code_used_twice(agent_ready: Path) -> None:
    user = user_make("petrov")
    device = _device(user)
    first, second = Client(), Client()
    code = _code(device)
    assert _password(first, "petrov").status_code == 302
    assert first.post("/accounts/login/otp/", {"code": code}).status_code == 302
    assert first.get("/").status_code == 200

    assert _password(second, "petrov").status_code == 302
    response = second.post("/accounts/login/otp/", {"code": code})
    assert response.status_code == 200
    assert "только один раз" in response.content.decode()  # Russian is the default language
    assert second.get("/")["Location"] == "/accounts/login/otp/"
    stored = SealedTOTPDevice.objects.get(pk=device.device.pk)
    assert stored.last_t >= 0
    assert stored.throttling_failure_count == 1


@pytest.mark.django_db
def test_it_accepts_each_recovery_code_once(agent_ready: Path) -> None:
    user = user_make("sidorova")
    _device(user)
    codes = otp.recovery_codes_new(user=user)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    a, b = Client(), Client()
    assert _password(a, "sidorova").status_code == 302
    assert a.post("/accounts/login/otp/", {"code": codes[0].upper()}).status_code == 302
    assert a.get("/").status_code == 200
    assert RecoveryCode.objects.filter(device__user=user).count() == 9

    assert _password(b, "sidorova").status_code == 302
    assert b.post("/accounts/login/otp/", {"code": codes[0]}).status_code == 200
    assert b.get("/").status_code == 302
    # The failed try throttled the recovery device for 1 s; let that pass instead of sleeping.
    RecoveryCodeDevice.objects.filter(user=user).update(
        throttling_failure_timestamp=None, throttling_failure_count=0
    )
    assert b.post("/accounts/login/otp/", {"code": codes[1]}).status_code == 302
    assert RecoveryCode.objects.filter(device__user=user).count() == 8


@pytest.mark.django_db
def test_it_enrols_a_user_without_a_device_and_shows_recovery_codes_once(agent_ready: Path) -> None:
    user = user_make("novikov")
    client = Client()
    response = _password(client, "novikov")
    assert response["Location"] == "/accounts/2fa/setup/"
    assert client.get("/")["Location"] == "/accounts/2fa/setup/"

    page = client.get("/accounts/2fa/setup/")
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    assert "<svg" in page.content.decode()
    first = _shown_enrolment(page.content.decode(), user)
    assert client.get("/accounts/2fa/setup/").status_code == 200  # a reload discards the shown secret
    assert not SealedTOTPDevice.objects.filter(pk=first.device.pk).exists()
    pending = _shown_enrolment(client.get("/accounts/2fa/setup/").content.decode(), user)
    assert pending.seed != first.seed

    wrong = "000000" if _code(pending) != "000000" else "111111"
    page = client.post("/accounts/2fa/setup/", {"code": wrong})
    assert page.status_code == 200
    assert not SealedTOTPDevice.objects.filter(user=user, confirmed=True).exists()
    pending = _shown_enrolment(page.content.decode(), user)
    done = client.post("/accounts/2fa/setup/", {"code": _code(pending)})
    assert done.status_code == 200
    assert "no-store" in done["Cache-Control"]
    shown = _shown_codes(done.content.decode())
    assert len(shown) == 10
    assert RecoveryCode.objects.filter(device__user=user).count() == 10
    assert client.get("/").status_code == 200
    # Enrolment is closed once a device exists: the page never shows a secret again.
    assert client.get("/accounts/2fa/setup/")["Location"] == "/accounts/login/otp/"
    assert SealedTOTPDevice.objects.filter(user=user).count() == 1
    # New recovery codes from a verified session replace the old ones, shown once again.
    renewed = _shown_codes(client.post("/accounts/2fa/recovery-codes/").content.decode())
    assert len(renewed) == 10
    assert RecoveryCode.objects.filter(device__user=user).count() == 10
    assert renewed.isdisjoint(shown)
    other = Client()
    assert _password(other, "novikov").status_code == 302
    assert other.post("/accounts/login/otp/", {"code": sorted(shown)[0]}).status_code == 200  # replaced
    RecoveryCodeDevice.objects.filter(user=user).update(throttling_failure_count=0)
    assert other.post("/accounts/login/otp/", {"code": sorted(renewed)[0]}).status_code == 302


def _shown_enrolment(page: str, user: User) -> otp.Enrolment:
    """The pending device and the seed as the page shows it for typing by hand."""
    match = re.search(r"<code>([A-Z2-7 ]+)</code>", page)
    assert match is not None
    typed = match.group(1).replace(" ", "")
    seed = base64.b32decode(typed + "=" * (-len(typed) % 8))
    return otp.Enrolment(device=SealedTOTPDevice.objects.get(user=user, confirmed=False), seed=seed)


def _shown_codes(page: str) -> set[str]:
    return set(re.findall(r"<li><code>([a-z2-7 ]+)</code></li>", page))


# --- the wall -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_refuses_anonymous_pages_and_api_but_not_public_paths() -> None:
    client = Client()
    page = client.get("/accounts/tokens/")
    assert page.status_code == 302
    assert page["Location"] == "/accounts/login/?next=%2Faccounts%2Ftokens%2F"
    api = client.get("/api/anything")
    assert api.status_code == 401
    assert api.json() == {"detail": "authentication required"}
    assert client.get("/healthz").status_code == 200
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/accounts/login/otp/")["Location"] == "/accounts/login/"
    assert client.get("/accounts/2fa/setup/")["Location"].startswith("/accounts/login/?next=")
    assert is_public("/static/kartoteka/site.css")
    assert not is_public("/accounts/tokens/")
    assert "/accounts/login/" in PUBLIC_PATHS
    assert not is_public("/accounts/2fa/setup/")


@pytest.mark.django_db
def test_it_keeps_a_password_only_session_to_the_code_step(agent_ready: Path) -> None:
    user = user_make("orlova")
    _device(user)
    client = Client()
    assert _password(client, "orlova").status_code == 302
    for path in ("/", "/accounts/tokens/", "/accounts/notices/"):
        assert client.get(path)["Location"] == "/accounts/login/otp/"
    assert client.get("/api/x").status_code == 401
    assert client.get("/accounts/login/otp/").status_code == 200


@pytest.mark.django_db
def test_it_logs_out_by_post_and_destroys_the_session() -> None:
    user = user_make("belov")
    client = Client()
    login_verified(client, user)
    key = _session_key(client)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/")["Location"] == "/accounts/login/"
    assert not Session.objects.filter(session_key=key).exists()
    assert not UserSession.objects.filter(session_key=key).exists()
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_it_ends_an_idle_session_and_one_past_its_absolute_lifetime() -> None:
    user = user_make("zaitsev")
    idle, old, fresh = Client(), Client(), Client()
    for c in (idle, old, fresh):
        login_verified(c, user)
    now = int(time.time())
    idle_limit = settings.KARTOTEKA_SESSION_IDLE_MINUTES * 60

    s = idle.session
    s[services.SESSION_SEEN_AT] = now - idle_limit - 5
    s.save()
    s = old.session
    s[services.SESSION_AUTH_AT] = now - settings.SESSION_COOKIE_AGE - 5  # used a second ago, but too old
    s.save()
    s = fresh.session
    s[services.SESSION_SEEN_AT] = now - idle_limit + 60
    s.save()

    idle_key = _session_key(idle)
    assert idle.get("/")["Location"] == "/accounts/login/?next=%2F"
    assert not Session.objects.filter(session_key=idle_key).exists()
    assert old.get("/").status_code == 302
    assert fresh.get("/").status_code == 200
    assert fresh.session[services.SESSION_SEEN_AT] >= now  # use pushes the idle clock on


# --- throttling ---------------------------------------------------------------------------------------------


def test_it_doubles_the_delay_from_one_second_to_a_fifteen_minute_cap() -> None:
    delays = [services.login_delay(n).total_seconds() for n in range(0, 14)]
    assert delays == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]


@pytest.mark.django_db
def test_it_throttles_one_account_with_growing_delays_and_leaves_others_alone() -> None:
    cast = cast_make()
    victim, other = Client(), Client()
    seen: list[float] = []
    for attempt in range(1, 5):
        LoginThrottle.objects.update(
            next_allowed_at=timezone.now() - timedelta(seconds=1)
        )  # the delay ran out
        assert _password(victim, "OWNER", "wrong password " * 2).status_code == 200
        row = LoginThrottle.objects.get()
        seen.append((row.next_allowed_at - timezone.now()).total_seconds())
        assert row.failures == attempt
        # While the delay runs even the right password is not checked; another account is untouched.
        refused = _password(victim, "owner")
        assert refused.status_code == 429
        assert "Повторите через" in refused.content.decode()  # Russian is the default language
        assert _password(other, "teammate").status_code == 302
        other.post("/accounts/logout/")
    assert [round(s) for s in seen] == [1, 2, 4, 8]
    assert LoginThrottle.objects.count() == 1  # "teammate" never had a row

    LoginThrottle.objects.update(next_allowed_at=timezone.now() - timedelta(seconds=1))
    assert _password(victim, "owner")["Location"] == "/accounts/2fa/setup/"  # signed in (no device yet)
    assert not LoginThrottle.objects.exists()  # a right password after the delay resets the count
    assert cast.owner.last_login is None
    assert User.objects.get(pk=cast.owner.pk).last_login is not None


@pytest.mark.django_db
def test_it_keys_the_throttle_by_a_keyed_hash_with_an_injectable_clock() -> None:
    t0 = timezone.now()
    assert services.login_failure_record(username="Ghost", now=t0) == timedelta(seconds=1)
    assert services.login_failure_record(username="ghost ", now=t0) == timedelta(seconds=2)
    assert services.login_throttle_wait(username="GHOST", now=t0 + timedelta(seconds=1)) == 1.0
    assert services.login_throttle_wait(username="GHOST", now=t0 + timedelta(seconds=3)) == 0.0
    assert services.login_throttle_wait(username="ghost2", now=t0) == 0.0
    row = LoginThrottle.objects.get()
    assert row.account_tag == services._account_tag("ghost") != services._account_tag("ghost2")
    assert {f.name for f in LoginThrottle._meta.get_fields()} == {
        "id", "account_tag", "failures", "next_allowed_at", "updated_at"
    }  # fmt: skip


def test_it_has_no_login_failed_receiver_outside_kartoteka() -> None:
    """django-axes and the like record request.META on this signal; nothing of the kind may listen."""
    sync, async_ = user_login_failed._live_receivers("django.contrib.auth")
    modules = [getattr(r, "__module__", "?") for r in [*sync, *async_]]
    assert all(m.startswith("kartoteka.") for m in modules), modules


@pytest.mark.django_db(transaction=True)
def test_it_stores_no_ip_user_agent_or_typed_name_after_failed_logins() -> None:
    user_make("kozlov")
    ip = f"10.{secrets.randbelow(200) + 20}.{secrets.randbelow(200) + 20}.{secrets.randbelow(200) + 20}"
    forwarded = f"203.0.113.9, canary-{secrets.token_hex(8)}"
    agent = f"Mozilla/5.0 (canary {secrets.token_hex(8)})"
    ghost = f"ghost_{secrets.token_hex(8)}"  # a name that exists nowhere must not be stored either
    meta = {"REMOTE_ADDR": ip, "HTTP_X_FORWARDED_FOR": forwarded, "HTTP_USER_AGENT": agent}
    client = Client(**meta)
    for name in ("kozlov", ghost, "kozlov"):
        LoginThrottle.objects.update(next_allowed_at=None)
        assert _password(client, name, "not the password at all").status_code == 200
    assert LoginThrottle.objects.count() == 2
    data_dir = Path(settings.DATA_DIR)
    paths = [data_dir]
    dsn = None
    copy = data_dir / "auth-canary-copy.sqlite3"
    if connection.vendor == "sqlite":
        name = Path(str(connection.settings_dict["NAME"]))
        paths += [p for p in (name, Path(f"{name}-wal")) if p.exists()]
        paths.append(canary.sqlite_copy(copy))
    else:
        s = connection.settings_dict
        dsn = f"postgresql://{s['USER']}@{s['HOST']}:{s['PORT'] or 5432}/{s['NAME']}"
    try:
        canary.assert_clean([ip, forwarded, agent, ghost], paths, postgres_dsn=dsn, include_tmpdir=False)
    finally:
        copy.unlink(missing_ok=True)


# --- API tokens and offboarding --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_creates_a_token_shown_once_and_stores_only_its_hash(agent_ready: Path) -> None:
    user = user_make("tokarev")
    client = Client()
    login_verified(client, user)
    page = client.post("/accounts/tokens/", {"name": "export script", "days": 30})
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    row = ApiToken.objects.get(user=user)
    raw = next(
        w for w in page.content.decode().replace("<", " ").replace(">", " ").split() if w.startswith("kt_")
    )
    assert len(raw) == 3 + 43
    assert row.token_hash == crypto.digest(raw.encode()).hex()
    assert raw not in row.token_hash
    assert raw not in client.get("/accounts/tokens/").content.decode()  # shown once
    assert services.api_token_user(raw) == user
    assert client.get("/api/nothing-here", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 404
    assert Client().get("/api/nothing-here", HTTP_AUTHORIZATION=f"Bearer {raw}x").status_code == 401

    client.post(f"/accounts/tokens/{row.id}/revoke/")
    assert services.api_token_user(raw) is None
    assert Client().get("/api/x", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401

    raw2, token2 = services.api_token_create(user=user, name="short", days=1)
    ApiToken.objects.filter(pk=token2.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.api_token_user(raw2) is None
    with pytest.raises(ValueError, match="days"):
        services.api_token_create(user=user, name="x", days=366)


@pytest.mark.django_db
def test_it_stops_a_deactivated_users_sessions_and_tokens_on_the_next_request(agent_ready: Path) -> None:
    cast = cast_make()
    admin = user_make("admin", role=Role.ADMIN)
    browser, laptop = Client(), Client()
    device = _device(cast.owner)
    _signed_in(browser, cast.owner, device)
    login_verified(laptop, cast.owner)
    raw, _token = services.api_token_create(user=cast.owner, name="sync", days=30)
    assert browser.get("/").status_code == 200
    assert laptop.get("/").status_code == 200
    assert Client().get("/api/none", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 404
    keys = [_session_key(browser), _session_key(laptop)]

    with pytest.raises(services.PermissionDenied):
        services.user_deactivate(actor=cast.outsider, user=cast.owner)
    services.user_deactivate(actor=admin, user=cast.owner)

    assert browser.get("/").status_code == 302
    assert laptop.get("/").status_code == 302
    assert not Session.objects.filter(session_key__in=keys).exists()
    assert Client().get("/api/none", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
    assert ApiToken.objects.get(user=cast.owner).revoked_at is not None
    assert _password(Client(), "owner").status_code == 200  # and cannot sign in again


# --- identity reads -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_logs_identity_reads_and_alerts_coordinators_once_per_window(
    agent_ready: Path, settings: object
) -> None:
    settings.KARTOTEKA_IDENTITY_READ_ALERT = 5  # type: ignore[attr-defined]
    cast = cast_make()
    t0 = timezone.now()
    people = [uuid.uuid4() for _ in range(12)]
    assert services.identity_reads_log(user=cast.owner, person_ids=people[:5], now=t0) == 5
    assert not Notice.objects.exists()
    services.identity_reads_log(user=cast.owner, person_ids=people[5:6], now=t0 + timedelta(minutes=1))
    notice = Notice.objects.get()
    assert (notice.team, notice.kind, notice.actor) == (cast.team, NoticeKind.IDENTITY_READS, cast.owner)
    services.identity_reads_log(user=cast.owner, person_ids=people[6:12], now=t0 + timedelta(minutes=2))
    assert Notice.objects.count() == 1  # once per window
    services.identity_reads_log(user=cast.teammate, person_ids=people[:3], now=t0 + timedelta(minutes=2))
    assert Notice.objects.count() == 1  # another user's few reads raise nothing
    later = t0 + timedelta(minutes=13)
    services.identity_reads_log(user=cast.owner, person_ids=people, now=later)
    assert Notice.objects.count() == 2

    readers = selectors.identity_readers(people[0])
    assert [(r.username, r.reads) for r in readers] == [("owner", 2), ("teammate", 1)]
    assert readers[0].last_at == later
    assert selectors.identity_readers(uuid.uuid4()) == []
