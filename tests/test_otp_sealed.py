"""Second factors sealed by the key agent: enrolment and use, what the database holds, moved ciphertexts,
a locked or absent agent, and authenticators stored in clear before sealing (re-enrolment)."""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from base64 import b32encode
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.test import Client

from kartoteka.accounts import otp
from kartoteka.accounts.cli import cmd_otp_reset
from kartoteka.accounts.models import RecoveryCode, RecoveryCodeDevice, Role, SealedTOTPDevice, User
from kartoteka.accounts.testing import totp_code, totp_enrolled
from kartoteka.clicommands import CommandError
from kartoteka.core import clisession
from kartoteka.core.rotation import DatabaseStore
from kartoteka.lib import agent, crypto, keys
from kartoteka.testing import canary
from kartoteka.testing.factories import user_make

PASSWORD = "correct horse battery staple"  # the factories' password
LOCKED_MESSAGE = "агент ключей на сервере заперт или не запущен"  # Russian is the default language
WRONG_MESSAGE = "только один раз"
REENROL_MESSAGE = "kartoteka otp-reset"


def _password(client: Client, username: str) -> None:
    response = client.post("/accounts/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302


def _enrol(user: User) -> tuple[otp.Enrolment, list[str]]:
    """Enrolment through the services, as the set-up page does it: begin, then confirm with a code."""
    pending = otp.setup_begin(user=user)
    result = otp.setup_confirm(user=user, code=totp_code(pending))
    assert result is not None
    device, codes = result
    return otp.Enrolment(device=device, seed=pending.seed), codes


# --- enrolment and use ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_enrols_verifies_once_per_step_and_takes_each_recovery_code_once(agent_ready: Path) -> None:
    user = user_make("zaitseva")
    enrolment, codes = _enrol(user)
    assert otp.has_device(user)
    # The code that confirmed the device is used up; the next step's code opens, once.
    assert otp.code_verify(user=user, code=totp_code(enrolment)) is None
    SealedTOTPDevice.objects.filter(pk=enrolment.device.pk).update(throttling_failure_count=0)
    following = totp_code(enrolment, steps_ahead=1)
    assert otp.code_verify(user=user, code=following) == enrolment.device
    assert otp.code_verify(user=user, code=following) is None

    assert len(codes) == otp.RECOVERY_CODES == len(set(codes))
    used = otp.code_verify(user=user, code=codes[3].upper())
    assert isinstance(used, RecoveryCodeDevice)
    assert RecoveryCode.objects.filter(device__user=user).count() == otp.RECOVERY_CODES - 1
    RecoveryCodeDevice.objects.filter(user=user).update(throttling_failure_count=0)
    assert otp.code_verify(user=user, code=codes[3]) is None
    assert RecoveryCodeDevice.objects.get(user=user).throttling_failure_count == 1


@pytest.mark.django_db
def test_it_throttles_a_wrong_code_without_using_up_the_right_one(agent_ready: Path) -> None:
    user = user_make("belova")
    enrolment = totp_enrolled(user)
    right = totp_code(enrolment)
    wrong = "000000" if right != "000000" else "111111"
    assert otp.code_verify(user=user, code=wrong) is None
    device = SealedTOTPDevice.objects.get(pk=enrolment.device.pk)
    assert device.throttling_failure_count == 1
    assert otp.code_verify(user=user, code=right) is None  # refused while the 1 s delay runs
    SealedTOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
    assert otp.code_verify(user=user, code=right) == device


@pytest.mark.django_db
def test_it_puts_the_seed_in_the_otpauth_url_and_the_typed_secret_only(agent_ready: Path) -> None:
    user = user_make("frolov")
    enrolment = otp.setup_begin(user=user)
    secret = b32encode(enrolment.seed).decode().rstrip("=")
    url = otp.config_url(enrolment)
    assert url.startswith("otpauth://totp/Kartoteka%3Afrolov?")
    assert f"secret={secret}" in url
    assert "issuer=Kartoteka" in url
    assert otp.setup_secret(enrolment).replace(" ", "") == secret
    stored = SealedTOTPDevice.objects.get(pk=enrolment.device.pk)
    assert stored.sealed
    assert not stored.confirmed


# --- what the database holds ----------------------------------------------------------------------------


def _markers(seeds: list[bytes], codes: list[str]) -> list[bytes | str]:
    """Every encoding an app or a page uses: raw and hex (bytes markers), base32 both cases, and each
    recovery code as shown (grouped) and as typed (compact), both cases."""
    out: list[bytes | str] = list(seeds)
    for seed in seeds:
        text = b32encode(seed).decode().rstrip("=")
        out += [text, text.lower()]
    for code in codes:
        compact = code.replace(" ", "")
        out += [code, code.upper(), compact, compact.upper()]
    return out


@pytest.mark.django_db(transaction=True)
def test_it_stores_no_seed_and_no_recovery_code_in_any_encoding(agent_ready: Path) -> None:
    users = [user_make(f"canary{i}") for i in range(3)]
    enrolled = [_enrol(u) for u in users]
    for user, (enrolment, _) in zip(users, enrolled, strict=True):  # updated rows (last_t) on disk too
        assert otp.code_verify(user=user, code=totp_code(enrolment, steps_ahead=1)) is not None
    assert otp.code_verify(user=users[0], code=enrolled[0][1][0]) is not None
    seeds = [e.seed for e, _ in enrolled]
    codes = [c for _, cs in enrolled for c in cs]
    pending = otp.setup_begin(user=user_make("canary_pending"))
    seeds.append(pending.seed)

    data_dir = Path(settings.DATA_DIR)
    paths, dsn = [data_dir], None
    copy = data_dir / "otp-canary-copy.sqlite3"
    if connection.vendor == "sqlite":
        name = Path(str(connection.settings_dict["NAME"]))
        paths += [p for p in (name, Path(f"{name}-wal")) if p.exists()]
        paths.append(canary.sqlite_copy(copy))
    else:
        s = connection.settings_dict
        dsn = f"postgresql://{s['USER']}@{s['HOST']}:{s['PORT'] or 5432}/{s['NAME']}"
    try:
        canary.assert_clean(_markers(seeds, codes), paths, postgres_dsn=dsn, include_tmpdir=False)
    finally:
        copy.unlink(missing_ok=True)
    # The scan must be able to fail: the same markers are found once a seed is written in clear.
    RecoveryCodeDevice.objects.filter(user=users[0]).update(name=b32encode(seeds[0]).decode()[:32])
    try:
        found = canary.scan(
            _markers(seeds[:1], []),
            [canary.sqlite_copy(copy)] if dsn is None else [],
            postgres_dsn=dsn,
            include_tmpdir=False,
            include_processes=False,
        )
    finally:
        copy.unlink(missing_ok=True)
    assert found


@pytest.mark.django_db
def test_it_refuses_a_sealed_seed_moved_to_another_device_row(agent_ready: Path) -> None:
    victim, thief = user_make("victim"), user_make("thief")
    theirs, mine = totp_enrolled(victim), totp_enrolled(thief)
    # The thief copies the victim's sealed seed into their own row, then offers the victim's code.
    SealedTOTPDevice.objects.filter(pk=mine.device.pk).update(
        wrapped_key=theirs.device.wrapped_key, key_enc=theirs.device.key_enc
    )
    assert otp.code_verify(user=thief, code=totp_code(theirs)) is None
    assert SealedTOTPDevice.objects.get(pk=mine.device.pk).throttling_failure_count == 1
    assert otp.code_verify(user=victim, code=totp_code(theirs)) == theirs.device  # the original still opens


@pytest.mark.django_db
def test_it_refuses_a_recovery_key_moved_to_another_user(agent_ready: Path) -> None:
    victim, thief = user_make("victim2"), user_make("thief2")
    _, victim_codes = _enrol(victim)
    _enrol(thief)
    source = RecoveryCodeDevice.objects.get(user=victim)
    target = RecoveryCodeDevice.objects.get(user=thief)
    RecoveryCodeDevice.objects.filter(pk=target.pk).update(
        wrapped_key=source.wrapped_key, pepper_enc=source.pepper_enc
    )
    RecoveryCode.objects.filter(device=source).update(device=target)
    assert otp.code_verify(user=thief, code=victim_codes[0]) is None
    assert RecoveryCode.objects.filter(device=target).count() == 2 * otp.RECOVERY_CODES


# --- a locked or absent agent ---------------------------------------------------------------------------


@pytest.fixture
def locked_agent() -> Iterator[Path]:
    """A second, real agent that was never unlocked (its own keys, a passphrase nobody types)."""
    base = Path(tempfile.mkdtemp(prefix="kartoteka-otp-locked-"))
    os.chmod(base, 0o711)
    params = crypto.PassphraseParams.new(iterations=1, memory_kib=8 * 1024, lanes=1)
    keys.init(base / "keys", "a passphrase nobody types here", params=params)
    sock = base / "run" / "agent.sock"
    proc = agent.spawn(base / "keys", sock)
    try:
        yield sock
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(base, ignore_errors=True)


def _unchanged(enrolment: otp.Enrolment) -> None:
    device = SealedTOTPDevice.objects.get(pk=enrolment.device.pk)
    assert (device.last_t, device.throttling_failure_count) == (enrolment.device.last_t, 0)
    assert (device.wrapped_key, device.key_enc) == (enrolment.device.wrapped_key, enrolment.device.key_enc)


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["locked", "absent"])
def test_it_says_the_agent_is_locked_instead_of_wrong_code(
    agent_ready: Path, locked_agent: Path, settings: object, state: str
) -> None:
    user = user_make(f"sokolova_{state}")
    enrolment, codes = _enrol(user)
    client = Client()
    _password(client, user.username)
    settings.AGENT_SOCKET = locked_agent if state == "locked" else locked_agent.with_name("x.sock")
    for code in (totp_code(enrolment, steps_ahead=1), codes[0]):
        response = client.post("/accounts/login/otp/", {"code": code})
        assert response.status_code == 503
        page = response.content.decode()
        assert LOCKED_MESSAGE in page
        assert WRONG_MESSAGE not in page
    _unchanged(enrolment)
    assert RecoveryCode.objects.filter(device__user=user).count() == otp.RECOVERY_CODES
    assert RecoveryCodeDevice.objects.get(user=user).throttling_failure_count == 0
    # Once the agent answers again the same codes work: none was used up by the refusals.
    settings.AGENT_SOCKET = agent_ready
    assert client.post("/accounts/login/otp/", {"code": codes[0]}).status_code == 302


