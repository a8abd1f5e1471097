"""The audit log: an append-only, hash-chained, Ed25519-signed list of who did what to which record.

No Django here: storage is raw SQL through a DB-API connection (sqlite3, psycopg 3, or Django's
``connection``), so the same code writes from a service, a CLI command or a recovery script.

An entry holds ids and codes only, never content: a seized audit table shows that user 17 edited
person 0190…, not what was written. See docs/audit.md for the format and the threat model.

Canonical encoding (format 1). ``entry_hash`` is the lowercase hex SHA-256 of the UTF-8 bytes of::

    json.dumps({"v": 1, "seq", "time", "actor", "action", "object_type", "object_id", "details",
                "prev_hash"}, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

with ``details`` ``null`` or an object of codes, and ``prev_hash`` the previous entry's ``entry_hash``
(64 zeros for seq 1). The signature is Ed25519 over ``SIGNING_DOMAIN + bytes.fromhex(entry_hash)``.
``key_version`` is not hashed: it is an output of signing, like the signature, and is bound by it (a
signature verifies under one key only); :func:`verify` also refuses a key version that goes backwards.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import json
import os
import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from kartoteka.lib import crypto

FORMAT = 1
GENESIS_HASH = "0" * 64
SIGNING_DOMAIN = b"kartoteka/audit/v1\x00"
HEAD_PREFIX = "kartoteka-audit-head/1"
BATCH_MAX = 10_000
DETAILS_MAX_BYTES = 1024
DETAILS_MAX_KEYS = 16

# Ids, never names: a decimal id, a canonical UUID, or a machine actor such as ``system:import``.
_ID_RE = re.compile(
    r"[0-9]{1,20}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|system(:[a-z0-9_.-]{1,40})?"
)
_ACTION_RE = re.compile(r"[a-z_.]{1,64}")
_OBJECT_TYPE_RE = re.compile(r"[a-z_]{1,40}(\.[a-z_]{1,40})?")
_DETAIL_KEY_RE = re.compile(r"[a-z_]{1,40}")
_DETAIL_CODE_RE = re.compile(r"[a-z0-9_.:-]{1,64}")
_HEX64_RE = re.compile(r"[0-9a-f]{64}")
_HEX128_RE = re.compile(r"[0-9a-f]{128}")
_INT_LIMIT = 2**53  # JSON numbers stay exact in every reader below this

Code = str | int | bool | None
COLUMNS = (
    "seq, time, actor, action, object_type, object_id, details, key_version, prev_hash, entry_hash, signature"
)


class AuditError(Exception):
    """The audit log refused an operation (bad input, wrong transaction mode, a forked head file)."""


class Signer(Protocol):
    """Signs entry hashes. The key agent implements it in production; tests use LocalSigner."""

    def sign(self, messages: list[bytes]) -> tuple[int, list[bytes]]:
        """Sign every message with the current key; return its version and one signature per message."""
        ...

    def public_keys(self) -> dict[int, bytes]:
        """Every key version ever used (retired ones too) → raw 32-byte Ed25519 public key."""
        ...


@dataclass(frozen=True)
class Draft:
    """One entry to append: who, what action, on which object; optional non-sensitive codes."""

    actor: str
    action: str
    object_type: str
    object_id: str
    details: Mapping[str, Code] | None = None


@dataclass(frozen=True)
class Entry:
    seq: int
    time: str
    actor: str
    action: str
    object_type: str
    object_id: str
    details: Mapping[str, Code] | None
    key_version: int
    prev_hash: str
    entry_hash: str
    signature: str

    @property
    def head(self) -> Head:
        return Head(
            seq=self.seq, entry_hash=self.entry_hash, key_version=self.key_version, signature=self.signature
        )


@dataclass(frozen=True)
class Head:
    """The newest entry's position and proof; what the head file and off-site copies hold."""

    seq: int
    entry_hash: str
    key_version: int
    signature: str


