"""Public intake: sealed on arrival, no metadata kept, codename return, triage through the key agent."""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.db import connection
from django.test import Client, override_settings

from kartoteka.accounts.models import Role, User
from kartoteka.accounts.testing import login_verified
from kartoteka.intake import checks, headers, limits, services
from kartoteka.intake.models import Reply, Reporter, Submission, SubmissionFile
from kartoteka.intake.triage import services as triage
from kartoteka.intake.triage.models import TriageKey
from kartoteka.lib import crypto, intakekeys, keys
from kartoteka.testing import canary
from kartoteka.testing.factories import cast_make, user_make

PASSPHRASE = "triage passphrase for tests"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_bucket() -> Iterator[None]:
    limits.reset()
    yield
    limits.reset()


def _codename(response: object) -> str:
    html = response.content.decode()  # type: ignore[attr-defined]
    match = re.search(r'<p class="codename" id="codename">([^<]+)</p>', html)
    assert match, "no codename on the receipt"
    return match.group(1).strip()


def _report(
    client: Client, lang: str = "ru", files: list[tuple[str, bytes]] = (), **fields: object
) -> object:  # type: ignore[assignment]
    data: dict[str, object] = {"relationship": "mother", **fields}
    if files:
        data["files"] = [_named(name, content) for name, content in files]
    return client.post(f"/report/?lang={lang}", data, **_hostile_meta())


def _named(name: str, content: bytes) -> io.BytesIO:
    fh = io.BytesIO(content)
    fh.name = name
    return fh


IP_MARKER = "198.51.100.173"
XFF_MARKER = "203.0.113.219"
UA_MARKER = "CanaryAgent/" + secrets.token_hex(6)


def _hostile_meta() -> dict[str, str]:
    return {"REMOTE_ADDR": IP_MARKER, "HTTP_X_FORWARDED_FOR": XFF_MARKER, "HTTP_USER_AGENT": UA_MARKER}


def _triager(username: str = "triager") -> User:
    cast = cast_make() if not User.objects.filter(username="owner").exists() else None
    user = user_make(username, role=Role.COORDINATOR, teams=(cast.team,) if cast else ())
    triage.triage_key_create(actor=user, user=user, passphrase=PASSPHRASE)
    return user


def _scan_paths(copy_name: str) -> tuple[list[Path], str | None]:
    data_dir = Path(settings.DATA_DIR)
    paths = [data_dir]
    if connection.vendor == "sqlite":
        name = Path(str(connection.settings_dict["NAME"]))
        paths += [p for p in (name, Path(f"{name}-wal")) if p.exists()]
        paths.append(canary.sqlite_copy(data_dir / copy_name))
        return paths, None
    s = connection.settings_dict
    return paths, f"postgresql://{s['USER']}@{s['HOST']}:{s['PORT'] or 5432}/{s['NAME']}"


# --- the canary ------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_it_leaves_no_marker_of_a_report_or_its_sender_anywhere(agent_ready: Path) -> None:
    _triager()
    m = {
        k: f"Канарейка{k}{secrets.token_hex(6)}"
        for k in ("name", "facility", "what", "when", "promised", "became", "contact", "file")
    }
    file_body = ("Свидетельство " + m["file"] + "\n").encode() * 50
    response = _report(
        Client(),
        person_name=m["name"],
        birth_year="1985",
        facility=m["facility"],
        categories=["beating", "parcels_blocked"],
        what_text=m["what"],
        when=m["when"],
        promised=m["promised"],
        became=m["became"],
        contact=m["contact"],
        files=[("показания " + m["name"] + ".txt", file_body)],
    )
    assert response.status_code == 200  # type: ignore[attr-defined]
    codename = _codename(response)
    markers: list[str | bytes] = [*m.values(), IP_MARKER, XFF_MARKER, UA_MARKER, codename]
    assert Submission.objects.count() == 1 and SubmissionFile.objects.count() == 1
    paths, dsn = _scan_paths("intake-canary-copy.sqlite3")
    try:
        canary.assert_clean(markers, paths, postgres_dsn=dsn, include_tmpdir=True)
    finally:
        (Path(settings.DATA_DIR) / "intake-canary-copy.sqlite3").unlink(missing_ok=True)


