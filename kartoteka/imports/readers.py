"""Streaming readers: a CSV or XLSX file as a header row and numbered data rows. No Django.

Row numbers are those a spreadsheet program shows: the header is row 1, and a quoted cell spanning
several lines is still one row. Memory stays constant: CSV is decoded and split as it is read, XLSX goes
through openpyxl's read-only mode (rows are parsed from the sheet's XML as they are asked for).
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kartoteka.imports import detect
from kartoteka.imports.rows import Cell

_SAMPLE_CHARS = 64 * 1024
# One cell may hold a long testimony; anything larger is a broken quote swallowing the file.
FIELD_LIMIT = 1 << 20


class ReadError(ValueError):
    """The file cannot be read as a table; ``code`` is stable for translation."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class MemoryFile:
    """An upload held in memory: web uploads never touch the disk as plaintext."""

    name: str
    data: bytes

    def open(self, mode: str = "rb") -> io.BytesIO:
        return io.BytesIO(self.data)


Input = Path | MemoryFile


@dataclass
class Table:
    kind: str  # "csv" | "xlsx"
    headers: list[str]
    rows: Iterator[tuple[int, list[Cell] | None]]  # (row number, cells) — None when the row is unreadable
    encoding: str = ""
    delimiter: str = ""
    bom: bool = False
    date1904: bool = False
    sheet: str = ""
    closers: list[Any] = field(default_factory=list)
    unreadable: str = "csv_malformed"  # the reason code for a row given as None

    def close(self) -> None:
        for closer in self.closers:
            with contextlib.suppress(Exception):
                closer.close()


def is_xlsx(path: Input) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def open_table(path: Input, *, sheet: str | None = None) -> Table:
    if is_xlsx(path):
        return _open_xlsx(path, sheet)
    return _open_csv(path)


def _csv_rows(reader: Any) -> Iterator[tuple[int, list[Cell] | None]]:
    number = 1
    while True:
        number += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield number, None
            continue
        except UnicodeDecodeError:
            raise ReadError("encoding_undecided") from None
        yield number, list(row)


def _open_csv(path: Input) -> Table:
    csv.field_size_limit(FIELD_LIMIT)
    raw = path.open("rb")
    try:
        found = detect.detect_encoding(raw)
        text = io.TextIOWrapper(raw, encoding=found.encoding, newline="", errors="strict")
        sample = text.read(_SAMPLE_CHARS)
        text.detach()  # else collecting this wrapper would close the file under the next one
        delimiter = detect.detect_delimiter(sample)
        raw.seek(0)
        text = io.TextIOWrapper(raw, encoding=found.encoding, newline="", errors="strict")
        reader = csv.reader(text, delimiter=delimiter)
        try:
            headers = next(reader)
        except StopIteration:
            raise ReadError("empty_file") from None
        except csv.Error:
            raise ReadError("header_unreadable") from None
    except (UnicodeDecodeError, detect.EncodingError):
        raw.close()
        raise ReadError("encoding_undecided") from None
    except BaseException:
        raw.close()
        raise
    headers = [h.replace("\ufeff", "").strip() for h in headers]
    if not any(headers):
        raw.close()
        raise ReadError("header_missing")
    return Table(
        kind="csv",
        headers=headers,
        rows=_csv_rows(reader),
        encoding=found.encoding,
        delimiter=delimiter,
        bom=found.bom,
        closers=[raw],
    )


def _xlsx_cell(value: object) -> Cell:
    if value is None or isinstance(value, (str, int, float)):
        return value
    import datetime as dt

    if isinstance(value, (dt.datetime, dt.date)):
        return value
    return str(value)


def _open_xlsx(path: Input, sheet: str | None) -> Table:
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(path.open("rb"), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise ReadError("xlsx_unreadable") from None
    try:
        ws = book[sheet] if sheet else book.worksheets[0]
    except (KeyError, IndexError):
        book.close()
        raise ReadError("sheet_missing") from None
    rows = ws.iter_rows(values_only=True)
    try:
        header_row = next(rows)
    except StopIteration:
        book.close()
        raise ReadError("empty_file") from None
    headers = ["" if h is None else str(h).strip() for h in header_row]
    while headers and headers[-1] == "":
        headers.pop()
    if not headers:
        book.close()
        raise ReadError("header_missing")

    def numbered() -> Iterator[tuple[int, list[Cell] | None]]:
        for number, values in enumerate(rows, start=2):
            yield number, [_xlsx_cell(v) for v in values]

    return Table(
        kind="xlsx",
        headers=headers,
        rows=numbered(),
        date1904=bool(getattr(book, "epoch", None) and book.epoch.year == 1904),
        sheet=ws.title,
        closers=[book],
    )


def sheet_names(path: Input) -> list[str]:
    from openpyxl import load_workbook

    book = load_workbook(path.open("rb"), read_only=True)
    try:
        return list(book.sheetnames)
    finally:
        book.close()
