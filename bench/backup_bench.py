"""`python -m bench backup`: the backup and restore pipelines on a synthetic evidence store.

A data directory of incompressible files (what a vault's sealed chunks look like) plus a SQLite database
goes through the real pipeline — SQLite backup API, tar stream, age to a recovery recipient, fsync, rename —
and back: age, tar, one private file per member with its SHA-256 checked against the manifest. The
reference, timed on the same files in the same round, is what any backup must do at least once: read every
byte and write a copy (``cp -r`` then ``sync``). CPU seconds per MB are printed too: on a shared machine they
move much less than wall time. Each pipeline runs in a child process so its peak RSS is
its own; two sizes show whether memory grows with the data (it must not).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.util import row

_BLOCK = 4 * 1024 * 1024

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from kartoteka.backups import archive, snapshot
from kartoteka.backups.restore import members_unpack as _unpack
mode, data, out, key = sys.argv[1:5]
data, out = Path(data), Path(out)
t0 = time.perf_counter()
if mode == "backup":
    work = out.parent / "work"
    work.mkdir()
    def produce(w):
        state = snapshot.sqlite_snapshot(data / "kartoteka.sqlite3", work / "db")
        w.add_bytes(archive.HEADER_NAME, json.dumps({"format": 1, "id": "b", "db_kind": "sqlite"}).encode())
        w.add_file(archive.DB_SQLITE, work / "db")
        for name in archive.KEY_FILES:
            w.add_bytes(archive.KEYS_PREFIX + name, b"{}")
        for path in sorted((data / "evidence").rglob("*")):
            if path.is_file():
                w.add_file(archive.DATA_PREFIX + path.relative_to(data).as_posix(), path)
        return {"format": 1, "id": "b", "db": state.to_json()}
    archive.write_sealed(out, [key], produce)
else:
    staging = out.parent / "restored"
    staging.mkdir()
    archive.read_sealed(Path(sys.argv[5]), key, lambda r: _unpack(r, staging, lambda h: None))
elapsed = time.perf_counter() - t0
use = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": elapsed, "cpu": use.ru_utime + use.ru_stime, "rss_mb": use.ru_maxrss / 1024}))
"""


def _make_data(root: Path, size_mb: int, files: int) -> None:
    vault = root / "evidence" / "vault" / "items"
    block = bytearray(os.urandom(_BLOCK))
    per_file = size_mb * 1024 * 1024 // files
    for i in range(files):
        path = vault / f"{i % 256:02x}" / f"item-{i}" / "chunks.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            left = per_file
            n = 0
            while left > 0:
                block[:8] = (i * 1_000_003 + n).to_bytes(8, "big")
                piece = block[: min(_BLOCK, left)]
                fh.write(piece)
                left -= len(piece)
                n += 1
    db = sqlite3.connect(root / "kartoteka.sqlite3")
    db.executescript(
        "CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app TEXT, name TEXT, applied TEXT);"
        "INSERT INTO django_migrations (app, name, applied) VALUES ('people', '0001_initial', 'now');"
        "CREATE TABLE people_record (id INTEGER PRIMARY KEY, full_name_enc BLOB);"
    )
    db.executemany("INSERT INTO people_record (full_name_enc) VALUES (randomblob(?))", [(200,)] * 50_000)
    from kartoteka.lib import audit

    audit.schema_create(db)
    db.commit()
    db.close()


def _child(args: list[str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, *args], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def _reference(data: Path, dest: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["cp", "-r", str(data), str(dest)], check=True)
    os.sync()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench backup")
    parser.add_argument("--sizes", default="128,512", help="evidence store sizes in MB")
    parser.add_argument("--files", type=int, default=600, help="files per store")
    args = parser.parse_args(argv)
    from kartoteka.lib import crypto

    ident = crypto.identity_new()
    print("Backup and restore pipelines (tar → age → fsync; age → tar → files, SHA-256 per member)")
    for size in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="kbench-", dir=os.environ.get("BENCH_DIR")) as tmp:
            root = Path(tmp)
            data = root / "data"
            _make_data(data, size, args.files)
            os.sync()
            ref = _reference(data, root / "copy")
            shutil.rmtree(root / "copy")
            os.sync()
            (root / "b").mkdir()
            backup = root / "b" / "backup.age"
            b = _child(["backup", str(data), str(backup), ident.recipient])
            (root / "r").mkdir()
            r = _child(["restore", str(data), str(root / "r" / "x"), ident.secret, str(backup)])
            mb = backup.stat().st_size / 1024 / 1024
            print(f"{size} MB evidence in {args.files} files + 50,000-row SQLite ({mb:.0f} MB sealed):")
            row("reference: cp -r + sync", mb / ref, "MB/s")
            row("backup", mb / b["seconds"], "MB/s", f"{b['seconds'] / ref:.2f}× the reference time")
            row("restore (unpack + manifest check)", mb / r["seconds"], "MB/s", f"{r['seconds'] / ref:.2f}×")
            row("backup, per CPU second (user + sys)", mb / b["cpu"], "MB/s", "less sensitive to other load")
            row("restore, per CPU second", mb / r["cpu"], "MB/s")
            row("backup peak RSS", b["rss_mb"], "MB")
            row("restore peak RSS", r["rss_mb"], "MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
