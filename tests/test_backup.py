"""Backups: `kartoteka backup` of a real installation (its own key agent, records, evidence, audit chain) on
SQLite and on PostgreSQL, `kartoteka restore` into a fresh directory with only the recovery secret, and
every way a damaged or forged backup must fail without leaving anything half-restored.

The installations are built in subprocesses (their own settings, data directory, database and agent), so
the backup and restore commands run exactly as an operator runs them. Names and evidence reach those
processes through standard input, never arguments, because the canary scan reads every command line.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from kartoteka.backups import snapshot
from kartoteka.backups.archive import BackupError, BackupIntegrityError
from kartoteka.backups.restore import restore
from kartoteka.lib import agent, audit, crypto, keys, vault
from kartoteka.testing import canary, postgres

# One worker runs them all under `pytest -n 2 --dist loadgroup`, so each installation is built once.
pytestmark = pytest.mark.xdist_group("backup")

KINDS = ["sqlite", "postgresql"]
ROOT = Path(__file__).resolve().parent.parent

POPULATE = r"""
import io, json, sys
from pathlib import Path
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
call_command("migrate", verbosity=0, interactive=False)
from kartoteka.accounts.models import Team
from kartoteka.audit.services import entry_append
from kartoteka.core import sealing
from kartoteka.lib import vault
from kartoteka.people.models import Record
from kartoteka.people.services import PersonInput, person_create
from kartoteka.testing.factories import user_make
spec = json.loads(sys.stdin.read())
team = Team.objects.create(name="Команда")
user = user_make("owner", teams=(team,))
records = {}
for name in spec["names"]:
    person = person_create(actor=user, team=team, data=PersonInput(full_name=name, notes=name + " notes"))
    records[str(Record.objects.get(person=person).id)] = name
root = Path(settings.EVIDENCE_DIR) / "vault"
items = {}
for path in spec["files"]:
    with open(path, "rb") as fh:
        m = vault.vault_ingest(root, sealing.client(), fh, actor=str(user.id), chunk_bytes=64 * 1024)
    with transaction.atomic():
        entry_append(actor=str(user.id), action="evidence.receive", object_type="evidence.item",
                     object_id=m.item_id, details={"original": m.sha256})
    items[m.item_id] = m.sha256
