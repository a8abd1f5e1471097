"""Consistent copies of a live database, and putting them back. No Django here.

SQLite: the online backup API copies every page inside one read transaction; under WAL writers carry on
meanwhile and the copy is the database as of the moment the read began. PostgreSQL: a REPEATABLE READ
transaction exports its snapshot, we read the audit head and the migration state in it, and ``pg_dump
--snapshot`` dumps exactly that state, so the manifest and the dump agree to the row.

Passwords reach ``pg_dump``/``pg_restore`` through the environment (PGPASSWORD), never their arguments,
which any local user could read in the process list.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import conninfo, sql

from kartoteka.backups.archive import BackupError
from kartoteka.lib import audit

SQLITE = "sqlite"
POSTGRESQL = "postgresql"

# libpq connection keywords and the environment variables its tools read them from.
_LIBPQ_ENV = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "sslmode": "PGSSLMODE",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL",
    "channel_binding": "PGCHANNELBINDING",
    "gssencmode": "PGGSSENCMODE",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}
_VERSION_RE = re.compile(r"\)\s+(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class DbState:
    """What the manifest records about a database snapshot."""

    kind: str
    migrations: list[list[str]]  # [app, name], sorted
    audit_head: str | None  # audit.head_text of the newest entry, or None for an empty chain
    server_major: int | None = None
    dump_major: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "migrations": self.migrations,
            "audit_head": self.audit_head,
            "server_major": self.server_major,
            "dump_major": self.dump_major,
        }


def state_read(conn: Any) -> tuple[list[list[str]], str | None]:
    """Applied migrations and the audit head, through a sqlite3 or psycopg connection."""
    cur = conn.cursor()
    try:
        cur.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
        migrations = [[str(a), str(n)] for a, n in cur.fetchall()]
    except (sqlite3.Error, psycopg.Error):
        raise BackupError("the database has no schema yet: run `kartoteka migrate` first") from None
    finally:
        cur.close()
    head = audit.head_read(conn)
    return migrations, None if head is None else audit.head_text(head)


# --- SQLite ------------------------------------------------------------------------------------------------


def sqlite_uri(name: str | Path) -> str:
    """Django's NAME as an SQLite URI: a path, or already a ``file:`` URI (the test suite's shared
    in-memory database)."""
    text = str(name)
    # mode=rw: a mistyped path must fail, not leave a new empty database behind.
    return text if text.startswith("file:") else "file:" + quote(str(Path(text).resolve())) + "?mode=rw"


def sqlite_snapshot(source: str | Path, dest: Path) -> DbState:
    """Copy the live database at ``source`` into the new file ``dest`` with the backup API."""
    try:
        src = sqlite3.connect(sqlite_uri(source), uri=True, timeout=60)
    except sqlite3.OperationalError:
        raise BackupError(f"cannot open the database {source}") from None
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)  # pages=-1: one step, one read transaction, one consistent state
        finally:
            dst.close()
    finally:
        src.close()
    os.chmod(dest, 0o600)
    check = sqlite3.connect(f"file:{quote(str(dest))}?mode=ro", uri=True)
    try:
        migrations, head = state_read(check)
    finally:
        check.close()
    return DbState(SQLITE, migrations, head)


def sqlite_integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of a restored file: "ok" or SQLite's first complaint."""
    conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
    try:
        row = conn.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()
    return str(row[0]) if row else "no answer"


