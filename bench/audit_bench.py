"""Audit append rate (one writer, batches of 100, one transaction per batch) and canary scan throughput.

Run: python -m bench.audit_bench (or python -m bench audit once registered in bench/__main__.py).
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.util import row
from kartoteka.lib import audit
from kartoteka.testing import canary, postgres
from kartoteka.testing.signer import LocalSigner

BATCH = 100
BATCHES = 50
SINGLES = 500


def _rate(conn: Any, head_file: Path) -> tuple[float, float]:
    signer = LocalSigner()
    drafts = [
        audit.Draft("17", "person.update", "people.person", str(i), {"field": "status"}) for i in range(BATCH)
    ]
    t0 = time.perf_counter()
    for _ in range(BATCHES):
        with audit.transaction(conn, head_file=head_file):
            audit.entries_append(conn, signer, drafts)
    batched = BATCH * BATCHES / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for i in range(SINGLES):
        with audit.transaction(conn, head_file=head_file):
            audit.entry_append(
                conn, signer, actor="17", action="x", object_type="people.person", object_id=str(i)
            )
    single = SINGLES / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    report = audit.verify(conn, signer.public_keys(), head_file)
    assert report.ok, str(report)
    row("verify", report.entries / (time.perf_counter() - t0), "entries/s")
    return batched, single


def main(argv: list[str] | None = None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "a.sqlite3", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        audit.schema_create(conn)
        batched, single = _rate(conn, Path(tmp) / "sqlite.head")
        row("sqlite append, batches of 100 (WAL)", batched, "entries/s")
        row("sqlite append, 1 per transaction (WAL)", single, "entries/s")
        conn.close()
        with postgres.database_temporary("kartoteka_bench_audit") as dsn, psycopg.connect(dsn) as pg:
            audit.schema_create(pg)
            pg.commit()
            batched, single = _rate(pg, Path(tmp) / "pg.head")
            row("postgresql append, batches of 100", batched, "entries/s")
            row("postgresql append, 1 per transaction", single, "entries/s")
        big = Path(tmp) / "big.bin"
        with open(big, "wb") as fh:
            for _ in range(32):
                fh.write(os.urandom(8 * 1024 * 1024))
        markers: list[bytes | str] = [
            secrets.token_hex(16),
            "Канарейка-" + secrets.token_hex(8),
            os.urandom(16),
        ]
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            canary.scan(markers, [big], include_processes=False, include_tmpdir=False)
            best = min(best, time.perf_counter() - t0)
        row("canary scan, 256 MiB file, 3 markers (10 patterns)", 256 / best, "MiB/s", "target ≥ 200")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
