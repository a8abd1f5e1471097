"""Tabular import: encodings, delimiters, broken rows, the encrypted quarantine, idempotency, the canary."""

from __future__ import annotations

import codecs
import io
import itertools
import json
from datetime import datetime
from pathlib import Path

import pytest
from django.conf import settings

from kartoteka.casework.models import Recruitment
from kartoteka.imports import detect, readers, services
from kartoteka.imports import mapping as mappings
from kartoteka.imports.models import ImportRun, QuarantineRow
from kartoteka.imports.rows import reason_text
from kartoteka.imports.testing import BROKEN_KINDS, HEADERS, Sheet, csv_bytes, sheet_make
from kartoteka.people.models import Record
from kartoteka.testing import canary
from kartoteka.testing.factories import Cast, cast_make

ENCODINGS = {
    "utf-8": "utf-8",
    "utf-8-bom": "utf-8-sig",
    "utf-16": "utf-16",
    "cp1251": "cp1251",
    "koi8-r": "koi8-r",
}
DELIMITERS = {"semicolon": ";", "comma": ",", "tab": "\t", "pipe": "|"}
NEWLINES = {"crlf": "\r\n", "lf": "\n"}


@pytest.fixture(scope="module")
def sheet() -> Sheet:
    return sheet_make()


def _expected_codec(name: str) -> str:
    return {"utf-8-bom": "utf-8-sig", "utf-16": "utf-16"}.get(name, name)


# --- detection (no database) ------------------------------------------------------------------------------


@pytest.mark.parametrize(("enc", "delim", "nl"), list(itertools.product(ENCODINGS, DELIMITERS, NEWLINES)))
def test_it_detects_encoding_and_delimiter_of_every_fixture(
    sheet: Sheet, enc: str, delim: str, nl: str
) -> None:
    data = csv_bytes(sheet, encoding=ENCODINGS[enc], delimiter=DELIMITERS[delim], newline=NEWLINES[nl])
    found = detect.detect_encoding(io.BytesIO(data))
    assert found.encoding == _expected_codec(enc)
    assert found.bom == (enc in ("utf-8-bom", "utf-16"))
    text = data.decode(found.encoding)
    assert detect.detect_delimiter(text[:65536]) == DELIMITERS[delim]


def test_it_reads_the_rows_back_exactly_with_embedded_newlines_and_quotes(
    sheet: Sheet, tmp_path: Path
) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes(csv_bytes(sheet, encoding="cp1251", delimiter=";", newline="\r\n"))
    table = readers.open_table(path)
    try:
        assert table.headers == HEADERS
        rows = list(table.rows)
    finally:
        table.close()
    assert [cells for _, cells in rows] == sheet.rows
    assert [n for n, _ in rows] == list(range(2, len(sheet.rows) + 2))


@pytest.mark.parametrize("upper", [False, True])
def test_it_tells_cp1251_from_koi8r_on_names_alone(upper: bool) -> None:
    names = "\n".join(["Иванов Иван Иванович", "Петрова Мария", "Сидоренко Олег Юрьевич"] * 3)
    names = names.upper() if upper else names
    for encoding in ("cp1251", "koi8-r"):
        assert detect.detect_encoding(io.BytesIO(names.encode(encoding))).encoding == encoding


def test_it_refuses_to_guess_an_encoding_without_evidence() -> None:
    with pytest.raises(detect.EncodingError):
        detect.single_byte_cyrillic(b"abc\xff")


def test_it_detects_a_late_non_utf8_byte() -> None:
    data = b"a;b\n" * 400_000 + "Иванов;1\n".encode("cp1251")
    assert detect.detect_encoding(io.BytesIO(data)).encoding == "cp1251"


def test_it_proposes_a_mapping_from_russian_and_english_headers() -> None:
    proposal = detect.propose(
        ["ФИО", "Дата рождения", "ИК", "Регион", "Дата контракта", "Вербовщик", "Full name", "Facility", "??"]
    )
    assert [f for _, f in proposal.columns] == [
        "full_name", "birth_date", "facility", "region", "contract_date", "recruiter", None, None, None,
    ]  # fmt: skip
    assert proposal.unrecognised() == ["Full name", "Facility", "??"]  # doubled fields stay for a person
    english = detect.propose(["Full name", "Facility", "Date of birth", "Фамилия", "Имя", "Отчество"])
    assert english.complete
    assert [f for _, f in english.columns] == [
        "full_name", "facility", "birth_date", "last_name", "first_name", "patronymic",
    ]  # fmt: skip


# --- importing ------------------------------------------------------------------------------------------


def _import(cast: Cast, path: Path, **kw: object) -> services.ImportReport:
    return services.table_import(actor=cast.owner, team=cast.team, path=path, **kw)  # type: ignore[arg-type]


