"""The signed audit chain on SQLite and on the real PostgreSQL, attacked the way a database owner would."""

from __future__ import annotations

import itertools
import multiprocessing
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from kartoteka.lib import audit
from kartoteka.testing import postgres
from kartoteka.testing.signer import LocalSigner

WRITERS = 8
PER_WRITER = 50


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    try:
        with postgres.database_temporary("kartoteka_test_audit") as dsn:
            yield dsn
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


def _connect(kind: str, target: str) -> Any:
    if kind == "sqlite":
        return sqlite3.connect(target, isolation_level=None, timeout=60)
    return psycopg.connect(target)


@dataclass(frozen=True)
class Backend:
    kind: str
    target: str

    def connect(self) -> Any:
        return _connect(self.kind, self.target)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    conn: Any
    if request.param == "sqlite":
        target = str(tmp_path / "audit.sqlite3")
        conn = sqlite3.connect(target, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
    else:
        target = request.getfixturevalue("pg_dsn")
        conn = psycopg.connect(target, autocommit=True)
        conn.execute("DROP TABLE IF EXISTS audit_entry, audit_head")
    audit.schema_create(conn)
    conn.close()
    return Backend(request.param, target)


@pytest.fixture
def conn(backend: Backend) -> Iterator[Any]:
    connection = backend.connect()
    yield connection
    connection.close()


def _append(conn: Any, signer: LocalSigner, count: int, head_file: Path | None = None) -> list[audit.Entry]:
    entries = []
    for i in range(count):
        with audit.transaction(conn, head_file=head_file):
            entries.append(
                audit.entry_append(
                    conn,
                    signer,
                    actor="17",
                    action="person.update",
                    object_type="people.person",
                    object_id=str(1000 + i),
                    details={"field": "status", "step": i},
                )
            )
    return entries


# --- the attacker: owns the database, not the signing key ---------------------------------------------------


def _tamper(conn: Any, statements: list[tuple[str, tuple[object, ...]]]) -> None:
    """Run raw SQL as the database owner would: triggers off, then whatever it takes."""
    if isinstance(conn, sqlite3.Connection):
        conn.execute("DROP TRIGGER IF EXISTS audit_entry_no_update")
        conn.execute("DROP TRIGGER IF EXISTS audit_entry_no_delete")
        for sql, params in statements:
            conn.execute(sql, params)
        return
    with conn.transaction():
        conn.execute("ALTER TABLE audit_entry DISABLE TRIGGER USER")
        for sql, params in statements:
            conn.execute(sql.replace("?", "%s"), params)


def _rows(conn: Any) -> list[audit.Entry]:
    cur = conn.cursor()
    cur.execute(f"SELECT {audit.COLUMNS} FROM audit_entry ORDER BY seq")
    rows = [audit.entry_from_row(tuple(r)) for r in cur.fetchall()]
    cur.close()
    if not isinstance(conn, sqlite3.Connection):
        conn.commit()
    return rows


def _relinked(entries: list[audit.Entry], prev_hash: str, signer: LocalSigner) -> list[audit.Entry]:
    """Recompute hashes and links from ``prev_hash`` on, and sign with a key the attacker holds."""
    out = []
    for e in entries:
        e = replace(e, prev_hash=prev_hash)
        e = replace(e, entry_hash=audit.entry_hash_compute(e))
        _, (sig,) = signer.sign([audit.signing_message(e.entry_hash)])
        e = replace(e, signature=sig.hex(), key_version=1)
        out.append(e)
        prev_hash = e.entry_hash
    return out


def _rewrite(conn: Any, entries: list[audit.Entry], *, delete_from: int) -> None:
    """Replace every entry from ``delete_from`` on by ``entries`` and move audit_head to the new end."""
    statements: list[tuple[str, tuple[object, ...]]] = [
        ("DELETE FROM audit_entry WHERE seq >= ?", (delete_from,))
    ]
    placeholders = ", ".join("?" * 11)
    statements += [
        (f"INSERT INTO audit_entry ({audit.COLUMNS}) VALUES ({placeholders})", audit.entry_to_row(e))
        for e in entries
    ]
    last = entries[-1]
    statements.append(
        ("UPDATE audit_head SET seq = ?, entry_hash = ? WHERE id = 1", (last.seq, last.entry_hash))
    )
    _tamper(conn, statements)


# --- the chain --------------------------------------------------------------------------------------------


def test_it_appends_a_verifiable_chain_and_moves_the_head_file(conn: Any, tmp_path: Path) -> None:
    signer = LocalSigner()
    head_file = tmp_path / "audit.head"
    entries = _append(conn, signer, 5, head_file)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == audit.GENESIS_HASH
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(entries))
    assert audit.head_file_read(head_file) == entries[-1].head
    report = audit.verify(conn, signer.public_keys(), head_file, audit.head_text(entries[-1].head))
    assert report.ok, str(report)
    assert (report.entries, report.last_seq, report.last_hash) == (5, 5, entries[-1].entry_hash)


