"""KoboToolbox/ODK exports: one Record per repeat-group entry, joined to its submission by _parent_index,
media into the evidence vault, through a saved mapping."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from kartoteka.core import sealing
from kartoteka.imports import kobo
from kartoteka.imports import mapping as mappings
from kartoteka.imports.models import QuarantineRow
from kartoteka.people.models import Record
from kartoteka.testing.factories import cast_make


def _export(tmp_path: Path) -> tuple[Path, Path]:
    from openpyxl import Workbook

    book = Workbook()
    main = book.active
    assert main is not None
    main.title = "Анкета"
    main.append(["region", "comment", "_id", "_uuid", "_submission_time", "_index"])
    main.append(["Свердловская область", "звонила мать", 101, "u-1", "2024-01-05T10:00:00", 1])
    main.append(["Калужская область", "", 102, "u-2", "2024-01-06T10:00:00", 2])
    sons = book.create_sheet("sons")
    sons.append(["son_name", "son_birth", "son_photo", "_index", "_parent_index", "_parent_table_name"])
    sons.append(["Первов Иван", "12.03.1990", "photo-1.jpg", 1, 1, "Анкета"])
    sons.append(["Второв Пётр", "1992", "", 2, 1, "Анкета"])
    sons.append(["Третьев Олег", "03.1995", "lost.jpg", 3, 2, "Анкета"])
    sons.append(["Сиротин Ян", "1990", "", 4, 99, "Анкета"])  # its submission is not in the export
    path = tmp_path / "kobo.xlsx"
    book.save(path)
    media = tmp_path / "attachments" / "u-1"
    media.mkdir(parents=True)
    (media / "photo-1.jpg").write_bytes(b"\xff\xd8\xff" + secrets.token_bytes(500))
    return path, tmp_path / "attachments"


MAPPING = {
    "format": mappings.FORMAT,
    "sheet": "Анкета",
    "source_kind": "relative",
    "columns": {"region": "region", "comment": "notes", "_id": "ignore", "_uuid": "ignore",
                "_submission_time": "ignore", "_index": "ignore"},
    "repeat": {"sheet": "sons", "columns": {"son_name": "full_name", "son_birth": "birth_date",
                                            "son_photo": "attachment", "_index": "ignore",
                                            "_parent_index": "ignore", "_parent_table_name": "ignore"}},
}  # fmt: skip


@pytest.mark.django_db
def test_it_imports_repeat_group_entries_with_their_submission_and_media(
    agent_ready: Path, tmp_path: Path
) -> None:
    cast = cast_make()
    path, media = _export(tmp_path)
    saved = tmp_path / "kobo-mapping.json"
    saved.write_text(json.dumps(MAPPING, ensure_ascii=False), encoding="utf-8")
    report = kobo.kobo_import(
        actor=cast.owner, team=cast.team, path=path, mapping=mappings.load(saved), media=media
    )
    assert report.summary() == "imported=3 quarantined=1 flagged=1 duplicates=0"
    (held,) = QuarantineRow.objects.all()
    assert (held.row, held.reasons) == (5, [["", "parent_missing"]])
    records = list(Record.objects.filter(team=cast.team).order_by("origin_row"))
    assert [r.home_region_id for r in records] == ["RU-SVE", "RU-SVE", "RU-KLU"]
    assert records[2].review_flags == ["attachment_missing"]
    opened = sealing.rows_open(
        "people.record", [(str(r.id), bytes(r.wrapped_key), {"full_name": r.full_name_enc, "notes": r.notes_enc})
                          for r in records],
    )  # fmt: skip
    assert [o["full_name"] for o in opened] == ["Первов Иван", "Второв Пётр", "Третьев Олег"]
    assert opened[0]["notes"].startswith("звонила мать\nВложение / attachment: photo-1.jpg\nДоказательство")
    again = kobo.kobo_import(
        actor=cast.owner, team=cast.team, path=path, mapping=mappings.load(saved), media=media
    )
    assert again.imported == 0 and Record.objects.filter(team=cast.team).count() == 3
