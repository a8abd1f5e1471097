"""The canary scan: prove that a secret planted by a test reached no file, log, database page or process.

A test puts random markers (``secrets.token_hex``) into the data it handles, runs the code under test,
then calls :func:`assert_clean` over every place a leak could land: the files it names, ``$TMPDIR``,
``/proc/*/cmdline`` and ``environ``, and — with ``postgres_dsn`` — the server's data directory (tables,
WAL) after a CHECKPOINT and its logs. Findings name the marker by index, never by value, so a failure
message does not itself spread the secret.

Each str marker is searched as UTF-8, UTF-16-LE, UTF-16-BE and cp1251 (an encoding that cannot
represent it is skipped); a hex-digit marker case-insensitively. Each bytes marker is searched raw and
as hex in any letter case. Files are streamed in chunks with an overlap, using ``bytes.find`` per
pattern, which runs at memory speed.
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

CHUNK_BYTES = 8 * 1024 * 1024
MIN_PATTERN_BYTES = 8
POSTGRES_LOG_DIRS = (Path("/var/log/postgresql"),)
_HEX_RE = re.compile(r"[0-9A-Fa-f]+")
_STR_ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be", "cp1251")


@dataclass(frozen=True)
class Finding:
    marker: int  # index into the markers given to scan()
    encoding: str  # e.g. "utf-8", "utf-16-le", "hex (any case)", "raw"
    where: str  # "file", "cmdline" or "environ"
    path: str  # the file, or /proc/<pid>/<where>
    offset: int
    pid: int | None = None
    cmdline: str | None = None  # the process's command line with every marker redacted

    def __str__(self) -> str:
        place = f"{self.path} @ {self.offset}"
        if self.pid is not None:
            place = f"process {self.pid} {self.where} @ {self.offset} [{self.cmdline}]"
        return f"marker #{self.marker} ({self.encoding}) in {place}"


@dataclass(frozen=True)
class _Pattern:
    marker: int
    encoding: str
    data: bytes
    folded: bool  # match against the lowercased haystack (ASCII case-insensitive)


class _Matcher:
    def __init__(self, markers: Sequence[bytes | str]) -> None:
        self.patterns = [p for i, m in enumerate(markers) for p in _patterns(i, m)]
        self.raw = [p for p in self.patterns if not p.folded]
        self.folded = [p for p in self.patterns if p.folded]
        self.overlap = max(len(p.data) for p in self.patterns) - 1

    def find(self, haystack: bytes) -> Iterator[tuple[_Pattern, int]]:
        """First offset of each pattern in ``haystack``."""
        for pattern in self.raw:
            at = haystack.find(pattern.data)
            if at >= 0:
                yield pattern, at
        if self.folded:
            lowered = haystack.lower()  # bytes.lower folds ASCII only, so offsets do not move
            for pattern in self.folded:
                at = lowered.find(pattern.data)
                if at >= 0:
                    yield pattern, at

    def redact(self, data: bytes) -> bytes:
        lowered = data.lower()
        spans = []
        for pattern in self.patterns:
            hay = lowered if pattern.folded else data
            start = hay.find(pattern.data)
            while start >= 0:
                spans.append((start, start + len(pattern.data), pattern.marker))
                start = hay.find(pattern.data, start + 1)
        out = bytearray(data)
        for start, end, marker in sorted(spans, reverse=True):
            out[start:end] = f"<marker #{marker}>".encode()
        return bytes(out)


def _patterns(index: int, marker: bytes | str) -> list[_Pattern]:
    found: dict[tuple[bytes, bool], str] = {}
    if isinstance(marker, str):
        is_hex = bool(_HEX_RE.fullmatch(marker))
        for encoding in _STR_ENCODINGS:
            try:
                data = marker.encode(encoding)
            except UnicodeEncodeError:
                continue
            key = (data.lower(), True) if is_hex else (data, False)
            label = f"{encoding} (any case)" if is_hex else encoding
            found[key] = f"{found[key]}/{label}" if key in found else label
    elif isinstance(marker, bytes | bytearray):
        found[(bytes(marker), False)] = "raw"
        found[(bytes(marker).hex().encode(), True)] = "hex (any case)"
    else:
        raise TypeError("markers are str or bytes")
    patterns = [_Pattern(index, label, data, folded) for (data, folded), label in found.items()]
    if any(len(p.data) < MIN_PATTERN_BYTES for p in patterns):
        raise ValueError(
            f"marker #{index} is shorter than {MIN_PATTERN_BYTES} bytes: it would match by chance"
        )
    return patterns


# --- files ------------------------------------------------------------------------------------------------


def _files(roots: Iterable[Path]) -> Iterator[Path]:
    """Regular files under ``roots`` (each once), without following symlinks or entering special files."""
    seen: set[tuple[int, int]] = set()
    stack = [Path(r) for r in roots]
    while stack:
        path = stack.pop()
        try:
            st = path.lstat()
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            continue
        seen.add(key)
        if stat.S_ISREG(st.st_mode):
            yield path
        elif stat.S_ISDIR(st.st_mode):
            try:
                with os.scandir(path) as it:
                    stack.extend(Path(e.path) for e in it)
            except OSError:
                continue


def _scan_file(matcher: _Matcher, path: Path, chunk_bytes: int) -> list[Finding]:
    first: dict[_Pattern, int] = {}
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return []
    try:
        with os.fdopen(fd, "rb", buffering=0) as fh:
            base = 0  # file offset of tail[0]
            tail = b""
            while len(first) < len(matcher.patterns):
                block = fh.read(chunk_bytes)
                if not block:
                    break
                window = tail + block if tail else block
                for pattern, at in matcher.find(window):
                    first.setdefault(pattern, base + at)
                keep = min(matcher.overlap, len(window))
                tail = window[len(window) - keep :] if keep else b""
                base += len(window) - keep
    except OSError:
        pass  # vanished or unreadable mid-scan (a rotating log, a dropped table): what was read counts
    return [Finding(p.marker, p.encoding, "file", str(path), at) for p, at in first.items()]


# --- processes --------------------------------------------------------------------------------------------


def _scan_processes(matcher: _Matcher) -> list[Finding]:
    findings: list[Finding] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        shown = matcher.redact(cmdline).replace(b"\0", b" ").strip().decode("utf-8", "replace")[:300]
        for where in ("cmdline", "environ"):
            try:
                data = cmdline if where == "cmdline" else (entry / where).read_bytes()
            except OSError:
                continue
            for pattern, at in matcher.find(data):
                findings.append(
                    Finding(
                        pattern.marker,
                        pattern.encoding,
                        where,
                        str(entry / where),
                        at,
                        int(entry.name),
                        shown,
                    )
                )
    return findings


# --- SQLite ---------------------------------------------------------------------------------------------


def sqlite_copy(target: Path) -> Path:
    """The Django connection's SQLite database written to ``target`` with SQLite's backup API: a test database
    may live in memory, where no file scan could see it."""
    from django.db import connection

    raw = connection.connection
    assert isinstance(raw, sqlite3.Connection)
    out = sqlite3.connect(target)
    try:
        raw.backup(out)
    finally:
        out.close()
    return target


# --- PostgreSQL -------------------------------------------------------------------------------------------


def postgres_paths(dsn: str) -> list[Path]:
    """CHECKPOINT (so table pages reach their files), then the data directory and every log location."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        data_dir = Path(str(_one(conn, "SHOW data_directory")))
        log_dir = Path(str(_one(conn, "SHOW log_directory")))
        current_log = _one(conn, "SELECT pg_current_logfile()")
    if not data_dir.is_dir():
        raise AssertionError(
            "the PostgreSQL data directory is not on this machine: the canary scan must run beside the server"
        )
    paths = [data_dir, log_dir if log_dir.is_absolute() else data_dir / log_dir, *POSTGRES_LOG_DIRS]
    if current_log:
        log = Path(str(current_log))
        paths.append(log if log.is_absolute() else data_dir / log)
    return paths