def test_it_signs_a_batch_in_one_round_trip(conn: Any) -> None:
    calls: list[int] = []

    class CountingSigner(LocalSigner):
        def sign(self, messages: list[bytes]) -> tuple[int, list[bytes]]:
            calls.append(len(messages))
            return super().sign(messages)

    signer = CountingSigner()
    drafts = [audit.Draft("17", "person.create", "people.person", str(i)) for i in range(100)]
    with audit.transaction(conn):
        entries = audit.entries_append(conn, signer, drafts)
    assert calls == [100]
    assert [e.seq for e in entries] == list(range(1, 101))
    assert audit.verify(conn, signer.public_keys()).ok


def test_it_refuses_to_append_outside_a_transaction(conn: Any) -> None:
    if not isinstance(conn, sqlite3.Connection):
        conn.autocommit = True
    with pytest.raises(audit.AuditError, match="transaction"):
        audit.entry_append(
            conn, LocalSigner(), actor="1", action="x", object_type="people.person", object_id="2"
        )


def test_it_rolls_back_the_entry_with_the_callers_transaction(conn: Any) -> None:
    signer = LocalSigner()
    _append(conn, signer, 2)

    def failing_service() -> None:
        with audit.transaction(conn):
            audit.entry_append(
                conn, signer, actor="1", action="x", object_type="people.person", object_id="2"
            )
            raise RuntimeError("the service failed after logging")

    with pytest.raises(RuntimeError):
        failing_service()
    assert [e.seq for e in _append(conn, signer, 1)] == [3]
    assert audit.verify(conn, signer.public_keys()).ok


def test_it_blocks_updates_and_deletes_through_the_triggers(conn: Any) -> None:
    _append(conn, LocalSigner(), 2)
    errors = (sqlite3.DatabaseError, psycopg.Error)
    for sql in ("UPDATE audit_entry SET actor = '2'", "DELETE FROM audit_entry"):
        with pytest.raises(errors, match="append-only"):
            conn.execute(sql)
        if not isinstance(conn, sqlite3.Connection):
            conn.rollback()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("actor", "Ivan Petrov"),
        ("actor", "Иванов"),
        ("object_id", "Petrov"),
        ("action", "Update!"),
        ("object_type", "People Person"),
        ("details", {"note": "Ivanov was moved to IK-2"}),
        ("details", {"Note": "ok"}),
        ("details", {f"k_{i}": "x" * 64 for i in range(16)}),
        ("details", {"big": 2**60}),
    ],
)
def test_it_refuses_anything_but_ids_and_codes(field: str, value: Any) -> None:
    draft = replace(audit.Draft("17", "person.update", "people.person", "42"), **{field: value})
    with pytest.raises(audit.AuditError) as info:
        audit.draft_check(draft)
    assert str(value) not in str(info.value)
    if isinstance(value, dict):
        assert not any(str(v) in str(info.value) for v in value.values())


# --- tampering, each reported at the first bad seq with its reason ------------------------------------------


def test_it_catches_an_edited_entry_even_with_the_chain_recomputed(conn: Any, tmp_path: Path) -> None:
    signer, attacker = LocalSigner(), LocalSigner()
    head_file = tmp_path / "audit.head"
    _append(conn, signer, 10, head_file)
    entries = _rows(conn)
    edited = [replace(entries[3], object_id="99"), *entries[4:]]
    forged = _relinked(edited, entries[2].entry_hash, attacker)
    _rewrite(conn, forged, delete_from=4)
    head_file.write_text(audit.head_text(forged[-1].head) + "\n")  # the head file sits on the same disk
    report = audit.verify(conn, signer.public_keys(), head_file)
    assert (report.ok, report.bad_seq, report.reason) == (False, 4, audit.Reason.BAD_SIGNATURE)
    assert report.entries == 3


def test_it_catches_an_edited_entry_by_its_hash(conn: Any) -> None:
    signer = LocalSigner()
    _append(conn, signer, 10)
    _tamper(conn, [("UPDATE audit_entry SET actor = ? WHERE seq = ?", ("18", 7))])
    report = audit.verify(conn, signer.public_keys())
    assert (report.ok, report.bad_seq, report.reason) == (False, 7, audit.Reason.HASH_MISMATCH)