class Reason(enum.StrEnum):
    SEQ_GAP = "seq_gap"  # an entry is missing: deleted from the middle
    SEQ_ORDER = "seq_order"  # numbering does not start at 1 or goes backwards
    HASH_MISMATCH = "hash_mismatch"  # content no longer matches its hash: edited
    BAD_SIGNATURE = "bad_signature"  # edited with the chain recomputed, inserted, or forged
    UNKNOWN_KEY = "unknown_key_version"
    KEY_REGRESSED = "key_version_regressed"  # signed with a retired key after a newer one was in use
    PREV_MISMATCH = "prev_hash_mismatch"  # the link to the previous entry is broken: spliced or renumbered
    MALFORMED = "malformed"
    TRUNCATED = "truncated"  # a head (DB row, head file, external copy) is ahead of the entries
    HEAD_MISMATCH = "head_mismatch"  # a head names a different entry at its seq: history rewritten
    HEAD_BAD_SIGNATURE = "head_bad_signature"
    HEAD_MISSING = "head_missing"


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    entries: int  # entries checked and found good
    last_seq: int
    last_hash: str
    bad_seq: int | None = None
    reason: Reason | None = None
    detail: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"audit chain OK: {self.entries} entries, head seq {self.last_seq} {self.last_hash[:16]}…"
        return f"audit chain BROKEN at seq {self.bad_seq}: {self.reason} ({self.detail})"


# --- validation and encoding ----------------------------------------------------------------------------


def draft_check(draft: Draft) -> None:
    """Raise AuditError unless every field is an id or a code; messages never echo the value."""
    if not _ID_RE.fullmatch(draft.actor):
        raise AuditError("actor must be a user id (digits or UUID) or system[:code]")
    if not _ID_RE.fullmatch(draft.object_id):
        raise AuditError("object_id must be an id (digits or UUID)")
    if not _ACTION_RE.fullmatch(draft.action):
        raise AuditError("action must match [a-z_.]{1,64}")
    if not _OBJECT_TYPE_RE.fullmatch(draft.object_type):
        raise AuditError("object_type must look like app.model in [a-z_]")
    if draft.details is not None:
        _details_check(draft.details)


def _details_check(details: Mapping[str, Code]) -> None:
    if not isinstance(details, Mapping) or len(details) > DETAILS_MAX_KEYS:
        raise AuditError(f"details must be a mapping of at most {DETAILS_MAX_KEYS} codes")
    for key, value in details.items():
        if not isinstance(key, str) or not _DETAIL_KEY_RE.fullmatch(key):
            raise AuditError("details keys must match [a-z_]{1,40}")
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int):
            if abs(value) >= _INT_LIMIT:
                raise AuditError(f"details[{key}] integer out of range")
            continue
        if not isinstance(value, str) or not _DETAIL_CODE_RE.fullmatch(value):
            raise AuditError(f"details[{key}] must be a code [a-z0-9_.:-]{{1,64}}, an integer or a boolean")
    if len(_json(dict(details))) > DETAILS_MAX_BYTES:
        raise AuditError(f"details exceed {DETAILS_MAX_BYTES} bytes")


def _json(value: object) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode()


def canonical_bytes(
    *,
    seq: int,
    time: str,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    details: Mapping[str, Code] | None,
    prev_hash: str,
) -> bytes:
    """The exact bytes entry_hash is computed over (see the module docstring)."""
    record = {
        "v": FORMAT,
        "seq": seq,
        "time": time,
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "details": None if details is None else dict(details),
        "prev_hash": prev_hash,
    }
    return _json(record)


def entry_hash_compute(entry: Entry) -> str:
    data = canonical_bytes(
        seq=entry.seq,
        time=entry.time,
        actor=entry.actor,
        action=entry.action,
        object_type=entry.object_type,
        object_id=entry.object_id,
        details=entry.details,
        prev_hash=entry.prev_hash,
    )
    return crypto.digest(data).hex()


