"""The canary scan finds planted markers wherever they land, and stays quiet where there are none."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from kartoteka.testing import canary, postgres


def _cyrillic_marker() -> str:
    return "Канарейка-" + secrets.token_hex(8)


def _plant(path: Path, data: bytes, *, before: int = 1000, after: int = 1000) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(before) + data + os.urandom(after))
    return before


def _files_only(
    markers: list[bytes | str], root: Path, *, chunk_bytes: int = canary.CHUNK_BYTES
) -> list[canary.Finding]:
    return canary.scan(
        markers, [root], include_processes=False, include_tmpdir=False, chunk_bytes=chunk_bytes
    )


@pytest.fixture(scope="module")
def pg_dsn() -> Iterator[str]:
    try:
        with postgres.database_temporary("kartoteka_test_canary") as dsn:
            yield dsn
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le", "utf-16-be", "cp1251"])
def test_it_finds_a_marker_in_each_encoding_in_a_subdirectory(tmp_path: Path, encoding: str) -> None:
    marker = _cyrillic_marker()
    target = tmp_path / "a" / "b" / "c" / "leak.bin"
    offset = _plant(target, marker.encode(encoding), before=4321)
    (tmp_path / "a" / "clean.txt").write_text("nothing to see")
    findings = _files_only([marker], tmp_path)
    assert [(f.marker, f.encoding, f.path, f.offset) for f in findings] == [
        (0, encoding, str(target), offset)
    ]


def test_it_skips_an_encoding_that_cannot_hold_the_marker(tmp_path: Path) -> None:
    marker = "маркер-ü-" + secrets.token_hex(8)  # no ü in cp1251
    _plant(tmp_path / "utf16.bin", marker.encode("utf-16-le"))
    findings = _files_only([marker], tmp_path)
    assert [f.encoding for f in findings] == ["utf-16-le"]


def test_it_finds_hex_in_any_letter_case(tmp_path: Path) -> None:
    text_marker = secrets.token_hex(16)
    key_marker = secrets.token_bytes(16)
    _plant(tmp_path / "upper.log", text_marker.upper().encode())
    _plant(tmp_path / "utf16-upper.log", text_marker.upper().encode("utf-16-be"))
    _plant(tmp_path / "raw.bin", key_marker)
    _plant(tmp_path / "hex-lower.txt", key_marker.hex().encode())
    _plant(tmp_path / "hex-upper.txt", key_marker.hex().upper().encode())
    found = {
        (Path(f.path).name, f.marker, f.encoding) for f in _files_only([text_marker, key_marker], tmp_path)
    }
    assert found == {
        ("upper.log", 0, "utf-8 (any case)/cp1251 (any case)"),
        ("utf16-upper.log", 0, "utf-16-be (any case)"),
        ("raw.bin", 1, "raw"),
        ("hex-lower.txt", 1, "hex (any case)"),
        ("hex-upper.txt", 1, "hex (any case)"),
    }


def test_it_finds_a_marker_across_the_default_chunk_boundary(tmp_path: Path) -> None:
    marker = secrets.token_hex(16)
    offset = _plant(tmp_path / "big.bin", marker.encode(), before=canary.CHUNK_BYTES - 7, after=100)
    findings = _files_only([marker], tmp_path)
    assert [(f.offset, f.encoding) for f in findings] == [(offset, "utf-8 (any case)/cp1251 (any case)")]


def test_it_finds_a_marker_at_every_position_around_small_chunk_boundaries(tmp_path: Path) -> None:
    marker = os.urandom(20)
    for before in range(100, 200):
        path = tmp_path / f"f{before}.bin"
        _plant(path, marker, before=before, after=70)
        findings = _files_only([marker], path, chunk_bytes=64)
        assert [(f.encoding, f.offset) for f in findings] == [("raw", before)], before
        path.unlink()


def test_it_finds_markers_in_process_command_lines_and_environments() -> None:
    arg_marker, env_marker = secrets.token_hex(16), _cyrillic_marker()
    env = {**os.environ, "KARTOTEKA_CANARY_PROBE": env_marker}
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", arg_marker], env=env)
    try:
        deadline = time.monotonic() + 10
        while arg_marker.encode() not in Path(f"/proc/{proc.pid}/cmdline").read_bytes():
            assert time.monotonic() < deadline, "the probe process did not start"
            time.sleep(0.02)
        findings = canary.scan([arg_marker, env_marker], [], include_tmpdir=False)
    finally:
        proc.kill()
        proc.wait()
    mine = {(f.marker, f.where, f.pid) for f in findings}
    assert (0, "cmdline", proc.pid) in mine
    assert (1, "environ", proc.pid) in mine
    shown = next(f.cmdline for f in findings if f.where == "cmdline")
    assert shown is not None
    assert arg_marker not in shown
    assert "<marker #0>" in shown


def test_it_finds_a_marker_in_postgresql_tables_and_wal(pg_dsn: str) -> None:
    marker = secrets.token_hex(16)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS canary_probe (id serial PRIMARY KEY, note text)")
        conn.execute("INSERT INTO canary_probe (note) VALUES (%s)", (marker,))
        row = conn.execute("SHOW data_directory").fetchone()
        assert row is not None
        data_dir = str(row[0])
        try:
            findings = canary.scan(
                [marker], [], include_processes=False, include_tmpdir=False, postgres_dsn=pg_dsn
            )
        finally:
            conn.execute("DELETE FROM canary_probe")
    places = {Path(f.path).relative_to(data_dir).parts[0] for f in findings}
    assert {"base", "pg_wal"} <= places


def test_it_reports_nothing_where_there_is_nothing(tmp_path: Path, pg_dsn: str) -> None:
    text_marker, key_marker = _cyrillic_marker(), secrets.token_bytes(16)
    flipped_text = text_marker[:-1] + ("g" if text_marker[-1] != "g" else "h")  # never a hex digit
    flipped_key = key_marker[:-1] + bytes([key_marker[-1] ^ 1])
    near_misses = [
        flipped_text.encode(),
        flipped_text.encode("utf-16-le"),
        flipped_key,
        flipped_key.hex().encode(),
    ]
    for i, data in enumerate(near_misses):
        _plant(tmp_path / "d" / f"near{i}", data)
    assert canary.scan([text_marker, key_marker], [tmp_path], postgres_dsn=pg_dsn) == []
    canary.assert_clean([text_marker, key_marker], [tmp_path], postgres_dsn=pg_dsn)


def test_it_fails_naming_places_but_never_the_marker(tmp_path: Path) -> None:
    clean, leaked = secrets.token_hex(16), secrets.token_hex(16)
    target = tmp_path / "leak.log"
    offset = _plant(target, leaked.encode())
    with pytest.raises(AssertionError) as info:
        canary.assert_clean([clean, leaked], [tmp_path], include_processes=False, include_tmpdir=False)
    message = str(info.value)
    assert f"marker #1 (utf-8 (any case)/cp1251 (any case)) in {target} @ {offset}" in message
    assert leaked not in message
    assert clean not in message


def test_it_passes_over_fifos_sockets_and_symlinks(tmp_path: Path) -> None:
    marker = secrets.token_hex(16)
    outside = tmp_path / "outside"
    _plant(outside / "secret.bin", marker.encode())
    inside = tmp_path / "inside"
    inside.mkdir()
    os.mkfifo(inside / "pipe")  # opening it for reading would block forever
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(inside / "sock"))
        (inside / "link").symlink_to(outside / "secret.bin")
        (inside / "loop").symlink_to(inside)
        assert _files_only([marker], inside) == []
        assert [Path(f.path).name for f in _files_only([marker], tmp_path)] == ["secret.bin"]


def test_it_refuses_a_marker_too_short_to_be_unique() -> None:
    with pytest.raises(ValueError, match="shorter"):
        canary.scan(["abc"], [], include_processes=False, include_tmpdir=False)
