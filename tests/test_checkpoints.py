"""core.checkpoints: the WAL checkpoints of a bulk write run beside it, on a real SQLite file."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from django.db.backends.sqlite3.base import DatabaseWrapper

from kartoteka.core.checkpoints import BackgroundCheckpoints


@pytest.fixture
def file_db(tmp_path: Path, django_db_blocker: Any) -> Iterator[Any]:
    """A Django connection to a SQLite file with the application's own options (WAL, NORMAL sync)."""
    settings = {**connections.settings["default"], "NAME": str(tmp_path / "bulk.sqlite3")}
    if settings["ENGINE"] != "django.db.backends.sqlite3":
        settings = {
            **settings,
            "ENGINE": "django.db.backends.sqlite3",
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=4096;"},
        }
    db = DatabaseWrapper(settings, alias="checkpoints_test")
    with django_db_blocker.unblock():
        try:
            with db.cursor() as cursor:
                cursor.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
            yield db
        finally:
            db.close()


def _write_batches(db: Any, checkpoints: BackgroundCheckpoints, batches: int, first: int = 0) -> None:
    for b in range(first, first + batches):
        with transaction.atomic(using=db.alias), db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO t (k, v) VALUES (%s, %s)", [(b * 500 + i, bytes(2000)) for i in range(500)]
            )
        checkpoints.committed()


def _wal_state(path: str) -> tuple[int, int, int]:
    conn = sqlite3.connect(path)
    try:
        busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(busy), int(frames), int(copied)
    finally:
        conn.close()


def _autocheckpoint(db: Any) -> int:
    with db.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        return int(cursor.fetchone()[0])


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "kartoteka-checkpoint"]


def test_it_turns_automatic_checkpoints_off_for_the_bulk_write_and_back_on_after(file_db: Any) -> None:
    connections["checkpoints_test"] = file_db
    try:
        assert _autocheckpoint(file_db) == 4096
        with BackgroundCheckpoints(file_db) as checkpoints:
            assert checkpoints.active
            assert _autocheckpoint(file_db) == 0
            assert len(_checkpoint_threads()) == 1
            _write_batches(file_db, checkpoints, 8)
        assert _autocheckpoint(file_db) == 4096
        assert _checkpoint_threads() == []
        with file_db.cursor() as cursor:
            cursor.execute("SELECT count(*), sum(length(v)) FROM t")
            assert cursor.fetchone() == (4000, 4000 * 2000)
        # every committed page has reached the database file (none left only in the WAL)
        busy, frames, copied = _wal_state(file_db.settings_dict["NAME"])
        assert busy == 0 and frames == copied
    finally:
        del connections["checkpoints_test"]


def test_it_checkpoints_while_the_writer_goes_on(file_db: Any) -> None:
    connections["checkpoints_test"] = file_db
    try:
        wal = Path(file_db.settings_dict["NAME"] + "-wal")
        with BackgroundCheckpoints(file_db) as checkpoints:
            sizes = []
            for n in range(1, 8):
                _write_batches(file_db, checkpoints, 1, first=n)
                deadline = time.monotonic() + 30
                while checkpoints.completed < n:  # the writer's own checkpoints are off: this is the thread's
                    assert time.monotonic() < deadline, "no checkpoint ran in 30 s"
                    time.sleep(0.01)
                sizes.append(wal.stat().st_size)
        # Each checkpoint copied the whole WAL, so the next batch wrote it again from its start: seven
        # batches left it one batch long (without checkpoints, it would be seven).
        assert max(sizes) < 2 * sizes[0], sizes
    finally:
        del connections["checkpoints_test"]


def test_it_does_nothing_inside_a_callers_transaction(file_db: Any) -> None:
    connections["checkpoints_test"] = file_db
    try:
        with transaction.atomic(using="checkpoints_test"), BackgroundCheckpoints(file_db) as checkpoints:
            assert not checkpoints.active
            assert _autocheckpoint(file_db) == 4096
            checkpoints.committed()
        assert _checkpoint_threads() == []
    finally:
        del connections["checkpoints_test"]


@pytest.mark.django_db
def test_it_does_nothing_on_the_test_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # PostgreSQL has no WAL to checkpoint from here; the SQLite test database lives in memory (no file
    # named after its URI may appear in the working directory).
    monkeypatch.chdir(tmp_path)
    with BackgroundCheckpoints(connection) as checkpoints:
        assert not checkpoints.active
        checkpoints.committed()
    assert list(tmp_path.iterdir()) == []
    assert _checkpoint_threads() == []


def test_it_creates_sqlite_files_with_16_kib_pages_and_leaves_an_existing_file_its_own(
    tmp_path: Path, django_db_blocker: Any
) -> None:
    """New files get the application's page size (name-term inserts and checkpoints are cheaper with larger
    pages); a file made earlier keeps the size it was made with, still in WAL mode."""
    options = {
        **connections.settings["default"],
        "ENGINE": "django.db.backends.sqlite3",
        "OPTIONS": dict(settings.SQLITE_OPTIONS),
    }
    old = tmp_path / "old.sqlite3"
    with sqlite3.connect(old) as plain:
        plain.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    found = {}
    for name in ("new.sqlite3", "old.sqlite3"):
        db = DatabaseWrapper({**options, "NAME": str(tmp_path / name)}, alias=f"pages_{name}")
        with django_db_blocker.unblock():
            try:
                with db.cursor() as cursor:
                    cursor.execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY)")
                    found[name] = (
                        cursor.execute("PRAGMA page_size").fetchone()[0],
                        cursor.execute("PRAGMA journal_mode").fetchone()[0],
                    )
            finally:
                db.close()
    assert found == {"new.sqlite3": (16384, "wal"), "old.sqlite3": (4096, "wal")}
