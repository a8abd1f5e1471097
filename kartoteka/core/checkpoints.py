"""SQLite write-ahead-log checkpoints on a thread of their own, for the length of one bulk write.

With ``synchronous=NORMAL`` a commit only appends to the WAL; the automatic checkpoint that follows a
large commit copies its pages into the database file and fsyncs both files, and the writer waits for
it. A bulk import commits a batch of some 100 MB of pages (its name-term inserts land everywhere in
that index) every second, so it spent a tenth of its time waiting for those fsyncs. Here the writer's
automatic checkpoints are off and a second connection checkpoints after each commit, while the writer
builds and inserts the next batch. Durability does not change: commits are as synced as before, and a
checkpoint syncs the WAL before it copies and the database after, whoever runs it.

PASSIVE checkpoints never block the writer; when one is still running as the next batch begins, the WAL
cannot restart and grows by that batch, and the next checkpoint copies both. On leaving, the writer's
automatic checkpoints are restored and one last checkpoint runs.
"""

from __future__ import annotations

import sqlite3
import threading
from types import TracebackType
from typing import Any

_TIMEOUT_S = 30.0


class BackgroundCheckpoints:
    """Context manager around a bulk write on ``connection``; call :meth:`committed` after each commit.

    Does nothing on PostgreSQL, on a database not in WAL mode, or inside a caller's transaction (the
    caller commits, later, and its connection's automatic checkpoint then runs as usual)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.active = False
        self.saved_pages = 0
        self.wanted = threading.Event()
        self.stopping = False
        self.thread: threading.Thread | None = None
        self.completed = 0  # checkpoints the thread has run (for tests and the curious)

    def __enter__(self) -> BackgroundCheckpoints:
        if self.connection.vendor != "sqlite" or self.connection.in_atomic_block:
            return self
        with self.connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            if cursor.fetchone()[0] != "wal":  # an in-memory database (the tests'): nothing to checkpoint
                return self
            cursor.execute("PRAGMA wal_autocheckpoint")
            self.saved_pages = int(cursor.fetchone()[0])
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        self.active = True
        self.thread = threading.Thread(
            target=self._run, args=(str(self.connection.settings_dict["NAME"]),), daemon=True,
            name="kartoteka-checkpoint",
        )  # fmt: skip
        self.thread.start()
        return self

    def committed(self) -> None:
        if self.active:
            self.wanted.set()

    def _run(self, path: str) -> None:
        conn = sqlite3.connect(path, timeout=_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        try:
            while True:
                self.wanted.wait()
                self.wanted.clear()
                if self.stopping:
                    return
                # A checkpoint that fails leaves the pages in the WAL, where every reader finds them; the
                # last checkpoint on leaving (the writer's own connection) tries again.
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    continue
                self.completed += 1
        finally:
            conn.close()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.active:
            return
        self.stopping = True
        self.wanted.set()
        if self.thread is not None:
            self.thread.join()
        with self.connection.cursor() as cursor:
            cursor.execute(f"PRAGMA wal_autocheckpoint={self.saved_pages:d}")
            if not self.connection.in_atomic_block:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                cursor.fetchall()
