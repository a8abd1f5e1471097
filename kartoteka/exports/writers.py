"""Bytes of export files (CSV, XLSX, JSON), built in memory, and writing them out: sealed or plain.

Every text cell of a CSV or XLSX goes through ``disclosure.cell_safe``, so a name such as
``=HYPERLINK("http://x")`` is shown as text, never run as a formula. XLSX cells are additionally stored as
inline strings, never formulas.

Files are built in memory and written once, already sealed when they are to be sealed: no plaintext of a
staff export touches the disk unless the user asked for ``--plaintext``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from kartoteka.lib import crypto
from kartoteka.lib.disclosure import cell_safe, csv_safe

Row = Sequence[object]


class ExportError(Exception):
    """An export that cannot be written as asked; the message says why in one line."""


@dataclass(frozen=True)
class Sheet:
    """One table of an export: a header and rows of plain values (str, int, Decimal, date, None)."""

    name: str
    header: Sequence[str]
    rows: Sequence[Row]


def _plain(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return value


def csv_bytes(header: Sequence[str], rows: Iterable[Row], *, bom: bool = True, delimiter: str = ",") -> bytes:
    """A CSV (RFC 4180, CRLF) with every text cell made inert; UTF-8 with a BOM so Excel reads Cyrillic."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([cell_safe(h) for h in header])
    for row in rows:
        writer.writerow([cell_safe(_plain(v)) for v in row])
    return buf.getvalue().encode("utf-8-sig" if bom else "utf-8")


def xlsx_bytes(sheets: Sequence[Sheet]) -> bytes:
    """An XLSX workbook, one worksheet per sheet, assembled in memory.

    Not openpyxl: its writer spools every worksheet to a temporary file on disk, which would put names in
    clear on the server's disk. Text cells are inline strings made inert (never formulas); numbers are
    numbers.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _content_types(len(sheets)))
        z.writestr("_rels/.rels", _ROOT_RELS)
        z.writestr("xl/workbook.xml", _workbook_xml(sheets))
        z.writestr("xl/_rels/workbook.xml.rels", _workbook_rels(len(sheets)))
        for n, sheet in enumerate(sheets, 1):
            z.writestr(f"xl/worksheets/sheet{n}.xml", _sheet_xml(sheet))
    return buf.getvalue()


_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_ROOT_RELS = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="{_PKG_REL_NS}">'
    f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
# OOXML reads "_xHHHH_" in text as an escaped character: a literal one must have its "_" escaped.
_OOXML_ESCAPE = re.compile(r"_(x[0-9A-Fa-f]{4}_)")
_XML_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _content_types(count: int) -> str:
    sheets = "".join(
        f'<Override PartName="/xl/worksheets/sheet{n}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for n in range(1, count + 1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        f"{sheets}</Types>"
    )


def _workbook_xml(sheets: Sequence[Sheet]) -> str:
    entries = "".join(
        f'<sheet name="{_xml_text(s.name[:31])}" sheetId="{n}" r:id="rId{n}"/>'
        for n, s in enumerate(sheets, 1)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="{_NS}" '
        f'xmlns:r="{_REL_NS}"><sheets>{entries}</sheets></workbook>'
    )


def _workbook_rels(count: int) -> str:
    rels = "".join(
        f'<Relationship Id="rId{n}" Type="{_REL_NS}/worksheet" Target="worksheets/sheet{n}.xml"/>'
        for n in range(1, count + 1)
    )
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    return f'{head}<Relationships xmlns="{_PKG_REL_NS}">{rels}</Relationships>'


def _column(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _xml_text(text: str) -> str:
    text = _OOXML_ESCAPE.sub(r"_x005F_\1", text)
    text = _XML_FORBIDDEN.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    return xml_escape(text, {'"': "&quot;"})


def _xlsx_cell(ref: str, value: object) -> str:
    plain = _plain(value)
    if isinstance(plain, int | float) and not isinstance(plain, bool):
        return f'<c r="{ref}"><v>{plain}</v></c>'
    text = _xml_text(csv_safe(str(plain)))
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def _sheet_xml(sheet: Sheet) -> str:
    rows = []
    for r, row in enumerate([sheet.header, *sheet.rows], 1):
        cells = "".join(_xlsx_cell(f"{_column(c)}{r}", v) for c, v in enumerate(row))
        rows.append(f'<row r="{r}">{cells}</row>')
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="{_NS}">'
        f"<sheetData>{''.join(rows)}</sheetData></worksheet>"
    )


def json_bytes(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False, default=_json_default).encode(
        "utf-8"
    )


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


# --- writing --------------------------------------------------------------------------------------------


def out_dir_prepare(out: Path, names: Sequence[str]) -> None:
    """Create the output directory (private) and refuse to overwrite anything already there."""
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    existing = [n for n in names if (out / n).exists()]
    if existing:
        raise ExportError(f"{out / existing[0]} already exists: choose an empty --out directory")


def files_write(out: Path, files: dict[str, bytes], *, recipient: str | None) -> list[Path]:
    """Write each file (sealed to ``recipient`` as ``<name>.age`` when given) via a temporary name and an
    atomic rename, so an interrupted export leaves no half-written file under a final name."""
    named = {(f"{n}.age" if recipient else n): data for n, data in files.items()}
    out_dir_prepare(out, list(named))
    written = []
    for name, data in named.items():
        payload = crypto.seal(data, [recipient]) if recipient else data
        final = out / name
        tmp = out / f".{name}.part"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        written.append(final)
    return written


def file_open(path: Path, secret: str) -> bytes:
    """The plaintext of a sealed export file, for its owner's identity."""
    try:
        return crypto.unseal(path.read_bytes(), secret)
    except crypto.CryptoError as exc:
        raise ExportError(f"{path.name}: {exc}") from None
