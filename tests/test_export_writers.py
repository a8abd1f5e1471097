"""Export file writers: CSV and XLSX bytes, formula injection, XML-unsafe text, atomic sealed writes."""

from __future__ import annotations

import csv
import io
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from kartoteka.exports.writers import ExportError, Sheet, csv_bytes, file_open, files_write, xlsx_bytes
from kartoteka.lib import crypto

_WATCH: dict[str, Any] = {"on": False, "opened": []}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT


def _watch(event: str, args: tuple[Any, ...]) -> None:
    if _WATCH["on"] and event == "open":
        mode, flags = args[1], args[2]
        if (isinstance(mode, str) and set(mode) & set("wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        ):
            _WATCH["opened"].append(args[0])


sys.addaudithook(_watch)  # audit hooks cannot be removed; this one does nothing unless a test turns it on

ROWS = [
    ['=HYPERLINK("http://x")', 5, "Иванов"],
    ["@SUM(A1)", -3, "\tтаб"],
    ["ctl\x01char <&> _x0041_", 2.5, None],
]


def test_it_writes_inert_csv_with_a_bom_and_crlf() -> None:
    data = csv_bytes(["name", "n", "note"], ROWS)
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[1] == ['\'=HYPERLINK("http://x")', "5", "Иванов"]
    assert rows[2] == ["'@SUM(A1)", "-3", "'\tтаб"]  # numbers stay numbers; text "-3" would not
    assert not csv_bytes(["title"], [], bom=False).startswith(b"\xef\xbb\xbf")


def test_it_writes_xlsx_without_formulas_or_temporary_files(tmp_path: Path) -> None:
    # openpyxl's writer spools every sheet to a temporary file, in clear: no file may be opened for writing.
    _WATCH["on"], _WATCH["opened"] = True, []
    try:
        data = xlsx_bytes([Sheet("records", ["name", "n", "note"], ROWS), Sheet("empty", ["x"], [])])
        (tmp_path / "control").write_bytes(b"")  # the watch does see a file opened for writing
    finally:
        _WATCH["on"] = False
    assert [str(p) for p in _WATCH["opened"]] == [str(tmp_path / "control")]
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        assert not [n for n in z.namelist() if b"<f>" in z.read(n)]
    workbook = load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == ["records", "empty"]
    values = [[(c.value, c.data_type) for c in row] for row in workbook["records"].iter_rows(min_row=2)]
    assert values[0] == [('\'=HYPERLINK("http://x")', "s"), (5, "n"), ("Иванов", "s")]
    assert values[1][0] == ("'@SUM(A1)", "s")
    assert values[2][0] == ("ctl_x0001_char <&> _x005F_x0041_", "s")  # OOXML escapes, as Excel reads them


def test_it_writes_sealed_files_atomically_and_refuses_to_overwrite(tmp_path: Path) -> None:
    identity = crypto.identity_new()
    out = tmp_path / "out"
    written = files_write(out, {"a.csv": b"secret,name\r\n"}, recipient=identity.recipient)
    assert [p.name for p in written] == ["a.csv.age"] and os.listdir(out) == ["a.csv.age"]
    assert b"secret" not in written[0].read_bytes()
    assert file_open(written[0], identity.secret) == b"secret,name\r\n"
    assert (out.stat().st_mode & 0o777) == 0o700
    with pytest.raises(ExportError, match="already exists"):
        files_write(out, {"a.csv": b"x"}, recipient=identity.recipient)
    written[0].write_bytes(written[0].read_bytes()[:-1] + b"\x00")
    with pytest.raises(ExportError):
        file_open(written[0], identity.secret)
