"""``kartoteka restore``: a backup into a fresh data directory, opened with the recovery secret. No Django.

Order, so that nothing half-restored is ever left behind:

1. refuse a non-empty target (directory, and the PostgreSQL database if the backup holds one);
2. decrypt and unpack into a private staging directory beside the target, re-hashing every member
   against the manifest (age has already authenticated every byte; the manifest proves completeness);
3. put the database back (the SQLite file is checked with ``PRAGMA integrity_check``; ``pg_restore``
   runs in one transaction);
4. start a key agent of its own on the restored keys, unlock it with the recovery secret, open every
   evidence item and re-hash its original, verify the audit chain against the head the backup recorded
   (and against an off-site head if one is given), and compare the schema state;
5. append ``backup.restore`` to the restored chain, signed through that agent, and verify again: the
   signature proves the keyring's public keys belong to the roots the recovery secret opened;
6. only then rename the staging directory to the target.

Any failure removes the staging directory and empties the PostgreSQL database again.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from kartoteka.backups import archive, snapshot
from kartoteka.backups.archive import BackupError, BackupIntegrityError
from kartoteka.lib import agent, audit, crypto, keys, vault

ACTOR = "system:restore"
WORK_DIR = ".restore-work"
SQLITE_NAME = "kartoteka.sqlite3"


@dataclass
class RestoreReport:
    data_dir: Path
    backup_id: str = ""
    db_kind: str = ""
    files: int = 0
    evidence_total: int = 0
    evidence_bad: list[str] = field(default_factory=list)
    audit_report: audit.VerifyReport | None = None
    problems: list[str] = field(default_factory=list)
    head_line: str | None = None
    kept: bool = False

    @property
    def ok(self) -> bool:
        return (
            not self.problems and not self.evidence_bad and bool(self.audit_report and self.audit_report.ok)
        )


@dataclass
class Unpacked:
    """What :func:`members_unpack` found: the backup's header and manifest, and how many files it wrote."""

    header: dict[str, Any]
    manifest: dict[str, Any]
    files: int


def target_check(data_dir: Path) -> None:
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise BackupError(f"{data_dir} is not empty: restore only into a new or empty directory")


def _destination(staging: Path, name: str) -> Path:
    """Where a member goes inside the staging directory."""
    if name == archive.DB_SQLITE:
        return staging / SQLITE_NAME
    if name == archive.DB_POSTGRES:
        return staging / WORK_DIR / "postgresql.dump"
    if name.startswith(archive.KEYS_PREFIX) and name[len(archive.KEYS_PREFIX) :] in archive.KEY_FILES:
        return staging / "keys" / name[len(archive.KEYS_PREFIX) :]
    if name.startswith(archive.DATA_PREFIX):
        rel = name[len(archive.DATA_PREFIX) :]
        first = rel.split("/", 1)[0]
        if first in ("keys", WORK_DIR) or rel.startswith(SQLITE_NAME):
            raise BackupIntegrityError("the backup's data files collide with its database or keys")
        return staging / rel
    raise BackupIntegrityError(f"the backup holds an unexpected member {name[:80]}")


def members_unpack(
    reader: archive.ArchiveReader, staging: Path, on_header: Callable[[dict[str, Any]], None]
) -> Unpacked:
    """Write a decrypted backup's members under ``staging`` (the restore's own directory, not yet the data
    directory), hashing each on the way, and check them against the manifest that ends the archive.

    ``on_header`` sees the header before any member is written, so it can refuse the backup first. Raises
    :class:`BackupIntegrityError` for a missing header or manifest, a repeated or unexpected member, or a
    member that differs from the manifest."""
    first = reader.next()
    if first is None or first[0] != archive.HEADER_NAME:
        raise BackupIntegrityError("the backup does not start with a Kartoteka header")
    header = archive.read_json(first[2], first[1], "header", limit=1024 * 1024)
    on_header(header)
    hashes: dict[str, tuple[int, str]] = {}
    while (member := reader.next()) is not None:
        name, size, src = member
        if name == archive.MANIFEST_NAME:
            manifest = archive.read_json(src, size, "manifest")
            reader.drain()
            _manifest_check(manifest, header, hashes)
            return Unpacked(header, manifest, len(hashes))
        if name in hashes or name == archive.HEADER_NAME:
            raise BackupIntegrityError("the backup holds the same file twice")
        hashes[name] = (size, archive.copy_member(src, size, _destination(staging, name)))
    raise BackupIntegrityError("the backup ends without its manifest: it was cut short")