@pytest.mark.django_db
def test_it_enrols_nothing_while_the_agent_is_locked(
    agent_ready: Path, locked_agent: Path, settings: object
) -> None:
    user = user_make("egorov")
    client = Client()
    _password(client, "egorov")
    settings.AGENT_SOCKET = locked_agent
    page = client.get("/accounts/2fa/setup/")
    assert page.status_code == 503
    assert LOCKED_MESSAGE in page.content.decode()
    assert "<svg" not in page.content.decode()
    assert not SealedTOTPDevice.objects.filter(user=user).exists()


# --- authenticators stored in clear before sealing ------------------------------------------------------


def _legacy_table_make(user_ids: list[object]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE otp_totp_totpdevice (id integer PRIMARY KEY, user_id varchar(36), "
            "confirmed boolean, key varchar(80))"
        )
        for i, uid in enumerate(user_ids):
            value = uid.hex if connection.vendor == "sqlite" else str(uid)  # as each stores a UUID
            cursor.execute(
                "INSERT INTO otp_totp_totpdevice VALUES (%s, %s, %s, %s)", [i + 1, value, True, "ab" * 20]
            )


@pytest.mark.django_db
def test_it_retires_clear_text_authenticators_and_keeps_enrolment_closed(agent_ready: Path) -> None:
    user, fresh = user_make("staraya"), user_make("novaya")
    _legacy_table_make([user.id])
    migration = importlib.import_module("kartoteka.accounts.migrations.0003_sealed_otp_devices")
    # The migration uses only these two of its schema editor (whose SQLite flavour refuses to open
    # inside the test's transaction).
    editor = SimpleNamespace(connection=connection, quote_name=connection.ops.quote_name)
    migration.legacy_devices_retire(apps, editor)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM otp_totp_totpdevice")
        assert cursor.fetchone() == (0,)
        cursor.execute("DROP TABLE otp_totp_totpdevice")
    placeholder = SealedTOTPDevice.objects.get(user=user)
    assert placeholder.confirmed and not placeholder.sealed
    assert not SealedTOTPDevice.objects.filter(user=fresh).exists()

    # The password leads to the code step, never to enrolment; every code is refused with the reason.
    client = Client()
    _password(client, "staraya")
    assert client.get("/accounts/2fa/setup/")["Location"] == "/accounts/login/otp/"
    response = client.post("/accounts/login/otp/", {"code": "123456"})
    assert response.status_code == 403
    assert REENROL_MESSAGE in response.content.decode()


@pytest.mark.django_db
def test_it_lets_only_an_admin_reset_a_second_factor_from_the_cli(agent_ready: Path) -> None:
    user = user_make("lostphone")
    _enrol(user)
    admin, clerk = user_make("root", role=Role.ADMIN), user_make("clerk")
    clisession.open_for(clerk.username, minutes=5)
    clisession.open_for(admin.username, minutes=5)
    args = type("Args", (), {"username": "lostphone", "as_user": "clerk"})()
    with pytest.raises(CommandError):
        cmd_otp_reset(args)  # type: ignore[arg-type]
    assert otp.has_device(user)
    args.as_user = "root"
    assert cmd_otp_reset(args) == 0  # type: ignore[arg-type]
    assert not otp.has_device(user)
    assert not RecoveryCodeDevice.objects.filter(user=user).exists()
    client = Client()
    response = client.post("/accounts/login/", {"username": "lostphone", "password": PASSWORD})
    assert response["Location"] == "/accounts/2fa/setup/"


# --- key rotation ----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("reencrypt", [False, True])
def test_it_keeps_seeds_and_recovery_codes_working_across_key_rotation(
    agent_ready: Path, reencrypt: bool
) -> None:
    user, legacy = user_make(f"rotor_{reencrypt}"), user_make(f"legacy_{reencrypt}")
    enrolment, codes = _enrol(user)
    SealedTOTPDevice.objects.create(user=legacy, name="unsealed", confirmed=True, wrapped_key=b"")
    client = agent.AgentClient(settings.AGENT_SOCKET)
    before = client.status()["current_version"]

    report = keys.rotate(client, DatabaseStore(), reencrypt=reencrypt, batch_size=7)

    assert before in report.dropped_versions  # the old root is gone: nothing still needs it
    device = SealedTOTPDevice.objects.get(pk=enrolment.device.pk)
    recovery = RecoveryCodeDevice.objects.get(user=user)
    for wrapped in (device.wrapped_key, recovery.wrapped_key):
        assert keys.dek_key_version(bytes(wrapped)) == report.version
    assert otp.code_verify(user=user, code=totp_code(enrolment, steps_ahead=1)) == device
    assert otp.code_verify(user=user, code=codes[-1]) == recovery