@pytest.mark.django_db
def test_it_keeps_a_10_mb_upload_out_of_tmpdir(agent_ready: Path) -> None:
    _triager()
    marker = "TmpCanary" + secrets.token_hex(8)
    big = (("line of testimony " * 4 + marker + "\n") * 200_000)[: 10 * 1024 * 1024].encode()
    tmp = Path(tempfile.gettempdir())
    before = {p for p in tmp.rglob("*") if p.is_file()}
    response = _report(Client(), what_text="big file", files=[("big.txt", big)])
    assert response.status_code == 200  # type: ignore[attr-defined]
    after = {p for p in tmp.rglob("*") if p.is_file()}
    new = [p for p in after - before if "kartoteka-test-" not in str(p)]
    assert new == [], f"{len(new)} new file(s) in $TMPDIR"
    canary.assert_clean([marker], [], include_processes=False, include_tmpdir=True)
    assert SubmissionFile.objects.count() == 1


@pytest.mark.django_db
def test_it_keeps_times_to_the_day_and_ids_random(agent_ready: Path) -> None:
    _triager()
    assert _report(Client(), what_text="x" * 20).status_code == 200  # type: ignore[attr-defined]
    sub = Submission.objects.get()
    assert sub.id.version == 4 and sub.reporter.id.version == 4
    assert sub.received_day == services.today()
    # Every column of the intake's tables: no datetimes, and nothing that looks like an address.
    for model in (Submission, Reporter, SubmissionFile, Reply):
        for f in model._meta.get_fields():
            assert f.get_internal_type() != "DateTimeField" if hasattr(f, "get_internal_type") else True
    if connection.vendor == "sqlite" and Path(str(connection.settings_dict["NAME"])).exists():
        stamp = Path(str(connection.settings_dict["NAME"])).stat().st_mtime
        assert stamp % 86400 == 0


# --- headers, limits, files ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_sends_strict_headers_and_no_cookie_on_intake_pages(agent_ready: Path) -> None:
    _triager()
    client = Client()
    for response in (
        client.get("/report/"),
        client.get("/report/?lang=en"),
        client.get("/report/return/"),
        _report(client, what_text="headers"),
    ):
        assert response.status_code == 200  # type: ignore[attr-defined]
        for name, value in headers.HEADERS.items():
            assert response[name] == value  # type: ignore[index]
        assert not response.cookies  # type: ignore[attr-defined]
    html = client.get("/report/?lang=en").content.decode()
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "Report what happened" in html
    assert "Сообщить о нарушении" in client.get("/report/").content.decode()


@pytest.mark.django_db
def test_it_refuses_a_flood_and_says_so(agent_ready: Path) -> None:
    _triager()
    client = Client()
    with override_settings(KARTOTEKA_INTAKE_BURST=2, KARTOTEKA_INTAKE_RATE_PER_MINUTE=1):
        codes = [_report(client, lang="en", what_text="flood").status_code for _ in range(4)]  # type: ignore[attr-defined]
        refused = _report(client, lang="en", what_text="flood")
    assert codes[:2] == [200, 200] and codes[2:] == [429, 429]
    assert refused.status_code == 429 and "NOT saved" in refused.content.decode()  # type: ignore[attr-defined]
    assert Submission.objects.count() == 2


@pytest.mark.django_db
def test_it_refuses_when_the_quota_is_full_and_files_over_the_limits(agent_ready: Path) -> None:
    _triager()
    client = Client()
    with override_settings(KARTOTEKA_INTAKE_QUOTA_MB=0):
        assert _report(client, what_text="quota").status_code == 503  # type: ignore[attr-defined]
    with override_settings(KARTOTEKA_INTAKE_MAX_FILE_MB=1):
        over = _report(client, what_text="big", files=[("a.txt", b"a" * (1024 * 1024 + 1))])
    assert over.status_code == 413  # type: ignore[attr-defined]
    with override_settings(KARTOTEKA_INTAKE_MAX_FILES=1):
        many = _report(client, what_text="many", files=[("a.txt", b"text one"), ("b.txt", b"text two")])
    assert many.status_code == 413  # type: ignore[attr-defined]
    exe = _report(client, what_text="exe", files=[("x.exe", b"MZ\x90\x00" + bytes(range(256)) * 4)])
    assert exe.status_code == 400 and "Accepted" in exe.content.decode()  # type: ignore[attr-defined]
    assert Submission.objects.count() == 0