def _one(conn: psycopg.Connection[tuple[object, ...]], query: str) -> object:
    row = conn.execute(query).fetchone()
    return None if row is None else row[0]


# --- entry points -----------------------------------------------------------------------------------------


def scan(
    markers: Sequence[bytes | str],
    paths: Sequence[Path],
    *,
    include_processes: bool = True,
    postgres_dsn: str | None = None,
    include_tmpdir: bool = True,
    chunk_bytes: int = CHUNK_BYTES,
) -> list[Finding]:
    """Every place any marker occurs (first offset per file, marker and encoding)."""
    if not markers:
        raise ValueError("no markers to scan for")
    matcher = _Matcher(markers)
    if chunk_bytes <= matcher.overlap:
        raise ValueError("chunk_bytes must exceed the longest pattern")
    roots = [Path(p) for p in paths]
    if include_tmpdir:
        roots.append(Path(tempfile.gettempdir()))
    if postgres_dsn is not None:
        roots.extend(postgres_paths(postgres_dsn))
    findings = [f for path in _files(roots) for f in _scan_file(matcher, path, chunk_bytes)]
    if include_processes:
        findings.extend(_scan_processes(matcher))
    return findings


def assert_clean(
    markers: Sequence[bytes | str],
    paths: Sequence[Path],
    *,
    include_processes: bool = True,
    postgres_dsn: str | None = None,
    include_tmpdir: bool = True,
) -> None:
    """Raise AssertionError naming every place a marker was found (by marker index, never by value)."""
    findings = scan(
        markers,
        paths,
        include_processes=include_processes,
        postgres_dsn=postgres_dsn,
        include_tmpdir=include_tmpdir,
    )
    if findings:
        lines = "\n  ".join(str(f) for f in findings[:50])
        more = f"\n  … and {len(findings) - 50} more" if len(findings) > 50 else ""
        raise AssertionError(f"canary markers found in {len(findings)} place(s):\n  {lines}{more}")
