"""KoboToolbox / ODK submission exports (XLSX or CSV, plus a folder of media) through a mapping.

Kobo's XLSX export puts the submissions on the first sheet and each repeat group on a sheet of its own,
joined by ``_index`` (on the submission) and ``_parent_index`` (on the repeat entry). When the mapping
names a repeat group, every entry of it becomes one Record, carrying its submission's mapped columns too
(a family member's form listing three sons gives three Records with the form's region and notes):

    {
      "format": "kartoteka-import-mapping/1",
      "sheet": "Анкета",
      "columns": {"region": "region", "_index": "ignore", "_uuid": "ignore", ...},
      "repeat": {"sheet": "sons", "columns": {"son_name": "full_name", "son_photo": "attachment", ...}}
    }

Without ``repeat`` the export is one row per submission, imported like any sheet. Media columns map to
``attachment``; with ``--media DIR`` the files are found there by name and moved into the evidence vault.
The submissions sheet is held in memory by ``_index`` (forms are far smaller than the lists of persons
they produce); the repeat sheet streams.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kartoteka.accounts.models import Team, User
from kartoteka.imports import mapping as mappings
from kartoteka.imports import readers
from kartoteka.imports.rows import Cell
from kartoteka.imports.services import ImportRefused, ImportReport, table_import


def _index_of(headers: list[str], name: str) -> int:
    try:
        return headers.index(name)
    except ValueError:
        raise ImportRefused("kobo_malformed", [name]) from None


def _key(cell: Cell) -> str:
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return "" if cell is None else str(cell).strip()


def _joined(path: Path, main_sheet: str | None, repeat_sheet: str) -> readers.Table:
    try:
        main = readers.open_table(path, sheet=main_sheet)
    except readers.ReadError as exc:
        raise ImportRefused(exc.code) from None
    try:
        at = _index_of(main.headers, "_index")
        submissions = {
            _key(cells[at]): cells for _, cells in main.rows if cells is not None and len(cells) > at
        }
        main_headers = list(main.headers)
    finally:
        main.close()
    try:
        repeat = readers.open_table(path, sheet=repeat_sheet)
    except readers.ReadError as exc:
        raise ImportRefused(exc.code) from None
    parent_at = _index_of(repeat.headers, "_parent_index")
    width = len(main_headers)

    def rows() -> Iterator[tuple[int, list[Cell] | None]]:
        for number, cells in repeat.rows:
            if cells is None:
                yield number, None
                continue
            parent = submissions.get(_key(cells[parent_at]) if len(cells) > parent_at else "")
            if parent is None:
                yield number, None  # an entry whose submission is missing cannot be read whole
                continue
            padded = list(parent[:width]) + [None] * (width - len(parent[:width]))
            yield number, padded + list(cells)

    return readers.Table(
        kind="xlsx",
        headers=main_headers + [f"{repeat_sheet}/{h}" for h in repeat.headers],
        rows=rows(),
        date1904=repeat.date1904,
        sheet=repeat_sheet,
        closers=repeat.closers,
        unreadable="parent_missing",
    )


def kobo_import(
    *,
    actor: User,
    team: Team,
    path: Path,
    mapping: mappings.Mapping,
    media: Path | None = None,
    dry_run: bool = False,
) -> ImportReport:
    repeat = mapping.extra.get("repeat")
    if repeat is None:
        return table_import(actor=actor, team=team, path=path, mapping=mapping, dry_run=dry_run, kind="kobo",
                            media=media)  # fmt: skip
    if not isinstance(repeat, dict) or not isinstance(repeat.get("sheet"), str):
        raise ImportRefused("kobo_malformed", ["repeat"])
    inner = mappings.parse({"format": mappings.FORMAT, "columns": repeat.get("columns", {})})
    sheet = str(repeat["sheet"])
    combined = mappings.parse(
        {
            "format": mappings.FORMAT,
            "columns": {**mapping.columns, **{f"{sheet}/{h}": f for h, f in inner.columns.items()}},
            "source_kind": mapping.source_kind,
        }
    )
    table = _joined(path, mapping.sheet, sheet)
    return table_import(
        actor=actor, team=team, path=path, mapping=combined, dry_run=dry_run, kind="kobo", table=table,
        media=media,
    )  # fmt: skip
