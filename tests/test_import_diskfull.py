"""Disk-full test: an import into a data directory on a small file system the test mounts.

The import must stop with one clear line, the database must still open and pass its integrity check,
the audit chain must verify, every committed batch must be whole, and after space is freed the same
command must finish the import with exactly the expected rows.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import random
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kartoteka.imports.testing import import_env, random_name, run
from kartoteka.lib import audit
from kartoteka.lib.agent import AgentClient

ROWS = 5_000


@contextlib.contextmanager
def _small_fs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        reason = f"cannot mount a small tmpfs here ({result.stderr.strip() or result.returncode})"
        print(reason)
        pytest.skip(reason)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def _fill(fs: Path, leave: int) -> Path:
    """Take all but ``leave`` bytes of the file system with a filler file."""
    stat = os.statvfs(fs)
    free = stat.f_bavail * stat.f_frsize
    filler = fs / "filler"
    with filler.open("wb") as handle:
        remaining = max(0, free - leave)
        block = b"\0" * (1 << 20)
        while remaining > 0:
            handle.write(block[: min(len(block), remaining)])
            remaining -= min(len(block), remaining)
    return filler


def _sheet(path: Path) -> int:
    rng = random.Random(11)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(["ФИО", "Дата рождения"])
    for _ in range(ROWS):
        writer.writerow([random_name(rng), f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.1975"])
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    return ROWS


def _db_state(db: Path, public_keys: dict[int, bytes], head: Path) -> tuple[int, int]:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        report = audit.verify(conn, public_keys, head_file=head if head.exists() else None)
        assert report.ok, str(report)
        row = conn.execute("SELECT rows_done, imported FROM imports_importrun").fetchone()
        records = conn.execute("SELECT count(*) FROM people_record").fetchone()[0]
        watermark, imported = row if row else (0, 0)
        assert records == imported == max(0, watermark - 1), "a batch was half-written"
        return int(watermark), int(records)
    finally:
        conn.close()


def test_it_stops_cleanly_when_the_disk_fills_and_resumes_after(tmp_path: Path) -> None:
    with _small_fs(tmp_path / "small", "64m") as fs, import_env(tmp_path, data=fs / "data") as env:
        sheet = tmp_path / "sheet.csv"  # the input lives elsewhere: only our own writes fill the disk
        expected = _sheet(sheet)
        public_keys = AgentClient(env.socket).audit_public_keys()
        filler = _fill(fs, leave=sheet.stat().st_size + 2_000_000)
        args = ("import", str(sheet), "--as", "case", "--quiet", "--lang", "en")
        failed = run(env, *args, check=False)
        assert failed.returncode == 1
        assert "the disk is full" in failed.stderr
        assert "Traceback" not in failed.stderr
        watermark, records = _db_state(env.sqlite, public_keys, env.head_file)
        assert records < expected
        vault_tmp = env.data / "evidence" / "vault" / "tmp"
        assert not vault_tmp.exists() or not any(vault_tmp.iterdir()), "a half-written vault item remains"
        filler.unlink()
        done = run(env, *args)
        assert done.stdout.strip().splitlines()[-1].startswith(f"imported={expected - records} ")
        assert _db_state(env.sqlite, public_keys, env.head_file) == (expected + 1, expected)
        print(f"disk full at watermark {watermark}; resumed to {expected} rows")