@pytest.mark.django_db
def test_it_handles_a_path_as_a_filename(agent_ready: Path) -> None:
    user = _triager()
    data_dir = Path(settings.DATA_DIR)
    response = _report(
        Client(), what_text="path", files=[("../../etc/passwd", b"root:x:0:0:root:/root:/bin/bash\n")]
    )
    assert response.status_code == 200  # type: ignore[attr-defined]
    triage.triage_unlock(user=user, passphrase=PASSPHRASE)
    view = triage.submission_open(user=user, submission_id=Submission.objects.get().id)
    assert [f.name for f in view.files] == ["passwd"]
    assert not (data_dir.parent / "etc" / "passwd").exists() and not (data_dir / "etc").exists()


# --- who can open what -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_stores_what_the_public_side_cannot_open_and_triage_can_after_unlocking(agent_ready: Path) -> None:
    user = _triager()
    marker = "Opened" + secrets.token_hex(6)
    codename = _codename(_report(Client(), what_text=marker))
    sub = Submission.objects.get()
    # The public side holds the reporter's reply identity (through the codename) and public keys only.
    reporter = sub.reporter
    ck = intakekeys.codename_keys(codename)
    reply_secret = intakekeys.reply_secret_unwrap(
        ck.reply_key, str(reporter.id), bytes(reporter.reply_secret_wrapped)
    )
    with pytest.raises(crypto.IntegrityError):
        crypto.unseal(bytes(sub.sealed), reply_secret)
    # The key stays locked until its owner unlocks it with their passphrase.
    with pytest.raises(keys.LockedError):
        triage.submission_open(user=user, submission_id=sub.id)
    with pytest.raises(keys.UnlockError):
        triage.triage_unlock(user=user, passphrase="not the passphrase at all")
    triage.triage_unlock(user=user, passphrase=PASSPHRASE)
    view = triage.submission_open(user=user, submission_id=sub.id)
    assert view.fields["what_text"] == marker and view.fields["relationship"] == "mother"
    # Someone without a key sees no queue at all.
    outsider = user_make("nokey", role=Role.CASEWORKER)
    with pytest.raises(triage.NoTriageKey):
        triage.submission_open(user=outsider, submission_id=sub.id)


@pytest.mark.django_db
def test_it_stops_sealing_to_a_revoked_key(agent_ready: Path) -> None:
    keeper = _triager("keeper")
    leaver = _triager("leaver")
    _report(Client(), what_text="before the revocation")
    old = Submission.objects.get()
    leaver_key = TriageKey.objects.get(user=leaver)
    leaver_secret = intakekeys.triage_secret_unwrap(
        str(leaver.id), bytes(leaver_key.sealed_secret), PASSPHRASE
    )
    crypto.unseal(bytes(old.sealed), leaver_secret)  # sealed to the leaver while the key was active
    triage.triage_key_revoke(actor=keeper if keeper.role == Role.ADMIN else leaver, key=leaver_key)
    _report(Client(), what_text="after the revocation")
    new = Submission.objects.exclude(pk=old.pk).get()
    with pytest.raises(crypto.IntegrityError):
        crypto.unseal(bytes(new.sealed), leaver_secret)
    with pytest.raises(triage.NoTriageKey):
        triage.triage_unlock(user=leaver, passphrase=PASSPHRASE)
    triage.triage_unlock(user=keeper, passphrase=PASSPHRASE)
    assert (
        triage.submission_open(user=keeper, submission_id=new.id).fields["what_text"]
        == "after the revocation"
    )