# --- PostgreSQL --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PgTarget:
    """A PostgreSQL database given by libpq keywords (never printed: the password is among them)."""

    params: Mapping[str, str]

    @classmethod
    def from_url(cls, url: str) -> PgTarget:
        try:
            params = conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError:
            raise BackupError("DATABASE_URL is not a PostgreSQL connection string") from None
        return cls._checked({k: str(v) for k, v in params.items() if v is not None})

    @classmethod
    def from_django(cls, settings_dict: Mapping[str, Any]) -> PgTarget:
        params = {
            "dbname": settings_dict.get("NAME"),
            "user": settings_dict.get("USER"),
            "password": settings_dict.get("PASSWORD"),
            "host": settings_dict.get("HOST"),
            "port": settings_dict.get("PORT"),
        }
        options = settings_dict.get("OPTIONS") or {}
        params.update({k: v for k, v in options.items() if k in _LIBPQ_ENV})
        return cls._checked({k: str(v) for k, v in params.items() if v not in (None, "")})

    @classmethod
    def _checked(cls, params: dict[str, str]) -> PgTarget:
        unknown = sorted(set(params) - set(_LIBPQ_ENV))
        if unknown:
            raise BackupError(f"unsupported PostgreSQL connection options: {', '.join(unknown)}")
        if not params.get("dbname"):
            raise BackupError("the PostgreSQL connection names no database")
        return cls(params)

    @property
    def dbname(self) -> str:
        return self.params["dbname"]

    def connect(self, *, autocommit: bool = False) -> psycopg.Connection[tuple[Any, ...]]:
        try:
            return psycopg.connect(conninfo.make_conninfo("", **self.params), autocommit=autocommit)
        except psycopg.OperationalError:
            raise BackupError(f"cannot connect to the PostgreSQL database {self.dbname}") from None

    def env(self) -> dict[str, str]:
        """The environment for libpq tools: ours, with any PG* variable of the caller's replaced."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({_LIBPQ_ENV[k]: v for k, v in self.params.items()})
        return env

    def server_major(self) -> int:
        with self.connect(autocommit=True) as conn:
            row = conn.execute("SHOW server_version_num").fetchone()
        return int(str(row[0] if row else 0)) // 10000

    def is_empty(self) -> bool:
        with self.connect(autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"
            ).fetchone()
        return row is not None and int(row[0]) == 0

    def empty(self) -> None:
        """Undo a restore that failed its checks: drop what it created (the database was empty before)."""
        with self.connect(autocommit=True) as conn:
            schemas = [
                str(r[0])
                for r in conn.execute(
                    "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema')"
                    " AND nspname NOT LIKE 'pg\\_%'"
                ).fetchall()
            ]
            for schema in schemas:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            conn.execute("CREATE SCHEMA IF NOT EXISTS public")
            conn.execute("ALTER SCHEMA public OWNER TO pg_database_owner")
            conn.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")


def tool_major(path: str) -> int:
    out = subprocess.run(  # noqa: S603 - a PostgreSQL tool found by path, fixed argument
        [path, "--version"], capture_output=True, text=True, check=False, timeout=30
    ).stdout
    match = _VERSION_RE.search(out)
    if match is None:
        raise BackupError(f"cannot tell the version of {path}")
    return int(match.group(1))


def _version_dir(path: str) -> int:
    name = Path(path).parent.parent.name
    return int(name) if name.isdigit() else 0


def tool_find(name: str, at_least: int) -> tuple[str, int]:
    """``name`` (pg_dump, pg_restore) of a major version at least ``at_least``: the one on PATH, else
    Debian's versioned copies, the closest version first."""
    candidates = [p for p in [shutil.which(name)] if p]
    versioned = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    candidates += sorted(
        versioned,
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0,
    )
    if not candidates:
        raise BackupError(f"{name} is not installed (Debian: apt install postgresql-client)")
    seen = []
    for path in candidates:
        major = tool_major(path)
        seen.append(major)
        if major >= at_least:
            return path, major
    raise BackupError(
        f"{name} is version {max(seen)} but the server is {at_least}: install postgresql-client-{at_least}"
    )


def pg_snapshot(target: PgTarget, dest: Path) -> DbState:
    """``pg_dump`` (custom format) of the database as of one exported snapshot, with its state read in the
    same snapshot."""
    server = target.server_major()
    pg_dump, dump_major = tool_find("pg_dump", server)
    with target.connect() as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        snapshot = str(row[0]) if row else ""
        migrations, head = state_read(conn)
        result = subprocess.run(  # noqa: S603 - fixed arguments; the password is in the environment
            [
                pg_dump,
                "--format=custom",
                "--no-password",
                f"--snapshot={snapshot}",
                f"--file={dest}",
                "--lock-wait-timeout=60s",
            ],
            env=target.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        conn.rollback()
    if result.returncode != 0:
        raise BackupError(f"pg_dump failed: {_first_line(result.stderr)}")
    os.chmod(dest, 0o600)
    return DbState(POSTGRESQL, migrations, head, server_major=server, dump_major=dump_major)


def pg_restore_check(target: PgTarget, state: Mapping[str, Any]) -> str:
    """Refuse early what would fail late: a non-empty database, an older server, an old pg_restore."""
    server = target.server_major()
    wanted = int(state.get("server_major") or 0)
    if server < wanted:
        raise BackupError(f"the backup comes from PostgreSQL {wanted}; this server is {server}")
    if not target.is_empty():
        raise BackupError(
            f"the database {target.dbname} is not empty: restore only into a new, empty database"
        )
    path, _ = tool_find("pg_restore", int(state.get("dump_major") or 0))
    return path


def pg_restore(target: PgTarget, pg_restore_path: str, dump: Path) -> None:
    """One transaction: it restores everything or nothing."""
    result = subprocess.run(  # noqa: S603 - fixed arguments; the password is in the environment
        [
            pg_restore_path,
            "--no-password",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={target.dbname}",
            str(dump),
        ],
        env=target.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed, nothing was restored: {_first_line(result.stderr)}")


def _first_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else "no message"