def _check_imported(sheet: Sheet, report: services.ImportReport, path_sha: str) -> None:
    assert report.summary() == (
        f"imported={sheet.valid} quarantined={len(sheet.broken)} flagged={sheet.flagged} "
        f"duplicates={sheet.duplicates}"
    )
    assert Record.objects.filter(origin_file=path_sha).count() == sheet.valid
    run = ImportRun.objects.get(file_sha256=path_sha)
    got = {q.row: [tuple(r) for r in q.reasons] for q in QuarantineRow.objects.filter(run=run)}
    assert got == {row: [(column, code)] for row, (_, column, code) in sheet.broken.items()}
    assert sorted((r, c, code) for r, c, code in report.errors) == sorted(
        (row, column, code) for row, (_, column, code) in sheet.broken.items()
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("enc", "delim"), list(itertools.product(ENCODINGS, DELIMITERS)))
def test_it_imports_exactly_the_valid_rows_of_every_encoding_and_delimiter(
    agent_ready: Path, sheet: Sheet, tmp_path: Path, enc: str, delim: str
) -> None:
    cast = cast_make()
    newline = "\r\n" if (list(ENCODINGS).index(enc) + list(DELIMITERS).index(delim)) % 2 else "\n"
    path = tmp_path / "list.csv"
    path.write_bytes(csv_bytes(sheet, encoding=ENCODINGS[enc], delimiter=DELIMITERS[delim], newline=newline))
    report = _import(cast, path)
    assert report.meta["encoding"] == _expected_codec(enc)
    assert report.meta["delimiter"] == DELIMITERS[delim]
    _check_imported(sheet, report, services.file_sha256(path))


@pytest.mark.django_db
def test_it_imports_an_xlsx_with_date_cells_and_serials(
    agent_ready: Path, sheet: Sheet, tmp_path: Path
) -> None:
    from openpyxl import Workbook

    cast = cast_make()
    book = Workbook(write_only=True)
    ws = book.create_sheet("Список")
    ws.append(HEADERS)
    for i, row in enumerate(sheet.rows):
        cells: list[object] = list(row)
        if i % 11 == 2 and len(row) == len(HEADERS) and row[1].count(".") == 2:
            d, m, y = (int(x) for x in row[1].split("."))
            cells[1] = datetime(y, m, d)  # a real date cell
        elif i % 11 == 5 and len(row) == len(HEADERS) and row[1].isdigit() and len(row[1]) == 5:
            cells[1] = int(row[1])  # a number cell holding an Excel serial
        if "\x07" in row[0]:
            cells[0] = "#NAME?"  # XLSX cannot hold control characters; a formula error is broken too
        ws.append(cells)
    path = tmp_path / "list.xlsx"
    book.save(path)
    report = _import(cast, path)
    assert report.meta["kind"] == "xlsx"
    # In a sheet, a row cut short is not a broken row: spreadsheets drop trailing empty cells.
    short = {r for r, v in sheet.broken.items() if v[0] == "missing_column"}
    expected = Sheet(sheet.headers, sheet.rows, sheet.valid, sheet.flagged, sheet.duplicates)
    expected.broken = {r: v for r, v in sheet.broken.items() if r not in short}
    assert report.quarantined == len(expected.broken) and report.imported == sheet.valid + len(short)


@pytest.mark.django_db
def test_it_keeps_what_the_source_reported_on_the_record(agent_ready: Path, tmp_path: Path) -> None:
    from kartoteka.core import sealing

    cast = cast_make()
    path = tmp_path / "one.csv"
    path.write_text(
        "ФИО;Дата рождения;Пол;Регион;Учреждение;Вербовщик;Дата контракта;Примечание\r\n"
        'Тестов Тест Тестович;12 марта 1985;м;Свердловская обл.;ИК-2 Свердловская обл.;ЧВК Вагнер;44805;"а\nб"\r\n'
        "Другов Друг;1890;ж;Марс;ИК-999 где-то;Шторм Z;15.06.2024;\r\n",
        encoding="utf-8",
    )
    report = _import(cast, path)
    assert report.summary() == "imported=2 quarantined=0 flagged=1 duplicates=0"
    first, second = Record.objects.filter(origin_file=services.file_sha256(path)).order_by("origin_row")
    opened = sealing.rows_open(
        "people.record",
        [(str(r.id), bytes(r.wrapped_key), {"full_name": r.full_name_enc, "birth_date": r.birth_date_enc,
                                              "notes": r.notes_enc}) for r in (first, second)],
    )  # fmt: skip
    assert opened[0] == {"full_name": "Тестов Тест Тестович", "birth_date": "1985-03-12", "notes": "а\nб"}
    assert first.home_region_id == "RU-SVE" and first.facility_id is not None and first.review_flags == []
    recruitment = Recruitment.objects.get(person_id=first.person_id)
    assert (recruitment.recruiter, recruitment.signed_edtf) == ("wagner", "2022-09-01")
    assert second.home_region_id is None and second.facility_id is None
    assert set(second.review_flags) == {
        "birth_implausible", "region_unmatched", "facility_unmatched", "signed_outside_recruiter_period",
    }  # fmt: skip
    assert "ИК-999 где-то" in opened[1]["notes"] and "Марс" in opened[1]["notes"]