def signing_message(entry_hash: str) -> bytes:
    return SIGNING_DOMAIN + bytes.fromhex(entry_hash)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- the database adapter ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Db:
    """A connection plus what differs between backends: placeholder style and row locking."""

    conn: Any  # sqlite3.Connection, psycopg.Connection or Django's connection: DB-API, loosely typed
    dialect: str  # "sqlite" | "postgresql"
    paramstyle: str  # "qmark" | "format"

    def sql(self, query: str) -> str:
        # Queries are written with "?"; none of ours contains a literal "?" or "%".
        return query.replace("?", "%s") if self.paramstyle == "format" else query

    def fetchone(self, query: str, params: Sequence[object] = ()) -> tuple[Any, ...] | None:
        cur = self.conn.cursor()
        try:
            cur.execute(self.sql(query), tuple(params))
            row = cur.fetchone()
            return None if row is None else tuple(row)
        finally:
            cur.close()

    def fetchall(self, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.cursor()
        try:
            cur.execute(self.sql(query), tuple(params))
            return [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()

    def execute(self, query: str, params: Sequence[object] = ()) -> None:
        cur = self.conn.cursor()
        try:
            cur.execute(self.sql(query), tuple(params))
        finally:
            cur.close()

    def executemany(self, query: str, rows: Sequence[Sequence[object]]) -> None:
        cur = self.conn.cursor()
        try:
            cur.executemany(self.sql(query), [tuple(r) for r in rows])
        finally:
            cur.close()


def _db(conn: Any) -> _Db:
    if isinstance(conn, sqlite3.Connection):
        return _Db(conn, "sqlite", "qmark")
    vendor = getattr(conn, "vendor", None)  # Django's connection: its cursors take %s on every backend
    if vendor in ("sqlite", "postgresql"):
        return _Db(conn, str(vendor), "format")
    if type(conn).__module__.split(".")[0] == "psycopg":
        return _Db(conn, "postgresql", "format")
    raise AuditError(f"unsupported connection type {type(conn).__name__}")


def _require_transaction(db: _Db) -> None:
    """Fail loudly instead of appending in autocommit, where the head lock would be released at once."""
    conn = db.conn
    if isinstance(conn, sqlite3.Connection):
        if not conn.in_transaction:
            raise AuditError(
                "sqlite: append inside a transaction opened with BEGIN IMMEDIATE (audit.transaction)"
            )
        return
    if getattr(conn, "vendor", None) is not None:
        if getattr(conn, "in_atomic_block", True) is False and getattr(conn, "autocommit", False):
            raise AuditError("django: append inside transaction.atomic()")
        return
    if getattr(conn, "autocommit", False) and conn.info.transaction_status.name != "INTRANS":
        raise AuditError("psycopg: append inside conn.transaction() (or audit.transaction)")


# --- schema -----------------------------------------------------------------------------------------------


def schema_statements(dialect: str) -> list[str]:
    """CREATE statements (idempotent) for audit_entry and audit_head, with append-only triggers.

    Triggers stop accidents and careless code, not a database owner, who can drop them: the chain
    and the head file are what catch a determined editor.
    """
    if dialect not in ("sqlite", "postgresql"):
        raise AuditError(f"unknown dialect {dialect!r}")
    statements = [
        """CREATE TABLE IF NOT EXISTS audit_entry (
    seq BIGINT PRIMARY KEY,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    details TEXT NULL,
    key_version INTEGER NOT NULL,
    prev_hash TEXT NOT NULL,
    entry_hash TEXT NOT NULL UNIQUE,
    signature TEXT NOT NULL
)""",
        """CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    entry_hash TEXT NOT NULL
)""",
        f"INSERT INTO audit_head (id, seq, entry_hash) VALUES (1, 0, '{GENESIS_HASH}') "  # noqa: S608 constant
        "ON CONFLICT (id) DO NOTHING",
    ]
    if dialect == "sqlite":
        for op in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER IF NOT EXISTS audit_entry_no_{op.lower()} BEFORE {op} ON audit_entry "
                "BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END"
            )
    else:
        statements += [
            """CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit entries are append-only'; END $$""",
            "DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_entry",
            "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_entry "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()",
        ]
    return statements


def schema_sql(dialect: str) -> str:
    """The schema as one script (``sqlite3.executescript`` or a migration's RunSQL)."""
    return ";\n".join(schema_statements(dialect)) + ";\n"


def schema_create(conn: Any) -> None:
    """Run :func:`schema_statements` on ``conn``; the caller commits."""
    db = _db(conn)
    for statement in schema_statements(db.dialect):
        cur = conn.cursor()
        try:
            cur.execute(statement)
        finally:
            cur.close()


# --- appending --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def transaction(conn: Any, *, head_file: Path | None = None) -> Iterator[None]:
    """A write transaction for sqlite3 or psycopg that takes the write lock up front.

    SQLite: ``BEGIN IMMEDIATE`` — a deferred transaction would read the head under a shared lock and
    two writers could both extend the same head. PostgreSQL: the append's ``SELECT … FOR UPDATE`` on
    the head row serialises writers. After a successful commit the head is written to ``head_file``.
    Django code uses ``transaction.atomic()`` and ``transaction.on_commit(...)`` with
    :func:`head_read` and :func:`head_file_advance` instead.
    """
    db = _db(conn)
    head: Head | None = None
    if isinstance(conn, sqlite3.Connection):
        if conn.in_transaction:
            raise AuditError("sqlite: a transaction is already open; audit.transaction must start it")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            if head_file is not None:
                head = head_read(conn)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
    elif db.dialect == "postgresql" and getattr(conn, "vendor", None) is None:
        with conn.transaction():
            yield
            if head_file is not None:
                head = head_read(conn)
        if not conn.autocommit:
            conn.commit()  # psycopg leaves a non-autocommit connection's outer transaction to the caller
    else:
        raise AuditError("use django.db.transaction.atomic() with a Django connection")
    if head_file is not None and head is not None:
        head_file_advance(head_file, head)


def entry_append(
    conn: Any,
    signer: Signer,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    details: Mapping[str, Code] | None = None,
) -> Entry:
    """Append one entry inside the caller's transaction (see :func:`transaction`)."""
    draft = Draft(actor=actor, action=action, object_type=object_type, object_id=object_id, details=details)
    return entries_append(conn, signer, [draft])[0]


def entries_append(conn: Any, signer: Signer, drafts: Sequence[Draft]) -> list[Entry]:
    """Append a batch under one head lock and one signing round-trip, inside the caller's transaction."""
    if not drafts:
        return []
    if len(drafts) > BATCH_MAX:
        raise AuditError(f"at most {BATCH_MAX} entries per batch")
    for draft in drafts:
        draft_check(draft)
    db = _db(conn)
    _require_transaction(db)
    seq, prev_hash = _head_lock(db)
    time = _now()
    unsigned: list[Entry] = []
    for draft in drafts:
        seq += 1
        details = None if draft.details is None else dict(sorted(draft.details.items()))
        entry = Entry(
            seq,
            time,
            draft.actor,
            draft.action,
            draft.object_type,
            draft.object_id,
            details,
            0,
            prev_hash,
            "",
            "",
        )
        prev_hash = entry_hash_compute(entry)
        unsigned.append(_replace(entry, entry_hash=prev_hash))
    key_version, signatures = signer.sign([signing_message(e.entry_hash) for e in unsigned])
    if len(signatures) != len(unsigned):
        raise AuditError("signer returned the wrong number of signatures")
    entries = [
        _replace(e, key_version=key_version, signature=sig.hex())
        for e, sig in zip(unsigned, signatures, strict=True)
    ]
    db.executemany(
        f"INSERT INTO audit_entry ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
        [entry_to_row(e) for e in entries],
    )
    last = entries[-1]
    db.execute("UPDATE audit_head SET seq = ?, entry_hash = ? WHERE id = 1", (last.seq, last.entry_hash))
    return entries


def _head_lock(db: _Db) -> tuple[int, str]:
    if db.dialect == "postgresql":
        row = db.fetchone("SELECT seq, entry_hash FROM audit_head WHERE id = 1 FOR UPDATE")
    else:
        # Already exclusive under BEGIN IMMEDIATE; the no-op write also takes the lock under a deferred
        # transaction, as long as it is the transaction's first statement.
        db.execute("UPDATE audit_head SET seq = seq WHERE id = 1")
        row = db.fetchone("SELECT seq, entry_hash FROM audit_head WHERE id = 1")
    if row is None:
        raise AuditError("audit_head row missing: run schema_create")
    return int(row[0]), str(row[1])


def _replace(entry: Entry, **changes: Any) -> Entry:
    fields = {name: getattr(entry, name) for name in Entry.__dataclass_fields__}
    fields.update(changes)
    return Entry(**fields)


def entry_to_row(e: Entry) -> tuple[object, ...]:
    details = None if e.details is None else _json(dict(e.details)).decode()
    return (
        e.seq,
        e.time,
        e.actor,
        e.action,
        e.object_type,
        e.object_id,
        details,
        e.key_version,
        e.prev_hash,
        e.entry_hash,
        e.signature,
    )


# --- the head outside the database -------------------------------------------------------------------------


def head_read(conn: Any) -> Head | None:
    """The database's current head with its signature, or None for an empty chain."""
    db = _db(conn)
    row = db.fetchone(
        "SELECT h.seq, h.entry_hash, e.key_version, e.signature FROM audit_head h "
        "JOIN audit_entry e ON e.seq = h.seq WHERE h.id = 1"
    )
    if row is None:
        return None
    return Head(seq=int(row[0]), entry_hash=str(row[1]), key_version=int(row[2]), signature=str(row[3]))


def head_text(head: Head) -> str:
    """One printable line for an off-site copy (paper, chat, another server)."""
    return f"{HEAD_PREFIX} seq={head.seq} hash={head.entry_hash} key={head.key_version} sig={head.signature}"


def head_parse(text: str) -> Head:
    parts = text.strip().split(" ")
    if len(parts) != 5 or parts[0] != HEAD_PREFIX:
        raise AuditError("not an audit head line")
    try:
        fields = dict(p.split("=", 1) for p in parts[1:])
        head = Head(
            seq=int(fields["seq"]),
            entry_hash=fields["hash"],
            key_version=int(fields["key"]),
            signature=fields["sig"],
        )
    except (KeyError, ValueError):
        raise AuditError("malformed audit head line") from None
    if head.seq < 1 or not _HEX64_RE.fullmatch(head.entry_hash) or not _HEX128_RE.fullmatch(head.signature):
        raise AuditError("malformed audit head line")
    return head


def head_file_read(path: Path) -> Head | None:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    return head_parse(text)


def head_file_advance(path: Path, head: Head) -> bool:
    """Atomically replace the head file with ``head`` if it is newer; never move it back.

    Returns whether the file changed. A different hash at the same seq means two histories: raise.
    """
    path = Path(path)
    # The default lives under ~/.local/state, absent on a fresh machine; keep it private to the owner.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # on a side file: rename replaces the head file's inode
        current = head_file_read(path)
        if current is not None and current.seq >= head.seq:
            if current.seq == head.seq and current.entry_hash != head.entry_hash:
                raise AuditError(f"head file has a different entry at seq {head.seq}: the chain forked")
            return False
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(head_text(head) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)
        return True
    finally:
        os.close(fd)


# --- verification -----------------------------------------------------------------------------------------


def verify(
    conn: Any,
    public_keys: Mapping[int, bytes],
    head_file: Path | None = None,
    external_head: Head | str | None = None,
    *,
    page: int = 1000,
) -> VerifyReport:
    """Walk the whole chain and report the first bad entry and why; then compare it with every head."""
    db = _db(conn)
    walk = _Walk(public_keys)
    query = f"SELECT {COLUMNS} FROM audit_entry WHERE seq > ? ORDER BY seq LIMIT ?"  # noqa: S608
    after = 0
    while True:
        rows = db.fetchall(query, (after, page))
        if not all(walk.step(row) for row in rows) or len(rows) < page:
            break
        after = int(rows[-1][0])
    if walk.failure is not None:
        return walk.failure
    heads: list[tuple[str, Head | None, str | None]] = [("audit_head row", _db_head(db), None)]
    if head_file is not None:
        heads.append(_head_from_file(Path(head_file)))
    if external_head is not None:
        heads.append(_head_from_text("external head", external_head))
    for source, head, problem in heads:
        failure = walk.compare(source, head, problem, db)
        if failure is not None:
            return failure
    return walk.report()


def _db_head(db: _Db) -> Head | None:
    row = db.fetchone("SELECT seq, entry_hash FROM audit_head WHERE id = 1")
    if row is None or int(row[0]) == 0:
        return None
    return Head(seq=int(row[0]), entry_hash=str(row[1]), key_version=-1, signature="")


def _head_from_file(path: Path) -> tuple[str, Head | None, str | None]:
    try:
        head = head_file_read(path)
    except (AuditError, OSError, UnicodeError):
        return ("head file", None, "unreadable or malformed")
    return ("head file", head, None if head is not None else "missing")


def _head_from_text(source: str, value: Head | str) -> tuple[str, Head | None, str | None]:
    if isinstance(value, Head):
        return (source, value, None)
    try:
        return (source, head_parse(value), None)
    except AuditError:
        return (source, None, "malformed")


class _Walk:
    def __init__(self, public_keys: Mapping[int, bytes]) -> None:
        self.keys = dict(public_keys)
        self.count = 0
        self.seq = 0
        self.hash = GENESIS_HASH
        self.key_version = 0
        self.failure: VerifyReport | None = None

    def fail(self, seq: int, reason: Reason, detail: str) -> VerifyReport:
        return VerifyReport(False, self.count, self.seq, self.hash, bad_seq=seq, reason=reason, detail=detail)

    def report(self) -> VerifyReport:
        return VerifyReport(True, self.count, self.seq, self.hash)

    def step(self, row: tuple[Any, ...]) -> bool:
        """Check one row; False (and ``failure`` set) at the first bad one."""
        self.failure = self._check(row)
        if self.failure is not None:
            return False
        self.count += 1
        self.seq = int(row[0])
        self.hash = str(row[9])
        self.key_version = int(row[7])
        return True

    def _check(self, row: tuple[Any, ...]) -> VerifyReport | None:
        seq = int(row[0])
        expected = self.seq + 1
        if seq > expected:
            return self.fail(expected, Reason.SEQ_GAP, f"entries {expected}..{seq - 1} are missing")
        if seq < expected:
            return self.fail(seq, Reason.SEQ_ORDER, f"seq {seq} where {expected} was expected")
        try:
            entry = entry_from_row(row)
        except (ValueError, TypeError, AuditError):
            return self.fail(seq, Reason.MALFORMED, "a field is not in the format the log writes")
        if entry_hash_compute(entry) != entry.entry_hash:
            return self.fail(seq, Reason.HASH_MISMATCH, "content does not match its hash: edited")
        public = self.keys.get(entry.key_version)
        if public is None:
            return self.fail(seq, Reason.UNKNOWN_KEY, f"key version {entry.key_version} is not known")
        if entry.key_version < self.key_version:
            return self.fail(
                seq, Reason.KEY_REGRESSED, f"key version {entry.key_version} after {self.key_version}"
            )
        try:
            crypto.signature_verify(public, signing_message(entry.entry_hash), bytes.fromhex(entry.signature))
        except crypto.IntegrityError:
            return self.fail(
                seq, Reason.BAD_SIGNATURE, "signature does not verify: edited, inserted or forged"
            )
        if entry.prev_hash != self.hash:
            return self.fail(seq, Reason.PREV_MISMATCH, "does not link to the previous entry")
        return None

    def compare(self, source: str, head: Head | None, problem: str | None, db: _Db) -> VerifyReport | None:
        if problem == "missing" and self.seq == 0:
            return None
        if problem is not None:
            return self.fail(self.seq + 1, Reason.HEAD_MISSING, f"{source} {problem}")
        if head is None:
            if self.seq > 0:
                return self.fail(1, Reason.HEAD_MISMATCH, f"{source} is empty but the chain is not")
            return None
        if head.signature:
            public = self.keys.get(head.key_version)
            try:
                if public is None:
                    raise crypto.IntegrityError("unknown key")
                crypto.signature_verify(
                    public, signing_message(head.entry_hash), bytes.fromhex(head.signature)
                )
            except (crypto.IntegrityError, ValueError):
                return self.fail(head.seq, Reason.HEAD_BAD_SIGNATURE, f"{source} signature does not verify")
        if head.seq > self.seq:
            return self.fail(
                self.seq + 1,
                Reason.TRUNCATED,
                f"{source} is at seq {head.seq}, the entries end at {self.seq}",
            )
        row = db.fetchone("SELECT entry_hash FROM audit_entry WHERE seq = ?", (head.seq,))
        if row is None or str(row[0]) != head.entry_hash:
            return self.fail(head.seq, Reason.HEAD_MISMATCH, f"{source} names another entry at this seq")
        if source == "audit_head row" and head.seq != self.seq:
            return self.fail(head.seq + 1, Reason.HEAD_MISMATCH, f"entries continue past the {source}")
        return None


def entry_from_row(row: tuple[Any, ...]) -> Entry:
    details_raw = row[6]
    details: dict[str, Code] | None = None
    if details_raw is not None:
        details = json.loads(str(details_raw))
        if not isinstance(details, dict):
            raise AuditError("details is not an object")
    entry = Entry(
        seq=int(row[0]),
        time=str(row[1]),
        actor=str(row[2]),
        action=str(row[3]),
        object_type=str(row[4]),
        object_id=str(row[5]),
        details=details,
        key_version=int(row[7]),
        prev_hash=str(row[8]),
        entry_hash=str(row[9]),
        signature=str(row[10]),
    )
    if not (_HEX64_RE.fullmatch(entry.entry_hash) and _HEX128_RE.fullmatch(entry.signature)):
        raise AuditError("hash or signature not hex")
    return entry