def _manifest_check(
    manifest: dict[str, Any], header: dict[str, Any], hashes: dict[str, tuple[int, str]]
) -> None:
    try:
        listed = {
            str(m["name"]): (int(m["size"]), str(m["sha256"])) for m in manifest["members"] if m["name"]
        }
    except (KeyError, TypeError, ValueError):
        raise BackupIntegrityError("the backup's manifest is malformed") from None
    listed.pop(archive.HEADER_NAME, None)
    if manifest.get("id") != header.get("id"):
        raise BackupIntegrityError("the manifest belongs to another backup")
    if set(listed) != set(hashes):
        raise BackupIntegrityError("the files in the backup differ from its manifest")
    for name, (size, digest) in hashes.items():
        if listed[name] != (size, digest):
            raise BackupIntegrityError(f"{name} does not match its manifest hash")
    if not any(n.startswith(archive.KEYS_PREFIX) for n in hashes):
        raise BackupIntegrityError("the backup holds no keys")


@contextlib.contextmanager
def _agent_for(keys_dir: Path, secret: str) -> Iterator[agent.AgentClient]:
    """A key agent of the restore's own, on the restored keys, unlocked with the recovery secret."""
    run_dir = Path(tempfile.mkdtemp(prefix="kt-restore-"))
    os.chmod(run_dir, 0o700)
    sock = run_dir / "agent.sock"
    proc = agent.spawn(keys_dir, sock, idle_timeout=900, max_lifetime=6 * 3600)
    try:
        with agent.AgentClient(sock) as client:
            client.unlock_recovery(secret)
            yield client
    finally:
        with contextlib.suppress(agent.AgentError, OSError):
            agent.stop(sock)
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(run_dir, ignore_errors=True)


def _evidence_verify(root: Path, ops: vault.VaultKeyOperations, report: RestoreReport) -> None:
    for item_id in vault.vault_items(root):
        report.evidence_total += 1
        try:
            result = vault.vault_verify(root, item_id, ops)
        except vault.VaultError as exc:
            report.evidence_bad.append(f"{item_id} bad item: {exc.__class__.__name__}")
            continue
        if not result.ok:
            where = f"chunk {result.first_bad_chunk}" if result.first_bad_chunk is not None else "item"
            report.evidence_bad.append(f"{item_id} bad {where}: {result.problem}")


def _evidence_against_chain(conn: Any, root: Path, report: RestoreReport) -> None:
    """Every item the signed chain says was received must be in the vault with the original's SHA-256 it
    recorded: a substituted file with a consistent manifest and custody log still fails here."""
    cur = conn.cursor()
    try:
        cur.execute("SELECT object_id, details FROM audit_entry WHERE action = 'evidence.receive'")
        rows = cur.fetchall()
    finally:
        cur.close()
    _rollback(conn)
    for object_id, details in rows:
        try:
            original = json.loads(details or "{}").get("original")
            manifest = vault.manifest_load(root, str(object_id))
        except (ValueError, AttributeError, vault.VaultError):
            report.evidence_bad.append(
                f"{object_id} bad item: named by the audit chain, missing from the vault"
            )
            continue
        if original is not None and original != manifest.sha256:
            report.evidence_bad.append(
                f"{object_id} bad item: differs from the original the audit chain recorded"
            )


def _connect(kind: str, staging: Path, pg: snapshot.PgTarget | None) -> Any:
    if kind == snapshot.POSTGRESQL:
        assert pg is not None
        return pg.connect()
    return sqlite3.connect(staging / SQLITE_NAME)


def _db_verify(
    conn: Any,
    public_keys: dict[int, bytes],
    state: dict[str, Any],
    external_head: str | None,
    report: RestoreReport,
) -> None:
    migrations, _ = snapshot.state_read(conn)
    if migrations != state.get("migrations"):
        report.problems.append("the restored schema state differs from the backup's manifest")
    recorded = state.get("audit_head")
    report.audit_report = audit.verify(conn, public_keys, external_head=recorded)
    _rollback(conn)
    if report.audit_report.ok and external_head:
        offsite = audit.verify(conn, public_keys, external_head=external_head)
        _rollback(conn)
        if not offsite.ok:
            report.audit_report = offsite
            report.problems.append("the restored audit chain does not contain the off-site head given")


