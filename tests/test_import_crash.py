"""Crash test: a 200,000-row import killed with SIGKILL at random moments, then resumed to the end (and a
30,000-row one on PostgreSQL, whose batches go through COPY inside the batch's transaction).

After each kill the database passes its integrity check, the audit chain verifies, and every row up to
the run's watermark is accounted for exactly once (imported or quarantined): no batch is half-written.
"""

from __future__ import annotations

import contextlib
import csv
import io
import random
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from kartoteka.imports.testing import IMPORT_ONLY, Env, import_env, random_name, run, start
from kartoteka.lib import audit
from kartoteka.lib.agent import AgentClient
from kartoteka.testing import postgres

ROWS = 200_000
ROWS_POSTGRES = 30_000  # the same kills on PostgreSQL (COPY inside the batch's transaction)
BROKEN_EVERY = 1000  # row k·1000 has no name: 200 broken rows
KILLS = 10


def _sheet(path: Path, rows: int) -> tuple[int, int]:
    rng = random.Random(2026)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(["ФИО", "Дата рождения"])
    valid = 0
    for i in range(1, rows + 1):
        if i % BROKEN_EVERY == 0:
            writer.writerow(["", "01.01.1980"])
        else:
            born = f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.19{rng.randint(50, 99)}"
            writer.writerow([random_name(rng), born])
            valid += 1
    path.write_bytes(buffer.getvalue().encode("cp1251"))
    return valid, rows - valid


def _expected_upto(watermark: int) -> tuple[int, int]:
    """(valid, broken) among data rows 2..watermark (data row i is file row i + 1)."""
    data_rows = max(0, watermark - 1)
    broken = data_rows // BROKEN_EVERY
    return data_rows - broken, broken


def _connect(env: Env, dsn: str) -> Any:
    return psycopg.connect(dsn, autocommit=True) if dsn else sqlite3.connect(env.sqlite, timeout=30)


def _killed_sessions_gone(dsn: str) -> None:
    """Wait until PostgreSQL has finished the killed client's sessions.

    A client killed just after sending COMMIT leaves its server process to finish that commit on its own,
    so a check started at once could read the run's counters before the commit and its rows after it."""
    deadline = time.monotonic() + 60
    with psycopg.connect(dsn, autocommit=True) as conn:
        while conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone() != (0,):
            assert time.monotonic() < deadline, "the killed import's PostgreSQL session did not end in 60 s"
            time.sleep(0.05)


def _check(env: Env, public_keys: dict[int, bytes], dsn: str = "") -> int:
    """Integrity, the audit chain, and exactly-once rows up to the watermark; returns the watermark."""
    if dsn:
        _killed_sessions_gone(dsn)
    conn = _connect(env, dsn)
    try:
        if dsn:
            # every count below from one snapshot
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        else:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        report = audit.verify(conn, public_keys, head_file=env.head_file if env.head_file.exists() else None)
        assert report.ok, str(report)
        run_row = conn.execute("SELECT rows_done, imported, quarantined FROM imports_importrun").fetchone()
        if run_row is None:
            assert conn.execute("SELECT count(*) FROM people_record").fetchone() == (0,)
            return 0
        watermark, imported, quarantined = run_row
        records = conn.execute("SELECT count(*), count(DISTINCT origin_row) FROM people_record").fetchone()
        held = conn.execute("SELECT count(*) FROM imports_quarantinerow").fetchone()[0]
        assert records[0] == records[1] == imported
        assert held == quarantined
        assert (imported, quarantined) == _expected_upto(watermark)
        return int(watermark)
    finally:
        conn.close()


def _watermark(env: Env, dsn: str) -> int:
    try:
        conn = (
            psycopg.connect(dsn, autocommit=True)
            if dsn
            else sqlite3.connect(f"file:{env.sqlite}?mode=ro", uri=True, timeout=5)
        )
    except (sqlite3.OperationalError, psycopg.OperationalError):
        return 0  # not created yet
    try:
        row = conn.execute("SELECT rows_done FROM imports_importrun").fetchone()
        return int(row[0]) if row else 0
    except (sqlite3.OperationalError, psycopg.Error):
        return 0  # the table is being created, or the database is locked for a moment
    finally:
        conn.close()


def _kill_at_a_random_moment(
    env: Env, proc: subprocess.Popen[str], rng: random.Random, early: bool, dsn: str
) -> bool:
    """SIGKILL at a random moment; returns False if the import finished first.

    Early kills land anywhere from start-up on (settings, hashing, the vault copy of the original); later
    ones wait until this process has committed a batch of its own, then up to 0.6 s more (about one
    batch), so they land anywhere in the batch cycle (parse, seal, insert, commit) whatever the
    machine's speed."""
    if early:
        time.sleep(rng.uniform(0.05, 2.0))
    else:
        before = _watermark(env, dsn)
        deadline = time.monotonic() + 300
        while _watermark(env, dsn) == before and proc.poll() is None:
            assert time.monotonic() < deadline, "the import made no progress for 5 minutes"
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.6))
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return True


@contextlib.contextmanager
def _database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        yield ""
        return
    with postgres.database_temporary("kartoteka_test_crash") as dsn:
        yield dsn


def _url(dsn: str) -> str:
    if not dsn:
        return ""
    parts = psycopg.conninfo.conninfo_to_dict(dsn)
    password = f":{parts['password']}" if parts.get("password") else ""
    return (
        f"postgres://{parts.get('user', 'postgres')}{password}@{parts.get('host', '127.0.0.1')}"
        f":{parts.get('port', 5432)}/{parts['dbname']}"
    )


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "rows"), [("sqlite", ROWS), ("postgresql", ROWS_POSTGRES)])
def test_it_survives_sigkill_at_random_moments_and_resumes_to_exactly_the_rows(
    tmp_path: Path, backend: str, rows: int
) -> None:
    with _database(backend) as dsn, import_env(tmp_path, database_url=_url(dsn)) as env:
        sheet = tmp_path / "big.csv"
        valid, broken = _sheet(sheet, rows)
        public_keys = AgentClient(env.socket).audit_public_keys()
        rng = random.Random()
        args = (str(sheet), "--as", "case", "--quiet", "--lang", "en")
        watermarks = []
        for kill in range(KILLS + 2):
            proc = start(env, *args, command=IMPORT_ONLY)
            if not _kill_at_a_random_moment(env, proc, rng, kill < 2, dsn):
                break
            watermarks.append(_check(env, public_keys, dsn))
        print(f"{backend}: killed {len(watermarks)} times at watermarks {watermarks}")
        assert len(watermarks) >= KILLS, "the import finished before the tenth kill: lengthen the sheet"
        assert watermarks == sorted(watermarks) and watermarks[-1] > 0
        result = run(env, "import", *args)  # the real command finishes it
        assert result.stdout.strip().splitlines()[-1].startswith("imported=")
        assert _check(env, public_keys, dsn) == rows + 1
        conn = _connect(env, dsn)
        try:
            status = conn.execute(
                "SELECT status, imported, quarantined, duplicates FROM imports_importrun"
            ).fetchone()
            assert status == ("done", valid, broken, 0)
            assert conn.execute("SELECT count(*) FROM people_record").fetchone() == (valid,)
            assert conn.execute("SELECT count(*) FROM people_person").fetchone() == (valid,)
        finally:
            conn.close()
        again = run(env, *args, command=IMPORT_ONLY)
        assert again.stdout.strip().splitlines()[-1] == "imported=0 quarantined=0 flagged=0 duplicates=0"