print(json.dumps({"records": records, "items": items}))
"""


@dataclass
class Installation:
    kind: str
    root: Path
    data_dir: Path
    env: dict[str, str]
    secret: str
    records: dict[str, str]  # record id -> full name
    items: dict[str, str]  # evidence item id -> SHA-256 of the original
    originals: dict[str, bytes]  # SHA-256 -> the original bytes
    markers: list[str]
    dsn: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _cli(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kartoteka.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=False,
    )


def _url(dsn: str) -> str:
    """A libpq key=value DSN as the URL DATABASE_URL takes."""
    p = psycopg.conninfo.conninfo_to_dict(dsn)
    auth = quote(str(p.get("user", "postgres"))) + (
        f":{quote(str(p['password']))}" if p.get("password") else ""
    )
    return f"postgres://{auth}@{p.get('host', '127.0.0.1')}:{p.get('port', 5432)}/{p['dbname']}"


def _evidence_bodies(markers: list[str]) -> list[bytes]:
    """A text file, a multi-chunk binary, each carrying markers, and a tiny one."""
    text = ("Показания: " + markers[0] + "\n").encode() * 50
    binary = secrets.token_bytes(150_000) + markers[1].encode() + secrets.token_bytes(70_001)
    return [text, binary, markers[2].encode()]


@pytest.fixture(params=KINDS)
def installation(request: pytest.FixtureRequest) -> Installation:
    """One installation per database kind, each built once per module whatever order the tests run in."""
    built: Installation = request.getfixturevalue(f"{request.param}_installation")
    return built


@pytest.fixture(scope="module")
def sqlite_installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    yield from _installation("sqlite", tmp_path_factory)


@pytest.fixture(scope="module")
def postgresql_installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    yield from _installation("postgresql", tmp_path_factory)


def _installation(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    root = tmp_path_factory.mktemp(f"inst-{kind}")
    data_dir = root / "data"
    keys_dir = data_dir / "keys"
    demo_key = root / "demo.key"  # outside the data directory, as a real master key never is inside it
    init = keys.init(keys_dir, None, demo_key_file=demo_key)
    run_dir = Path(tempfile.mkdtemp(prefix="kb-"))
    sock = run_dir / "agent.sock"
    proc = agent.spawn(keys_dir, sock, demo_key_file=demo_key, idle_timeout=None, max_lifetime=None)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KARTOTEKA_", "DATABASE_URL", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="kartoteka.settings",
        KARTOTEKA_SECRET_KEY=secrets.token_hex(32),
        KARTOTEKA_DATA_DIR=str(data_dir),
        KARTOTEKA_KEYS_DIR=str(keys_dir),
        KARTOTEKA_AGENT_SOCKET=str(sock),
        KARTOTEKA_AUDIT_HEAD_FILE=str(root / "audit-head"),
    )
    db_cm = postgres.database_temporary("kartoteka_backup_src") if kind == "postgresql" else None
    try:
        dsn = db_cm.__enter__() if db_cm is not None else None
        if dsn is not None:
            env["DATABASE_URL"] = _url(dsn)
        markers = [secrets.token_hex(8) for _ in range(6)]
        names = [f"Канареев-{markers[3]} Иван", f"Маркеров {markers[4]} Пётр", f"Сидоров {markers[5]}"]
        bodies = _evidence_bodies(markers)
        src_dir = root / "incoming"
        src_dir.mkdir()
        files = []
        for i, body in enumerate(bodies):
            (src_dir / f"{i}.bin").write_bytes(body)
            files.append(str(src_dir / f"{i}.bin"))
        populate = subprocess.run(
            [sys.executable, "-c", POPULATE],
            env=env,
            input=json.dumps({"names": names, "files": files}),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=600,
            check=False,
        )
        shutil.rmtree(src_dir)  # the plaintext originals are gone; only the vault holds them now
        assert populate.returncode == 0, populate.stderr[-3000:]
        made = json.loads(populate.stdout.strip().splitlines()[-1])
        yield Installation(
            kind=kind,
            root=root,
            data_dir=data_dir,
            env=env,
            secret=init.recovery_secret,
            records=made["records"],
            items=made["items"],
            originals={hashlib.sha256(b).hexdigest(): b for b in bodies},
            markers=markers,
            dsn=dsn,
        )
    finally:
        agent.stop(sock)
        proc.wait(timeout=10)
        shutil.rmtree(run_dir, ignore_errors=True)
        if db_cm is not None:
            db_cm.__exit__(None, None, None)


@pytest.fixture
def backup_file(installation: Installation) -> Path:
    """`kartoteka backup` of the installation, run once and kept for the module's tests."""
    out = installation.root / "backups" / "nightly.age"
    if out.exists():
        return out
    out.parent.mkdir()
    result = _cli(["backup", "--out", str(out)], installation.env)
    assert result.returncode == 0, result.stderr
    assert f"database {installation.kind}, 3 evidence items" in result.stdout
    installation.extra["backup_stdout"] = result.stdout
    return out


@pytest.fixture
def fresh_db(installation: Installation) -> Iterator[str | None]:
    """Where a restore puts the database: a new PostgreSQL database, dropped afterwards; none for SQLite."""
    if installation.kind == "sqlite":
        yield None
        return
    with postgres.database_temporary("kartoteka_backup_dst") as dsn:
        yield dsn


def _db_connect(kind: str, data_dir: Path, dsn: str | None) -> Any:
    if kind == "postgresql":
        assert dsn is not None
        return psycopg.connect(dsn)
    return sqlite3.connect(data_dir / "kartoteka.sqlite3")


def _rows(conn: Any, query: str) -> list[tuple[Any, ...]]:
    cur = conn.cursor()
    cur.execute(query)
    rows = [tuple(r) for r in cur.fetchall()]
    cur.close()
    return rows


def _opened_names(client: agent.AgentClient, conn: Any) -> dict[str, str]:
    rows = _rows(conn, "SELECT id, wrapped_key, full_name_enc FROM people_record")
    sealed = [
        keys.SealedRecord("people.record", str(_uuid(rid)), bytes(w), {"full_name": bytes(f)})
        for rid, w, f in rows
    ]
    opened = client.open_records(sealed)
    return {s.record_id: o["full_name"].decode() for s, o in zip(sealed, opened, strict=True)}