def _rollback(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.rollback()


def _restore_logged(
    conn: Any, signer: agent.AgentClient, public_keys: dict[int, bytes], report: RestoreReport
) -> None:
    details: dict[str, audit.Code] = {
        "db": report.db_kind,
        "files": report.files,
        "evidence_items": report.evidence_total,
    }
    object_id = report.backup_id
    with audit.transaction(conn):
        audit.entry_append(
            conn,
            signer,
            actor=ACTOR,
            action="backup.restore",
            object_type="backups.backup",
            object_id=object_id,
            details=details,
        )
    after = audit.verify(conn, public_keys)
    _rollback(conn)
    if not after.ok:
        report.audit_report = after
        report.problems.append("the restored keyring does not match the keys the recovery secret opens")
        return
    head = audit.head_read(conn)
    _rollback(conn)
    report.head_line = None if head is None else audit.head_text(head)


def _header_check(
    pg: snapshot.PgTarget | None, pg_restore_path: list[str]
) -> Callable[[dict[str, Any]], None]:
    """Refuse a backup whose database kind does not match the target before anything is unpacked; for
    PostgreSQL, also check the server and note which pg_restore fits it (in ``pg_restore_path``)."""

    def on_header(header: dict[str, Any]) -> None:
        kind = str(header.get("db_kind"))
        if kind == snapshot.POSTGRESQL:
            if pg is None:
                raise BackupError(
                    "this backup holds a PostgreSQL database: set DATABASE_URL to a new, empty database"
                )
            pg_restore_path.append(snapshot.pg_restore_check(pg, header))
        elif kind == snapshot.SQLITE:
            if pg is not None:
                raise BackupError("this backup holds a SQLite database: unset DATABASE_URL to restore it")
        else:
            raise BackupIntegrityError("the backup names an unknown database kind")

    return on_header


def _staged_verify(
    staging: Path,
    secret: str,
    pg: snapshot.PgTarget | None,
    unpacked: Unpacked,
    external_head: str | None,
    report: RestoreReport,
) -> None:
    """Every check of the unpacked copy, into ``report``: evidence against its keys and the audit chain,
    the database and its chain; only when all pass is the restore itself logged in the restored chain."""
    keys_dir = staging / "keys"
    public_keys = keys.audit_public_keys(keys_dir)
    with _agent_for(keys_dir, secret) as client:
        _evidence_verify(staging / "evidence" / "vault", client, report)
        conn = _connect(report.db_kind, staging, pg)
        try:
            _db_verify(conn, public_keys, unpacked.manifest.get("db") or {}, external_head, report)
            if report.audit_report is not None and report.audit_report.ok:
                _evidence_against_chain(conn, staging / "evidence" / "vault", report)
            if report.evidence_total != unpacked.manifest.get("evidence_items"):
                report.problems.append("the vault holds another number of items than the manifest lists")
            if report.ok:
                _restore_logged(conn, client, public_keys, report)
        except (sqlite3.Error, psycopg.Error) as exc:
            report.problems.append(f"the restored database cannot be read: {exc.__class__.__name__}")
        finally:
            conn.close()


def restore(
    *,
    backup: Path,
    data_dir: Path,
    secret: str,
    database_url: str | None,
    external_head: str | None = None,
    keep_damaged: bool = False,
) -> RestoreReport:
    """Restore ``backup`` into ``data_dir`` (which must be new or empty) and verify it; see the module
    docstring. Raises :class:`BackupError` for refusals and a damaged file, returns a report otherwise;
    a report that is not ``ok`` has left nothing behind unless ``keep_damaged``."""
    data_dir = data_dir.expanduser().absolute()
    target_check(data_dir)
    try:
        secret = keys.recovery_secret_parse(secret)
    except crypto.MalformedError:
        raise BackupError("that is not a recovery secret (AGE-SECRET-KEY-1…); check it for typos") from None
    pg = snapshot.PgTarget.from_url(database_url) if database_url else None
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = data_dir.parent / f".{data_dir.name}.restoring-{secrets.token_hex(4)}"
    staging.mkdir(mode=archive.DIR_MODE)
    report = RestoreReport(data_dir=data_dir)
    pg_touched = False
    pg_restore_path: list[str] = []
    on_header = _header_check(pg, pg_restore_path)
    try:
        unpacked = archive.read_sealed(backup, secret, lambda r: members_unpack(r, staging, on_header))
        report.backup_id = str(unpacked.header.get("id"))
        report.db_kind = str(unpacked.header.get("db_kind"))
        report.files = unpacked.files
        if report.db_kind == snapshot.SQLITE:
            integrity = snapshot.sqlite_integrity(staging / SQLITE_NAME)
            if integrity != "ok":
                report.problems.append(f"SQLite integrity check: {integrity}")
        else:
            assert pg is not None
            pg_touched = True
            snapshot.pg_restore(pg, pg_restore_path[0], staging / WORK_DIR / "postgresql.dump")
        shutil.rmtree(staging / WORK_DIR, ignore_errors=True)
        _staged_verify(staging, secret, pg, unpacked, external_head, report)
        if not report.ok and not keep_damaged:
            raise _Discard
        report.kept = True
        if data_dir.exists():
            data_dir.rmdir()
        os.rename(staging, data_dir)
        archive.fsync_dir(data_dir.parent)
    except _Discard:
        _discard(staging, pg if pg_touched else None)
    except BaseException:
        _discard(staging, pg if pg_touched else None)
        raise
    return report


class _Discard(Exception):
    pass


def _discard(staging: Path, pg: snapshot.PgTarget | None) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    if pg is not None:
        with contextlib.suppress(Exception):  # best effort; the error that brought us here matters more
            pg.empty()
