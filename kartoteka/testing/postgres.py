"""Throw-away PostgreSQL databases for tests. A missing server fails the test run, never skips it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

DEFAULT_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_dsn() -> str:
    """The maintenance connection: KARTOTEKA_TEST_DATABASE_URL (set by the Makefile) or the local server."""
    return os.environ.get("KARTOTEKA_TEST_DATABASE_URL") or DEFAULT_ADMIN_DSN


def admin_connect(dsn: str | None = None) -> psycopg.Connection[tuple[object, ...]]:
    dsn = dsn or admin_dsn()
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL is not answering at {psycopg.conninfo.conninfo_to_dict(dsn).get('host', '?')}"
            f":{psycopg.conninfo.conninfo_to_dict(dsn).get('port', '5432')} — start it (make services); "
            "tests that need it fail rather than skip"
        ) from exc


def dsn_for(database: str, base: str | None = None) -> str:
    return psycopg.conninfo.make_conninfo(base or admin_dsn(), dbname=database)


@contextmanager
def database_temporary(prefix: str = "kartoteka_test") -> Iterator[str]:
    """Create a uniquely named database, yield its DSN, and drop it (with any open sessions) afterwards."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with admin_connect() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield dsn_for(name)
    finally:
        with admin_connect() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