@pytest.mark.parametrize("donor", ["attacker_key", "genuine_from_another_chain"])
def test_it_catches_an_inserted_entry(conn: Any, tmp_path: Path, donor: str) -> None:
    signer, attacker = LocalSigner(), LocalSigner()
    _append(conn, signer, 10)
    entries = _rows(conn)
    if donor == "attacker_key":
        inserted = audit.Entry(
            6, entries[5].time, "17", "person.delete", "people.person", "1005", None, 1, "", "", ""
        )
        tail = _relinked(
            [inserted, *[replace(e, seq=e.seq + 1) for e in entries[5:]]], entries[4].entry_hash, attacker
        )
        expected = audit.Reason.BAD_SIGNATURE
    else:
        # A genuinely signed entry 6 from another chain under the same key (a staging copy, an old backup).
        other = sqlite3.connect(tmp_path / "other.sqlite3", isolation_level=None)
        audit.schema_create(other)
        _append(other, signer, 6)
        tail = [_rows(other)[5], *[replace(e, seq=e.seq + 1) for e in entries[5:]]]
        expected = audit.Reason.PREV_MISMATCH
    _rewrite(conn, tail, delete_from=6)
    report = audit.verify(conn, signer.public_keys())
    assert (report.ok, report.bad_seq, report.reason) == (False, 6, expected)


@pytest.mark.parametrize(
    ("renumber", "expected"),
    [
        ("no", audit.Reason.SEQ_GAP),
        ("keep_hashes", audit.Reason.HASH_MISMATCH),
        ("recompute", audit.Reason.BAD_SIGNATURE),
    ],
)
def test_it_catches_a_deleted_middle_entry(conn: Any, renumber: str, expected: audit.Reason) -> None:
    signer, attacker = LocalSigner(), LocalSigner()
    _append(conn, signer, 10)
    entries = _rows(conn)
    if renumber == "no":
        _tamper(conn, [("DELETE FROM audit_entry WHERE seq = ?", (5,))])
    else:
        shifted = [replace(e, seq=e.seq - 1) for e in entries[5:]]
        if renumber == "recompute":
            shifted = _relinked(shifted, entries[3].entry_hash, attacker)
        _rewrite(conn, shifted, delete_from=5)
    report = audit.verify(conn, signer.public_keys())
    assert (report.ok, report.bad_seq, report.reason) == (False, 5, expected)


def test_it_catches_deleted_last_entries_through_the_heads_outside_the_database(
    conn: Any, tmp_path: Path
) -> None:
    signer = LocalSigner()
    head_file = tmp_path / "audit.head"
    entries = _append(conn, signer, 10, head_file)
    off_site = audit.head_text(entries[-1].head)
    # A careful attacker also moves audit_head back, so the database alone looks whole.
    _tamper(
        conn,
        [
            ("DELETE FROM audit_entry WHERE seq > ?", (8,)),
            ("UPDATE audit_head SET seq = ?, entry_hash = ? WHERE id = 1", (8, entries[7].entry_hash)),
        ],
    )
    assert audit.verify(conn, signer.public_keys()).ok  # why the head must live outside the database
    for report in (
        audit.verify(conn, signer.public_keys(), head_file=head_file),
        audit.verify(conn, signer.public_keys(), external_head=off_site),
    ):
        assert (report.ok, report.bad_seq, report.reason) == (False, 9, audit.Reason.TRUNCATED)
        assert report.entries == 8


def test_it_catches_a_deleted_last_entry_left_in_the_head_row(conn: Any) -> None:
    signer = LocalSigner()
    _append(conn, signer, 4)
    _tamper(conn, [("DELETE FROM audit_entry WHERE seq = ?", (4,))])
    report = audit.verify(conn, signer.public_keys())
    assert (report.ok, report.bad_seq, report.reason) == (False, 4, audit.Reason.TRUNCATED)


def test_it_catches_a_forged_signature_and_an_unknown_key_version(conn: Any) -> None:
    signer, attacker = LocalSigner(), LocalSigner()
    entries = _append(conn, signer, 6)
    _, (forged,) = attacker.sign([audit.signing_message(entries[2].entry_hash)])
    _tamper(conn, [("UPDATE audit_entry SET signature = ? WHERE seq = ?", (forged.hex(), 3))])
    report = audit.verify(conn, signer.public_keys())
    assert (report.bad_seq, report.reason) == (3, audit.Reason.BAD_SIGNATURE)
    _tamper(conn, [("UPDATE audit_entry SET key_version = ? WHERE seq = ?", (7, 2))])
    report = audit.verify(conn, signer.public_keys())
    assert (report.bad_seq, report.reason) == (2, audit.Reason.UNKNOWN_KEY)


