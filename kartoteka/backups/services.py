"""``kartoteka backup``: a consistent online snapshot of the database, the key files and the data directory
(the evidence vault among it), sealed to the organisation's recovery key.

The server holds only the recovery key's public half (the recovery slot's recipient in ``slots.json``), so
it can write a backup it cannot read. Order matters for consistency while the application keeps writing:

- the key files are read first and again at the end; if a rotation or a slot change ran in between, the
  attempt is thrown away and repeated, so the database never references a key version the backup lacks;
- the database snapshot comes before the files: evidence items are written to the vault before the rows
  that name them and are never deleted, so every item the snapshot references is in the copy (an item
  stored after the snapshot comes along unreferenced, which is harmless).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from kartoteka.audit.services import entry_append
from kartoteka.backups import archive, snapshot
from kartoteka.backups.archive import BackupError
from kartoteka.core import sealing
from kartoteka.core.checks import master_key_files
from kartoteka.lib import agent, audit, crypto, keys

ACTOR = "system:backup"
ATTEMPTS = 3
TMP_PREFIX = ".backup-"
# Left out of the data directory copy: caches and things regenerated, and never a clear key.
_SKIP_TOP = frozenset({"static", "demo-secret-key"})
_SKIP_DIRS = frozenset({"evidence/vault/tmp"})


class _KeysChanged(BackupError):
    pass


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    sha256: str
    backup_id: str
    db_kind: str
    files: int
    evidence_items: int
    audit_head: str | None
    skipped: tuple[str, ...]


def default_name() -> str:
    return f"kartoteka-backup-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.age"


def recovery_recipient(keys_dir: Path) -> str:
    for slot in keys.slots_list(keys_dir):
        if slot.kind == "recovery":
            return crypto.recipient_check(slot.detail)
    raise BackupError("the key directory has no recovery slot")


def _keys_read(keys_dir: Path) -> dict[str, bytes]:
    try:
        return {name: (keys_dir / name).read_bytes() for name in archive.KEY_FILES}
    except FileNotFoundError:
        raise BackupError(f"{keys_dir} holds no keys: run `kartoteka keys init`") from None


def _inside(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def data_files(data_dir: Path, *, exclude: set[Path]) -> Iterator[tuple[str, Path | None]]:
    """(relative path, path) of every regular file to copy, in a stable order, one directory listing in
    memory at a time; (relative path, None) for what is left out because it is not a regular file (a
    socket, a symbolic link: never followed)."""
    for top, dirs, files in os.walk(data_dir, followlinks=False):
        here = Path(top)
        kept = []
        for name in sorted(dirs):
            path = here / name
            if _skipped(path, data_dir, exclude):
                continue
            if path.is_symlink():
                yield path.relative_to(data_dir).as_posix(), None
                continue
            kept.append(name)
        dirs[:] = kept
        for name in sorted(files):
            path = here / name
            if not _skipped(path, data_dir, exclude):
                regular = path.is_file() and not path.is_symlink()
                yield path.relative_to(data_dir).as_posix(), (path if regular else None)


def _skipped(path: Path, data_dir: Path, exclude: set[Path]) -> bool:
    rel = path.relative_to(data_dir).as_posix()
    top = rel.split("/", 1)[0]
    return (
        top in _SKIP_TOP
        or top.startswith((TMP_PREFIX, ".restore"))
        or path in exclude
        or any(rel == d or rel.startswith(d + "/") for d in _SKIP_DIRS)
        or path.name.endswith((".tmp", ".partial"))
    )


def _db_source() -> tuple[str, Any]:
    vendor = connection.vendor
    if vendor == "sqlite":
        return snapshot.SQLITE, str(connection.settings_dict["NAME"])
    if vendor == "postgresql":
        return snapshot.POSTGRESQL, snapshot.PgTarget.from_django(connection.settings_dict)
    raise BackupError(f"backups support SQLite and PostgreSQL, not {vendor}")


def _agent_check() -> None:
    try:
        unlocked = bool(sealing.client().status().get("unlocked"))
    except agent.AgentError:
        unlocked = False
    if not unlocked:
        raise BackupError(
            "the key agent is locked or not running: a backup is recorded in the signed audit chain, "
            "so unlock it first (`kartoteka keys unlock`). The agent decrypts nothing for the backup."
        )


def _write_once(
    out: Path, work: Path, recipient: str, backup_id: str
) -> tuple[archive.Written, dict[str, Any]]:
    data_dir = Path(settings.DATA_DIR)
    keys_dir = Path(settings.KEYS_DIR)
    kind, source = _db_source()
    summary: dict[str, Any] = {}

    def produce(writer: archive.ArchiveWriter) -> dict[str, Any]:
        key_files = _keys_read(keys_dir)
        header = {"format": archive.FORMAT, "id": backup_id, "created": archive.now_text(), "db_kind": kind}
        dump = work / "db"
        if kind == snapshot.SQLITE:
            state = snapshot.sqlite_snapshot(source, dump)
        else:
            state = snapshot.pg_snapshot(source, dump)
            header.update(server_major=state.server_major, dump_major=state.dump_major)
        writer.add_bytes(archive.HEADER_NAME, (json.dumps(header, sort_keys=True) + "\n").encode())
        writer.add_file(archive.DB_SQLITE if kind == snapshot.SQLITE else archive.DB_POSTGRES, dump)
        dump.unlink()
        for name, data in key_files.items():
            writer.add_bytes(archive.KEYS_PREFIX + name, data)
        # The keys are restored to DATA_DIR/keys whatever KEYS_DIR was, so nothing else may sit there.
        exclude = {keys_dir, data_dir / "keys", work, out, *master_key_files(data_dir)}
        if kind == snapshot.SQLITE:
            db_path = Path(str(source))
            exclude |= {db_path.with_name(db_path.name + s) for s in ("", "-wal", "-shm", "-journal")}
        skipped, items = [], 0
        for rel, path in data_files(data_dir, exclude=exclude):
            if path is None:
                skipped.append(rel)
                continue
            member = writer.add_file(archive.DATA_PREFIX + rel, path)
            if (
                member is not None
                and rel.startswith("evidence/vault/items/")
                and rel.endswith("/manifest.json")
            ):
                items += 1
        if _keys_read(keys_dir) != key_files:
            raise _KeysChanged("the key files changed during the backup")
        current, live = keys.keyring_versions(keys_dir)
        summary.update(
            state=state, skipped=skipped, items=items, files=len(writer.members) - 1
        )  # not the header
        return {
            "format": archive.FORMAT,
            "id": backup_id,
            "created": header["created"],
            "db": state.to_json(),
            "keys": {
                "recovery_recipient": recipient,
                "current_version": current,
                "live_versions": list(live),
            },
            "evidence_items": items,
            "skipped": skipped,
        }

    written = archive.write_sealed(out, [recipient], produce)
    return written, summary


def _logged(
    actor: str, backup_id: str, state: snapshot.DbState, summary: dict[str, Any], written: archive.Written
) -> None:
    head_seq = 0 if state.audit_head is None else audit.head_parse(state.audit_head).seq
    with transaction.atomic():
        entry_append(
            actor=actor,
            action="backup.create",
            object_type="backups.backup",
            object_id=backup_id,
            details={
                "db": state.kind,
                "files": summary["files"],
                "evidence_items": summary["items"],
                "bytes": written.size,
                "digest": written.sha256,
                "audit_seq": head_seq,
            },
        )


def backup_create(*, out: Path, actor: str = ACTOR) -> BackupResult:
    """Write one backup to ``out`` (never overwriting) and record it in the audit chain."""
    data_dir = Path(settings.DATA_DIR).resolve()
    out = out.expanduser().absolute()
    if _inside(out.resolve(), data_dir):
        raise BackupError("write the backup outside the data directory (it would be lost with the data)")
    recipient = recovery_recipient(Path(settings.KEYS_DIR))
    _agent_check()
    backup_id = str(crypto.record_id_new())
    work = data_dir / f"{TMP_PREFIX}{backup_id}"
    work.mkdir(mode=0o700)
    try:
        for attempt in range(ATTEMPTS):
            try:
                written, summary = _write_once(out, work, recipient, backup_id)
                break
            except _KeysChanged:
                if attempt == ATTEMPTS - 1:
                    raise BackupError(
                        "the keys kept changing during the backup (a rotation is running): "
                        "try again when it has finished"
                    ) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    state: snapshot.DbState = summary["state"]
    try:
        _logged(actor, backup_id, state, summary, written)
    except BaseException:
        written.path.unlink(missing_ok=True)  # every backup that exists is in the chain
        raise
    return BackupResult(
        path=written.path,
        size=written.size,
        sha256=written.sha256,
        backup_id=backup_id,
        db_kind=state.kind,
        files=summary["files"],
        evidence_items=summary["items"],
        audit_head=state.audit_head,
        skipped=tuple(summary["skipped"]),
    )