@pytest.mark.django_db(transaction=True)
def test_it_keeps_key_bytes_out_of_sessions_and_caches(agent_ready: Path) -> None:
    user = _triager()
    key = TriageKey.objects.get(user=user)
    secret = intakekeys.triage_secret_unwrap(str(user.id), bytes(key.sealed_secret), PASSPHRASE)
    _report(Client(), what_text="session check")
    client = Client()
    login_verified(client, user)
    assert client.post("/intake/triage/unlock/", {"passphrase": PASSPHRASE, "minutes": 30}).status_code == 302
    sub = Submission.objects.get()
    page = client.get(f"/intake/triage/{sub.id}/")
    assert page.status_code == 200 and "session check" in page.content.decode()
    with connection.cursor() as cursor:
        cursor.execute("SELECT session_data FROM django_session")
        sessions = " ".join(str(r[0]) for r in cursor.fetchall())
    for needle in (secret, secret.lower(), PASSPHRASE):
        assert needle not in sessions
    from django.core.cache import cache

    cache_dump = repr(getattr(cache, "_cache", {}))
    assert secret not in cache_dump and PASSPHRASE not in cache_dump
    paths, dsn = _scan_paths("intake-session-copy.sqlite3")
    try:
        canary.assert_clean(
            [secret, secret.lower(), PASSPHRASE], paths, postgres_dsn=dsn, include_tmpdir=True
        )
    finally:
        (Path(settings.DATA_DIR) / "intake-session-copy.sqlite3").unlink(missing_ok=True)