def _uuid(value: Any) -> str:
    import uuid

    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def _nothing_left(target: Path) -> None:
    assert not target.exists() or not any(target.iterdir())
    leftovers = [p.name for p in target.parent.iterdir() if ".restoring-" in p.name]
    assert leftovers == []


def _pg_empty(dsn: str | None) -> None:
    if dsn is not None:
        assert snapshot.PgTarget.from_url(dsn).is_empty()


# --- the whole round trip -----------------------------------------------------------------------------------


def test_it_restores_a_backup_with_only_the_recovery_key(
    installation: Installation, backup_file: Path, fresh_db: str | None, tmp_path: Path
) -> None:
    target = tmp_path / "restored"
    env = {k: v for k, v in installation.env.items() if not k.startswith(("KARTOTEKA_", "DATABASE_URL"))}
    if fresh_db is not None:
        env["DATABASE_URL"] = _url(fresh_db)
    # The secret as printed for copying by hand, in groups over several lines: either form is accepted.
    head = audit.head_text(_first_head(installation))  # printed off-site long before the backup
    result = _cli(
        ["restore", str(backup_file), "--data-dir", str(target), "--head", head],
        env,
        stdin=keys.recovery_secret_grouped(installation.secret) + "\n",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "evidence: 3 items opened and re-hashed, 0 bad" in result.stdout
    assert "audit chain OK" in result.stdout
    assert sorted(p.name for p in (target / "keys").iterdir()) == ["keyring.json", "slots.json"]
    assert (target / "kartoteka.sqlite3").exists() == (installation.kind == "sqlite")

    # A new agent on the restored keys, unlocked by the recovery secret alone, reads the records back.
    run_dir = Path(tempfile.mkdtemp(prefix="kb-"))
    proc = agent.spawn(target / "keys", run_dir / "a.sock")
    try:
        with agent.AgentClient(run_dir / "a.sock") as client:
            client.unlock_recovery(installation.secret)
            conn = _db_connect(installation.kind, target, fresh_db)
            try:
                assert _opened_names(client, conn) == installation.records
                public = keys.audit_public_keys(target / "keys")
                chain = audit.verify(conn, public)
                assert chain.ok, str(chain)
                actions = [a for (a,) in _rows(conn, "SELECT action FROM audit_entry ORDER BY seq")]
                assert actions[-1] == "backup.restore"
                assert actions.count("evidence.receive") == 3
            finally:
                conn.close()
            root = target / "evidence" / "vault"
            for item_id, sha in installation.items.items():
                assert vault.vault_verify(root, item_id, client).ok
                body = b"".join(vault.vault_read(root, client, item_id, actor="system:test"))
                assert body == installation.originals[sha]
    finally:
        agent.stop(run_dir / "a.sock")
        proc.wait(timeout=10)
        shutil.rmtree(run_dir, ignore_errors=True)

    # The backup itself is in the original chain, with the file's SHA-256.
    digest = hashlib.sha256(backup_file.read_bytes()).hexdigest()
    conn = _db_connect(installation.kind, installation.data_dir, installation.dsn)
    try:
        details = [
            d for (d,) in _rows(conn, "SELECT details FROM audit_entry WHERE action = 'backup.create'")
        ]
    finally:
        conn.close()
    assert any(json.loads(d)["digest"] == digest for d in details)

    # No name or evidence content in clear in the backup, the restored directory or anywhere in $TMPDIR.
    canary.assert_clean(installation.markers, [backup_file, target])


@pytest.mark.parametrize("installation", ["sqlite"], indirect=True)
def test_it_writes_no_backup_it_cannot_log(installation: Installation, tmp_path: Path) -> None:
    env = dict(installation.env, KARTOTEKA_AGENT_SOCKET=str(tmp_path / "no-agent.sock"))
    out = tmp_path / "unlogged.age"
    result = _cli(["backup", "--out", str(out)], env)
    assert result.returncode == 1
    assert "key agent is locked or not running" in result.stderr
    assert list(tmp_path.iterdir()) == []
    assert [p.name for p in installation.data_dir.iterdir() if p.name.startswith(".backup-")] == []


def test_it_refuses_a_target_that_is_not_empty(
    installation: Installation, backup_file: Path, tmp_path: Path
) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "something").write_text("x")
    with pytest.raises(BackupError, match="not empty"):
        restore(backup=backup_file, data_dir=target, secret=installation.secret, database_url=None)
    assert [p.name for p in target.iterdir()] == ["something"]