def test_it_accepts_a_rotated_key_but_not_a_retired_one_used_later(conn: Any) -> None:
    signer = LocalSigner()
    _append(conn, signer, 3)
    old = LocalSigner(signer.seeds)
    signer.rotate()
    _append(conn, signer, 3)
    assert audit.verify(conn, signer.public_keys()).ok
    # Someone holding only the retired key re-signs the newest entry with it.
    entries = _rows(conn)
    _, (sig,) = old.sign([audit.signing_message(entries[5].entry_hash)])
    _tamper(conn, [("UPDATE audit_entry SET signature = ?, key_version = 1 WHERE seq = 6", (sig.hex(),))])
    report = audit.verify(conn, signer.public_keys())
    assert (report.bad_seq, report.reason) == (6, audit.Reason.KEY_REGRESSED)


def test_it_refuses_a_forged_head_file(conn: Any, tmp_path: Path) -> None:
    signer = LocalSigner()
    head_file = tmp_path / "audit.head"
    entries = _append(conn, signer, 3, head_file)
    fake = replace(entries[-1].head, seq=5, signature="ab" * 64)
    head_file.write_text(audit.head_text(fake) + "\n")
    report = audit.verify(conn, signer.public_keys(), head_file)
    assert (report.bad_seq, report.reason) == (5, audit.Reason.HEAD_BAD_SIGNATURE)


# --- the head file ----------------------------------------------------------------------------------------


def test_it_creates_the_head_files_missing_directory_private_to_the_owner(conn: Any, tmp_path: Path) -> None:
    head_file = tmp_path / "fresh-machine" / "state" / "audit.head"  # ~/.local/state may not exist yet
    entries = _append(conn, LocalSigner(), 2, head_file)
    assert audit.head_file_read(head_file) == entries[-1].head
    assert head_file.parent.stat().st_mode & 0o777 == 0o700


def test_it_only_moves_the_head_file_forward_and_refuses_a_fork(conn: Any, tmp_path: Path) -> None:
    signer = LocalSigner()
    head_file = tmp_path / "audit.head"
    entries = _append(conn, signer, 3, head_file)
    before = head_file.read_text()
    assert audit.head_file_advance(head_file, entries[0].head) is False
    assert head_file.read_text() == before
    forked = replace(entries[-1].head, entry_hash="f" * 64)
    with pytest.raises(audit.AuditError, match="forked"):
        audit.head_file_advance(head_file, forked)
    assert audit.head_parse(audit.head_text(entries[-1].head)) == entries[-1].head
    assert sorted(p.name for p in tmp_path.iterdir() if "head" in p.name) == ["audit.head", "audit.head.lock"]


# --- concurrency ------------------------------------------------------------------------------------------


def _writer(
    kind: str,
    target: str,
    seeds: dict[int, bytes],
    head_file: str,
    barrier: Any,
    results: Any,
    writer: int,
) -> None:
    seqs: list[int] = []
    try:
        conn = _connect(kind, target)
        signer = LocalSigner(seeds)
        barrier.wait(timeout=60)
        for i in range(PER_WRITER):
            with audit.transaction(conn, head_file=Path(head_file)):
                entry = audit.entry_append(
                    conn,
                    signer,
                    actor=str(writer),
                    action="load.test",
                    object_type="test.row",
                    object_id=str(i),
                )
            seqs.append(entry.seq)
        conn.close()
    except Exception as exc:  # reported to the parent, which would otherwise wait for a result
        results.put((writer, seqs, f"{type(exc).__name__}: {exc}"))
        return
    results.put((writer, seqs, None))


def test_it_keeps_one_chain_under_concurrent_writers(backend: Backend, tmp_path: Path) -> None:
    signer = LocalSigner()
    head_file = tmp_path / "audit.head"
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [
        ctx.Process(
            target=_writer,
            args=(backend.kind, backend.target, signer.seeds, str(head_file), barrier, results, w),
        )
        for w in range(WRITERS)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert [error for _, _, error in outcomes if error] == []
    assert [p.exitcode for p in procs] == [0] * WRITERS
    got = {writer: seqs for writer, seqs, _ in outcomes}
    all_seqs = sorted(s for seqs in got.values() for s in seqs)
    assert all_seqs == list(range(1, WRITERS * PER_WRITER + 1))  # no seq given twice: no fork
    assert all(seqs == sorted(seqs) for seqs in got.values())
    conn = backend.connect()
    try:
        report = audit.verify(conn, signer.public_keys(), head_file)
        assert report.ok, str(report)
        assert report.entries == WRITERS * PER_WRITER
        assert audit.head_file_read(head_file) == audit.head_read(conn)
        writers = {e.actor for e in _rows(conn)}
    finally:
        conn.close()
    assert writers == {str(w) for w in range(WRITERS)}