# --- the reporter's return -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_lets_a_reporter_return_add_information_and_read_a_reply(agent_ready: Path) -> None:
    user = _triager()
    client = Client()
    codename = _codename(_report(client, lang="en", what_text="first report"))
    sub = Submission.objects.get()
    triage.triage_unlock(user=user, passphrase=PASSPHRASE)
    triage.reply_send(actor=user, submission_id=sub.id, text="We received it. Can you tell us the facility?")
    wrong = client.post("/report/return/?lang=en", {"codename": "волна " * 7})
    assert wrong.status_code == 403 and "did not work" in wrong.content.decode()
    response = client.post(
        "/report/return/?lang=en",
        {"codename": codename.upper().replace(" ", "  "), "add_text": "IK-2, in March"},
        **_hostile_meta(),
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Can you tell us the facility?" in html and "Your addition was received." in html
    followup = Submission.objects.get(kind="followup")
    assert followup.reporter_id == sub.reporter_id
    assert (
        triage.submission_open(user=user, submission_id=followup.id).fields["what_text"] == "IK-2, in March"
    )
    # Staff see their own reply in the thread too.
    assert triage.submission_open(user=user, submission_id=sub.id).replies == [
        "We received it. Can you tell us the facility?"
    ]


# --- triage into records ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_turns_a_submission_into_linked_records(agent_ready: Path) -> None:
    user = _triager()
    team = user.teams.get()
    _report(
        Client(),
        person_name="Иванов Пётр Сергеевич",
        birth_year="1985",
        categories=["beating"],
        what_text="Избили после отказа подписать контракт",
        when="весна 2023",
        promised="200 тысяч в месяц",
        files=[("photo.txt", b"a plain text file standing in for evidence\n")],
    )
    sub = Submission.objects.get()
    triage.triage_unlock(user=user, passphrase=PASSPHRASE)
    made = triage.submission_triage(
        actor=user,
        submission_id=sub.id,
        data=triage.TriageInput(
            team=team,
            full_name="Иванов Пётр Сергеевич",
            birth_year=1985,
            categories=("beating",),
            description="Избили",
            when="весна 2023",
            promise_kind="monthly_pay",
            promise_details="200 тысяч в месяц",
        ),
    )
    assert set(made) == {"source", "person", "incident", "promise"}
    view = triage.submission_open(user=user, submission_id=sub.id)
    assert view.status == "triaged" and {t for t, _ in view.links} == set(made)
    hits = triage.duplicates(user=user, view=view)
    assert [str(h.person_id) for h in hits] == [made["person"]]
    items = triage.files_to_vault(actor=user, submission_id=sub.id)
    assert len(items) == 1 and SubmissionFile.objects.get().vault_item == items[0]


# --- deployments -----------------------------------------------------------------------------------------


def _intake_check(keys_dir: Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KARTOTEKA_", "DJANGO_", "DATABASE_URL", "PYTEST"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="kartoteka.settings_intake",
        KARTOTEKA_SECRET_KEY=secrets.token_hex(16),
        KARTOTEKA_DATA_DIR=str(data_dir),
        KARTOTEKA_KEYS_DIR=str(keys_dir),
    )
    code = "import django; django.setup(); from django.core.management import call_command; call_command('check')"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_it_refuses_to_start_the_intake_with_a_private_key(tmp_path: Path) -> None:
    public = tmp_path / "public-keys"
    public.mkdir()
    clean = _intake_check(public, tmp_path / "data-clean")
    assert clean.returncode == 0, clean.stderr[-2000:]
    private = tmp_path / "private-keys"
    keys.init(private, None, demo_key_file=tmp_path / "elsewhere" / "demo.key")
    refused = _intake_check(private, tmp_path / "data-private")
    assert refused.returncode != 0 and "kartoteka.E101" in refused.stderr
    assert "slots.json" in refused.stderr and "keyring.json" in refused.stderr


@pytest.mark.django_db
def test_it_finds_an_agent_socket_within_reach_of_the_intake(agent_ready: Path, tmp_path: Path) -> None:
    with override_settings(KARTOTEKA_INTAKE_ONLY=True, KEYS_DIR=tmp_path, AGENT_SOCKET=agent_ready):
        errors = [e for e in run_checks(tags=[checks.TAG]) if e.id == "kartoteka.E101"]
    assert any("socket" in e.msg for e in errors)
    with override_settings(
        KARTOTEKA_INTAKE_ONLY=True, KEYS_DIR=tmp_path, AGENT_SOCKET=tmp_path / "none.sock", DEMO=False
    ):
        assert [e for e in run_checks(tags=[checks.TAG]) if e.id == "kartoteka.E101"] == []


@pytest.mark.django_db
def test_it_hands_sealed_submissions_over_the_sync_channel_and_forgets_them(agent_ready: Path) -> None:
    _triager()
    _report(Client(), what_text="to be pulled", files=[("a.txt", b"some text to pull\n")])
    token = secrets.token_urlsafe(24)
    client = Client()
    with override_settings(KARTOTEKA_INTAKE_SYNC_TOKEN_SHA256=crypto.digest(token.encode()).hex()):
        assert client.post("/intake-sync/pull", "{}", content_type="application/json").status_code == 401
        bad = client.post(
            "/intake-sync/pull", "{}", content_type="application/json", HTTP_AUTHORIZATION="Bearer nope"
        )
        assert bad.status_code == 401
        auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        pulled = client.post(
            "/intake-sync/pull", json.dumps({"limit": 5}), content_type="application/json", **auth
        )
        items = pulled.json()["submissions"]
        assert len(items) == 1 and len(items[0]["files"]) == 1
        assert "to be pulled" not in pulled.content.decode()
        acked = client.post(
            "/intake-sync/ack", json.dumps({"ids": [items[0]["id"]]}), content_type="application/json", **auth
        )
        assert acked.json() == {"deleted": 1}
    assert Submission.objects.count() == 0 and SubmissionFile.objects.count() == 0
    # The casework side stores what it pulled (here the same database: the embedded set-up).
    assert services.sync_import(items) == [items[0]["id"]]
    assert Submission.objects.count() == 1 and SubmissionFile.objects.count() == 1


@pytest.mark.django_db
def test_it_lists_submissions_without_decrypting(
    agent_ready: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _triager()
    marker = "Listed" + secrets.token_hex(6)
    _report(Client(), what_text=marker)
    _report(Client(), what_text=marker)
    from kartoteka.intake import cli

    assert cli.cmd_list(None) == 0  # type: ignore[arg-type]
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and marker not in "".join(lines)
    ids = {str(i) for i in Submission.objects.values_list("id", flat=True)}
    for line in lines:
        sub_id, day, kind = line.split()
        assert sub_id in ids and day == services.today().isoformat() and kind == "report"