@pytest.mark.parametrize("installation", ["postgresql"], indirect=True)
def test_it_refuses_a_postgresql_database_that_is_not_empty(
    installation: Installation, backup_file: Path, tmp_path: Path
) -> None:
    with postgres.database_temporary("kartoteka_backup_busy") as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE keep_me (x int)")
        with pytest.raises(BackupError, match="not empty"):
            restore(backup=backup_file, data_dir=tmp_path / "t", secret=installation.secret, database_url=dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM keep_me").fetchone() == (0,)
    _nothing_left(tmp_path / "t")


def test_it_refuses_another_installations_recovery_secret(
    installation: Installation, backup_file: Path, fresh_db: str | None, tmp_path: Path
) -> None:
    other = crypto.identity_new().secret
    with pytest.raises(BackupIntegrityError, match="not sealed to this identity"):
        restore(backup=backup_file, data_dir=tmp_path / "t", secret=other, database_url=fresh_db)
    _nothing_left(tmp_path / "t")
    _pg_empty(fresh_db)


def _first_head(installation: Installation) -> audit.Head:
    """The head as it was after the installation's first entry: what an off-site copy printed then holds."""
    conn = _db_connect(installation.kind, installation.data_dir, installation.dsn)
    try:
        row = _rows(conn, f"SELECT {audit.COLUMNS} FROM audit_entry WHERE seq = 1")[0]
    finally:
        conn.close()
    return audit.entry_from_row(row).head


def test_it_refuses_a_chain_that_lacks_the_off_site_head(
    installation: Installation, backup_file: Path, fresh_db: str | None, tmp_path: Path
) -> None:
    first = _first_head(installation)
    # The same position with another entry's hash: a different history (the good case is the CLI test's).
    other = audit.Head(seq=1, entry_hash="ab" * 32, key_version=first.key_version, signature=first.signature)
    report = restore(
        backup=backup_file,
        data_dir=tmp_path / "bad",
        secret=installation.secret,
        database_url=fresh_db,
        external_head=audit.head_text(other),
    )
    assert not report.ok
    assert "off-site head" in " ".join(report.problems)
    _nothing_left(tmp_path / "bad")
    _pg_empty(fresh_db)


# --- damaged and forged backups ------------------------------------------------------------------------------


def test_it_detects_a_flipped_byte_anywhere_and_restores_nothing(
    installation: Installation, backup_file: Path, fresh_db: str | None, tmp_path: Path
) -> None:
    raw = backup_file.read_bytes()
    # The age header, the first payload piece, the middle, the last piece's tag; then a cut and an addition.
    damaged = {f"flip@{at}": _flip(raw, at) for at in (25, 300, len(raw) // 2, len(raw) - 1)}
    damaged["cut"] = raw[: len(raw) - 70_000]
    damaged["appended"] = raw + b"\x00"
    for label, data in damaged.items():
        path = tmp_path / f"{label}.age"
        path.write_bytes(data)
        target = tmp_path / f"restored-{label}"
        with pytest.raises(BackupIntegrityError) as caught:
            restore(backup=path, data_dir=target, secret=installation.secret, database_url=fresh_db)
        assert "cannot be trusted" in str(caught.value), label
        _nothing_left(target)
        _pg_empty(fresh_db)


def _flip(raw: bytes, at: int) -> bytes:
    data = bytearray(raw)
    data[at] ^= 0x01
    return bytes(data)


def _forge(
    installation: Installation, backup: Path, out: Path, *, fix_manifest: bool, drop: bool = False
) -> None:
    """What anyone holding the public recovery recipient could do: open nothing, but write a new backup.
    Here with the secret, to start from the real contents: one byte of an evidence chunk file changes (or,
    with ``drop``, one whole evidence item goes), and the manifest is either left alone or recomputed."""
    plain = io.BytesIO()
    with open(backup, "rb") as fh:
        crypto.unseal_stream(fh, plain, installation.secret)
    plain.seek(0)
    members: list[tuple[tarfile.TarInfo, bytes]] = []
    with tarfile.open(fileobj=plain, mode="r:") as tar:
        for info in tar:
            src = tar.extractfile(info)
            members.append((info, src.read() if src else b""))
    chunk_files = [i for i, (info, _) in enumerate(members) if info.name.endswith("/chunks.bin")]
    largest = max(chunk_files, key=lambda i: len(members[i][1]))
    info, body = members[largest]
    if drop:
        item_dir = info.name.rsplit("/", 1)[0] + "/"
        members = [(i, b) for i, b in members if not i.name.startswith(item_dir)]
    else:
        members[largest] = (info, _flip(body, len(body) // 2))
    if fix_manifest:
        info, body = members[-1]
        manifest = json.loads(body)
        hashes = {i.name: hashlib.sha256(b).hexdigest() for i, b in members[:-1]}
        manifest["members"] = [
            dict(m, sha256=hashes[m["name"]]) for m in manifest["members"] if m["name"] in hashes
        ]
        manifest["evidence_items"] -= int(drop)
        body = json.dumps(manifest).encode()
        info.size = len(body)
        members[-1] = (info, body)
    rebuilt = io.BytesIO()
    with tarfile.open(fileobj=rebuilt, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, body in members:
            tar.addfile(info, io.BytesIO(body))
    rebuilt.seek(0)
    recipient = keys.slots_list(installation.data_dir / "keys")[-1].detail
    with open(out, "wb") as fh:
        crypto.seal_stream(rebuilt, fh, [recipient])


def test_it_checks_every_member_against_the_manifest(
    installation: Installation, backup_file: Path, fresh_db: str | None, tmp_path: Path
) -> None:
    forged = tmp_path / "forged.age"
    _forge(installation, backup_file, forged, fix_manifest=False)
    with pytest.raises(BackupIntegrityError, match="does not match its manifest hash"):
        restore(backup=forged, data_dir=tmp_path / "t", secret=installation.secret, database_url=fresh_db)
    _nothing_left(tmp_path / "t")
    _pg_empty(fresh_db)


def test_it_verifies_every_evidence_item_after_restoring(
    installation: Installation, backup_file: Path, fresh_db: str | None, tmp_path: Path
) -> None:
    forged = tmp_path / "forged.age"
    _forge(installation, backup_file, forged, fix_manifest=True)
    report = restore(
        backup=forged, data_dir=tmp_path / "t", secret=installation.secret, database_url=fresh_db
    )
    assert not report.ok
    assert len(report.evidence_bad) == 1
    assert "does not match its manifest hash" in report.evidence_bad[0]
    assert report.audit_report is not None and report.audit_report.ok
    _nothing_left(tmp_path / "t")
    _pg_empty(fresh_db)


def test_it_finds_evidence_the_chain_names_but_the_backup_lacks(
    installation: Installation, backup_file: Path, fresh_db: str | None, tmp_path: Path
) -> None:
    forged = tmp_path / "forged.age"
    _forge(installation, backup_file, forged, fix_manifest=True, drop=True)
    report = restore(
        backup=forged, data_dir=tmp_path / "t", secret=installation.secret, database_url=fresh_db
    )
    assert not report.ok
    assert report.evidence_total == 2
    assert len(report.evidence_bad) == 1
    assert "named by the audit chain, missing from the vault" in report.evidence_bad[0]
    _nothing_left(tmp_path / "t")
    _pg_empty(fresh_db)


# --- the SQLite snapshot under load ---------------------------------------------------------------------------


def test_it_snapshots_sqlite_consistently_while_another_thread_writes(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite3"
    setup = sqlite3.connect(path)
    setup.executescript(
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app TEXT, name TEXT, applied TEXT);"
        "INSERT INTO django_migrations (app, name, applied) VALUES ('people', '0001_initial', 'now');"
        "CREATE TABLE ledger (id INTEGER PRIMARY KEY, debit INTEGER, credit INTEGER, pad BLOB);"
        "CREATE TABLE counter (id INTEGER PRIMARY KEY CHECK (id = 1), rows INTEGER, total INTEGER);"
        "INSERT INTO counter VALUES (1, 0, 0);"
    )
    audit.schema_create(setup)
    setup.commit()
    setup.close()
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        # Each transaction adds a row and updates the counter: a torn copy would disagree with itself.
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        n = 0
        while not stop.is_set() or n < 200:
            n += 1
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO ledger (debit, credit, pad) VALUES (?, ?, randomblob(2000))", (n, -n))
            conn.execute("UPDATE counter SET rows = rows + 1, total = total + ? WHERE id = 1", (n,))
            conn.execute("COMMIT")
        written[0] = n
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    seen = []
    try:
        # Until three snapshots have caught the writer at three different points.
        while len(set(seen)) < 3 and len(seen) < 500:
            dest = tmp_path / f"snap{len(seen)}.sqlite3"
            state = snapshot.sqlite_snapshot(path, dest)
            assert state.migrations == [["people", "0001_initial"]]
            assert snapshot.sqlite_integrity(dest) == "ok"
            snap = sqlite3.connect(dest)
            ((rows, total),) = snap.execute("SELECT rows, total FROM counter").fetchall()
            ((count, debit, credit),) = snap.execute(
                "SELECT count(*), coalesce(sum(debit), 0), coalesce(sum(credit), 0) FROM ledger"
            ).fetchall()
            snap.close()
            assert (rows, total) == (count, debit)
            assert debit == -credit
            seen.append(count)
    finally:
        stop.set()
        thread.join()
    assert written[0] >= 200
    assert len(set(seen)) >= 3
    assert seen == sorted(seen)


def test_it_copies_the_data_directory_but_no_clear_key_socket_or_temporary_file(tmp_path: Path) -> None:
    import socket

    from kartoteka.backups.services import data_files

    data = tmp_path / "d"
    for rel in (
        "kartoteka.sqlite3",
        "kartoteka.sqlite3-wal",
        "keys/slots.json",
        "static/app.css",
        "demo-secret-key",
        "evidence/vault/tmp/half-written/chunks.bin",
        "evidence/vault/items/ab/x/chunks.bin",
        "evidence/vault/items/ab/x/manifest.json",
        "regimes/local.toml",
        ".keyring.json.1a2b.tmp",
    ):
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_bytes(b"x")
    (data / "master.key").write_text("00" * 32)
    (data / "link").symlink_to(data / "regimes")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(data / "s"))
    try:
        exclude = {
            data / "kartoteka.sqlite3",
            data / "kartoteka.sqlite3-wal",
            data / "keys",
            data / "master.key",
        }
        found = dict(data_files(data, exclude=exclude))
    finally:
        server.close()
    assert found == {
        "evidence/vault/items/ab/x/chunks.bin": data / "evidence/vault/items/ab/x/chunks.bin",
        "evidence/vault/items/ab/x/manifest.json": data / "evidence/vault/items/ab/x/manifest.json",
        "regimes/local.toml": data / "regimes/local.toml",
        "link": None,
        "s": None,
    }


def test_it_streams_seal_and_unseal_and_tells_damage_from_the_callers_own_failure() -> None:
    ident = crypto.identity_new()
    body = secrets.token_bytes(300_000)
    sealed = io.BytesIO()
    assert crypto.seal_stream(io.BytesIO(body), sealed, [ident.recipient]) == len(body)
    opened = io.BytesIO()
    assert crypto.unseal_stream(io.BytesIO(sealed.getvalue()), opened, ident.secret) == len(body)
    assert opened.getvalue() == body

    for bad in (_flip(sealed.getvalue(), 200_000), sealed.getvalue()[:-20]):
        with pytest.raises(crypto.IntegrityError, match="altered or cut short"):
            crypto.unseal_stream(io.BytesIO(bad), io.BytesIO(), ident.secret)
    with pytest.raises(crypto.IntegrityError, match="not sealed to this identity"):
        crypto.unseal_stream(io.BytesIO(sealed.getvalue()), io.BytesIO(), crypto.identity_new().secret)

    class DiskFull(io.BytesIO):
        def write(self, data: Any) -> int:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        crypto.unseal_stream(io.BytesIO(sealed.getvalue()), DiskFull(), ident.secret)

    class Broken(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            raise ValueError("the producer failed")

    with pytest.raises(ValueError, match="the producer failed"):
        crypto.seal_stream(Broken(), io.BytesIO(), [ident.recipient])