@pytest.mark.django_db
def test_it_imports_nothing_twice_and_counts_identical_rows_of_another_file(
    agent_ready: Path, tmp_path: Path
) -> None:
    cast = cast_make()
    sheet = sheet_make(valid=120, broken=10, duplicates=2, seed=3)
    path = tmp_path / "a.csv"
    path.write_bytes(csv_bytes(sheet, encoding="utf-8", delimiter=";", newline="\n"))
    first = _import(cast, path, batch_size=50)
    assert first.imported == 120
    again = _import(cast, path, batch_size=50)
    assert again.summary() == "imported=0 quarantined=0 flagged=0 duplicates=0"
    assert again.already == len(sheet.rows) + 1
    # The same rows in another file (other bytes: commas, CRLF): identical rows are duplicates, not new.
    other = tmp_path / "b.csv"
    other.write_bytes(csv_bytes(sheet, encoding="cp1251", delimiter=",", newline="\r\n"))
    third = _import(cast, other, batch_size=50)
    assert (third.imported, third.duplicates, third.quarantined) == (0, 122, 10)
    assert Record.objects.filter(team=cast.team).count() == 120


@pytest.mark.django_db
def test_it_writes_nothing_on_a_dry_run_and_reports_in_either_language(
    agent_ready: Path, sheet: Sheet, tmp_path: Path
) -> None:
    cast = cast_make()
    path = tmp_path / "d.csv"
    path.write_bytes(csv_bytes(sheet, encoding="koi8-r", delimiter="\t", newline="\n"))
    report = _import(cast, path, dry_run=True)
    assert report.summary() == (
        f"imported={sheet.valid} quarantined={len(sheet.broken)} flagged={sheet.flagged} "
        f"duplicates={sheet.duplicates}"
    )
    assert not Record.objects.exists() and not ImportRun.objects.exists()
    assert reason_text("date_future", "ru") == "дата в будущем"
    assert reason_text("date_future", "en") == "the date is in the future"


@pytest.mark.django_db
def test_it_refuses_unrecognised_columns_until_a_mapping_names_them(
    agent_ready: Path, tmp_path: Path
) -> None:
    cast = cast_make()
    path = tmp_path / "m.csv"
    path.write_text("Человек;Когда родился;ИК\nТестов Тест;1980;ИК-2 Свердловская обл.\n", encoding="utf-8")
    with pytest.raises(services.ImportRefused) as info:
        _import(cast, path)
    assert (info.value.code, info.value.columns) == ("columns_unrecognised", ["Человек", "Когда родился"])
    proposal, _ = services.mapping_propose(path)
    chosen = mappings.from_proposal(proposal)
    chosen.columns.update({"Человек": "full_name", "Когда родился": "birth_date"})
    saved = tmp_path / "mapping.json"
    saved.write_text(chosen.to_json(), encoding="utf-8")
    report = _import(cast, path, mapping=mappings.load(saved))
    assert report.summary() == "imported=1 quarantined=0 flagged=0 duplicates=0"
    with pytest.raises(mappings.MappingError):
        mappings.parse({"format": mappings.FORMAT, "columns": {"a": "password"}})


@pytest.mark.django_db
def test_it_keeps_the_quarantine_sealed_and_leaves_no_name_on_disk(agent_ready: Path, tmp_path: Path) -> None:
    from kartoteka.core import sealing
    from kartoteka.lib import vault

    cast = cast_make()
    sheet = sheet_make(seed=4242)  # names no other test wrote into its fixtures
    path = tmp_path / "c.csv"
    path.write_bytes(csv_bytes(sheet, encoding="cp1251", delimiter=";", newline="\r\n"))
    report = _import(cast, path)
    run = ImportRun.objects.get(pk=report.run_id)
    assert run.vault_item and vault.vault_verify(Path(settings.EVIDENCE_DIR) / "vault", run.vault_item).ok
    q = QuarantineRow.objects.filter(run=run).order_by("row").first()
    assert q is not None
    opened = sealing.rows_open(
        "imports.quarantinerow", [(str(q.id), bytes(q.wrapped_key), {"cells": q.cells_enc})]
    )
    assert json.loads(opened[0]["cells"]) == sheet.rows[q.row - 2]
    path.unlink()  # the input itself is the user's file, not ours
    assert len(sheet.broken_names) >= 40
    canary.assert_clean(sheet.broken_names, [Path(settings.DATA_DIR)], include_processes=False)


def test_it_lists_a_message_for_every_reason() -> None:
    for _column, code in BROKEN_KINDS.values():
        assert reason_text(code, "ru") != code and reason_text(code, "en") != code


def test_it_reads_a_mapping_with_the_bom_editors_add(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_bytes(
        codecs.BOM_UTF8 + json.dumps({"format": mappings.FORMAT, "columns": {"ФИО": "full_name"}}).encode()
    )
    assert mappings.load(path).columns == {"ФИО": "full_name"}
