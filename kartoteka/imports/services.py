"""Tabular import: a CSV or XLSX file → Records of one Source, in atomic, resumable batches.

One file is one ImportRun, keyed by the file's SHA-256. Every batch is one transaction holding its
records (through ``people.services.person_bulk_create``), their recruitments, review flags, the row
fingerprints, the sealed quarantine rows, the run's watermark and counters, and an audit entry. A kill
loses at most the batch in flight; the next run starts after the watermark, and the (origin_file,
origin_row) constraint on Record backs that up, so nothing is imported twice.

The original file goes into the evidence vault before the first batch. Nothing here writes plaintext to
disk: quarantined rows are sealed before the transaction opens, and reports carry (row, column, reason
code) only, never a cell's value.
"""

from __future__ import annotations

import errno
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Model
from django.utils import timezone

from kartoteka.accounts import access
from kartoteka.accounts.models import Team, User
from kartoteka.audit.services import entry_append
from kartoteka.casework import services as casework
from kartoteka.casework.models import Recruitment
from kartoteka.core import sealing
from kartoteka.core.fields import new_id
from kartoteka.imports import detect, readers
from kartoteka.imports import mapping as mappings
from kartoteka.imports.models import ImportRun, QuarantineRow, RowFingerprint
from kartoteka.imports.rows import Cell, Parsed, Problem, RecruiterPeriod, RowParser
from kartoteka.lib import facilities, vault
from kartoteka.people import services as people
from kartoteka.people.models import Record
from kartoteka.registry.models import Region
from kartoteka.registry.services import facility_match

FINGERPRINT_PURPOSE = "imports.row.fingerprint"
QUARANTINE_TABLE = "imports.quarantinerow"
REPORT_ERRORS_MAX = 2000  # a report lists this many problems; the counters count them all


class ImportRefused(Exception):
    """The import cannot start or go on; ``code`` is stable for translation, ``columns`` name headers."""

    def __init__(self, code: str, columns: Sequence[str] = ()) -> None:
        super().__init__(f"{code}: {', '.join(columns)}" if columns else code)
        self.code = code
        self.columns = list(columns)


@dataclass
class ImportReport:
    file_sha256: str
    dry_run: bool
    run_id: uuid.UUID | None = None
    imported: int = 0
    quarantined: int = 0
    flagged: int = 0
    duplicates: int = 0
    already: int = 0  # rows a previous, interrupted or finished run of this file committed
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (row, column, reason code)
    meta: dict[str, object] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"imported={self.imported} quarantined={self.quarantined} "
            f"flagged={self.flagged} duplicates={self.duplicates}"
        )


# --- helpers ----------------------------------------------------------------------------------------------


def file_sha256(path: readers.Input) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@cache
def recruiter_periods() -> dict[str, RecruiterPeriod]:
    """Each recruiter's known period: the union of the windows of the recruitment regimes naming it."""
    from kartoteka.law.schema import RegimeSet

    periods: dict[str, RecruiterPeriod] = {}
    for regime in RegimeSet.default().recruitment:
        if regime.applies_to is None:
            continue
        for code in regime.applies_to.recruiters - {"other", "unknown"}:
            start, end = regime.window.valid_from, regime.window.valid_to
            known = periods.get(code)
            if known is not None:
                start = None if known.start is None or start is None else min(known.start, start)
                end = None if known.end is None or end is None else max(known.end, end)
            periods[code] = RecruiterPeriod(start, end)
    return periods


class _Places:
    """Region and facility resolution with a per-import cache (files repeat the same few spellings)."""

    def __init__(self) -> None:
        self.regions = dict(Region.objects.values_list("code", "name_ru"))
        self.matcher = facilities.default_region_matcher()
        self.cache: dict[tuple[str, str | None], uuid.UUID | None] = {}
        self.region_cache: dict[str, str | None] = {}

    def region(self, text: str) -> str | None:
        if text in self.region_cache:
            return self.region_cache[text]
        upper = text.strip().upper()
        code = upper if upper in self.regions else self.matcher.match(text)
        found = code if code in self.regions else None
        if len(self.region_cache) < 10_000:
            self.region_cache[text] = found
        return found

    def facility(self, text: str, region: str | None) -> uuid.UUID | None:
        key = (text, region)
        if key not in self.cache:
            if len(self.cache) > 10_000:
                self.cache.clear()
            found = facility_match(text).exact
            if found is None and region is not None:
                found = facility_match(f"{text}, {self.regions[region]}").exact
            self.cache[key] = found.id if found is not None else None
        return self.cache[key]


def _open(path: readers.Input, sheet: str | None) -> readers.Table:
    try:
        return readers.open_table(path, sheet=sheet)
    except readers.ReadError as exc:
        raise ImportRefused(exc.code) from None


def mapping_propose(path: readers.Input) -> tuple[detect.Proposal, dict[str, object]]:
    """The mapping the header row suggests, and what was detected about the file."""
    table = _open(path, None)
    try:
        return detect.propose(table.headers), _meta(table)
    finally:
        table.close()


def _meta(table: readers.Table) -> dict[str, object]:
    return {
        "kind": table.kind,
        "encoding": table.encoding,
        "delimiter": table.delimiter,
        "bom": table.bom,
        "sheet": table.sheet,
    }


def _fields(table: readers.Table, mapping: mappings.Mapping | None) -> list[str | None]:
    if mapping is None:
        proposal = detect.propose(table.headers)
        if not proposal.complete:
            raise ImportRefused("columns_unrecognised", proposal.unrecognised())
        return [f if f != "ignore" else None for _, f in proposal.columns]
    try:
        return mapping.fields_for(table.headers)
    except mappings.MappingError as exc:
        raise ImportRefused(exc.code, exc.columns) from None


def _parser(table: readers.Table, fields: Sequence[str | None], places: _Places) -> RowParser:
    return RowParser(
        table.headers,
        fields,
        region_match=places.region,
        facility_resolve=places.facility,
        recruiter_periods=recruiter_periods(),
        date1904=table.date1904,
        pad=table.kind == "xlsx",
    )


def _blank(cells: Sequence[Cell]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


@dataclass
class _Row:
    number: int
    cells: list[Cell] | None
    parsed: Parsed
    vault_items: list[str] = field(default_factory=list)


def _batches(
    table: readers.Table, parser: RowParser, after: int, size: int
) -> Iterator[tuple[list[_Row], int]]:
    """Rows after the watermark, parsed, in batches; each with the last row number it covers."""
    batch: list[_Row] = []
    last = after
    for number, cells in table.rows:
        if number <= after:
            continue
        last = number
        if cells is None:
            batch.append(_Row(number, None, Parsed(problems=[Problem("", table.unreadable)])))
        elif not _blank(cells):
            batch.append(_Row(number, cells, parser.parse(cells)))
        if len(batch) >= size:
            yield batch, last
            batch = []
    yield batch, last


# --- one batch ----------------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    to_import: list[_Row]
    duplicates: list[_Row]
    rejected: list[_Row]
    fingerprints: dict[int, int]  # row number → fingerprint value


def _sort(batch: list[_Row], team: Team, remembered: set[int] | None) -> _Outcome:
    good = [r for r in batch if r.parsed.ok]
    values = sealing.terms_index(FINGERPRINT_PURPOSE, [r.parsed.canonical for r in good])
    existing = set(
        RowFingerprint.objects.filter(team=team, value__in=set(values)).values_list("value", flat=True)
    )
    if remembered is not None:
        existing |= remembered
    out = _Outcome([], [], [r for r in batch if not r.parsed.ok], {})
    seen: set[int] = set()
    for row, value in zip(good, values, strict=True):
        if value in existing or value in seen:
            out.duplicates.append(row)
            continue
        seen.add(value)
        out.fingerprints[row.number] = value
        out.to_import.append(row)
    if remembered is not None:
        remembered |= seen
    return out


def _notes(parsed: Parsed, vault_items: Sequence[str] = ()) -> str:
    # What the matchers could not code is kept as the source wrote it (sealed, in the notes).
    lines = [parsed.notes] if parsed.notes else []
    lines += [f"Вложение / attachment: {name}" for name in parsed.attachments]
    lines += [f"Доказательство / evidence item: {item}" for item in vault_items]
    if parsed.facility_text:
        lines.append(f"Учреждение по источнику / facility as reported: {parsed.facility_text}")
    if parsed.region_text:
        lines.append(f"Регион по источнику / region as reported: {parsed.region_text}")
    return "\n".join(lines)


def _person_input(row: _Row, sha: str, source_id: uuid.UUID | None) -> people.PersonInput:
    p = row.parsed
    return people.PersonInput(
        full_name=p.full_name,
        aliases=p.aliases,
        birth_date=p.birth_date,
        sex=p.sex,
        home_region_code=p.region_code,
        facility_id=p.facility_id if isinstance(p.facility_id, uuid.UUID) else None,
        articles=p.articles,
        sentence_months=p.sentence_months,
        status=p.status,
        notes=_notes(p, row.vault_items),
        source_id=source_id,
        origin_file=sha,
        origin_row=row.number,
    )


def _quarantine_sealed(run: ImportRun, rows: list[_Row]) -> list[QuarantineRow]:
    if not rows:
        return []
    ids = [new_id() for _ in rows]
    sealed = sealing.rows_seal(
        QUARANTINE_TABLE,
        [
            (str(i), {"cells": json.dumps(_cells_text(r.cells), ensure_ascii=False)})
            for i, r in zip(ids, rows, strict=True)
        ],
    )
    return [
        QuarantineRow(
            id=i,
            run=run,
            row=r.number,
            reasons=[[p.column, p.code] for p in r.parsed.problems],
            wrapped_key=wrapped,
            cells_enc=fields.get("cells"),
        )
        for i, r, (wrapped, fields) in zip(ids, rows, sealed, strict=True)
    ]


def _cells_text(cells: Sequence[Cell] | None) -> list[str]:
    if cells is None:
        return []
    return ["" if c is None else c.isoformat() if isinstance(c, date) else str(c) for c in cells]


def _raw_insert(model: type[Model], columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """executemany with each field's own value preparation: the ORM's bulk_create costs ~1 ms a row here."""
    if not rows:
        return
    fields: list[Any] = [model._meta.get_field(c) for c in columns]
    q = connection.ops.quote_name
    names = ", ".join(q(str(f.column)) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {q(model._meta.db_table)} ({names}) VALUES ({marks})"  # noqa: S608 - model names
    prepared = [[f.get_db_prep_save(v, connection) for f, v in zip(fields, row, strict=True)] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, prepared)


def _recruitments(sha: str, rows: list[_Row], source_id: uuid.UUID | None) -> None:
    wanted = {r.number: r.parsed for r in rows if r.parsed.recruiter or r.parsed.contract_date is not None}
    if not wanted:
        return
    persons = dict(
        Record.objects.filter(origin_file=sha, origin_row__in=list(wanted)).values_list(
            "origin_row", "person_id"
        )
    )
    made = []
    for number, parsed in wanted.items():
        signed = parsed.contract_date
        made.append(
            (
                new_id(), persons[number], parsed.recruiter or "unknown",
                signed.to_edtf() if signed is not None else "",
                signed.earliest() if signed is not None else None,
                signed.latest() if signed is not None else None,
                parsed.facility_id if isinstance(parsed.facility_id, uuid.UUID) else None,
                "convicted", None, "", "", source_id,
            )
        )  # fmt: skip
    _raw_insert(Recruitment, _RECRUITMENT_COLUMNS, made)


_RECRUITMENT_COLUMNS = (
    "id", "person", "recruiter", "signed_edtf", "signed_start", "signed_end", "facility", "legal_status",
    "stated_term_months", "unit", "stated_regime", "source",
)  # fmt: skip


def _flags(sha: str, rows: list[_Row]) -> int:
    groups: dict[tuple[str, ...], list[int]] = {}
    for r in rows:
        if r.parsed.flags:
            groups.setdefault(tuple(r.parsed.flags), []).append(r.number)
    for flags, numbers in groups.items():
        Record.objects.filter(origin_file=sha, origin_row__in=numbers).update(review_flags=list(flags))
    return sum(len(n) for n in groups.values())


def media_index(media: Path) -> dict[str, Path]:
    """File name → file, for every file under ``media`` (symbolic links are not followed out of it)."""
    root = media.resolve()
    return {p.name: p for p in root.rglob("*") if p.is_file() and p.resolve().is_relative_to(root)}


def _media_to_vault(actor: User, rows: list[_Row], media: dict[str, Path] | None) -> None:
    """Attachments named by a row, found in ``media``, into the vault (before the batch's transaction:
    a kill in between leaves an unreferenced vault item, never a record pointing at nothing)."""
    if media is None:
        return
    for row in rows:
        for name in row.parsed.attachments:
            found = media.get(Path(name).name)
            if found is None:
                if "attachment_missing" not in row.parsed.flags:
                    row.parsed.flags.append("attachment_missing")
                continue
            with found.open("rb") as handle:
                manifest = vault.vault_ingest(vault_root(), sealing.client(), handle, actor=str(actor.id))
            row.vault_items.append(manifest.item_id)


def _commit(
    *,
    actor: User,
    team: Team,
    run: ImportRun,
    outcome: _Outcome,
    last: int,
    media: dict[str, Path] | None = None,
) -> tuple[int, int]:
    """Write one batch in one transaction; returns (imported, flagged)."""
    _media_to_vault(actor, outcome.to_import, media)
    sealed = _quarantine_sealed(run, outcome.rejected)
    inputs = [_person_input(r, run.file_sha256, run.source_id) for r in outcome.to_import]
    with transaction.atomic():
        created = 0
        if inputs:
            created = people.person_bulk_create(
                actor=actor, team=team, rows=inputs, batch_size=len(inputs) + 1
            )
        flagged = _flags(run.file_sha256, outcome.to_import)
        _recruitments(run.file_sha256, outcome.to_import, run.source_id)
        _raw_insert(
            RowFingerprint,
            ("team", "value", "run"),
            [(team.id, v, run.id) for v in outcome.fingerprints.values()],
        )
        _raw_insert(
            QuarantineRow,
            ("id", "run", "row", "reasons", "wrapped_key", "cells_enc", "created_at"),
            [(q.id, run.id, q.row, q.reasons, q.wrapped_key, q.cells_enc, timezone.now()) for q in sealed],
        )
        ImportRun.objects.filter(pk=run.pk).update(
            rows_done=last,
            imported=F("imported") + created,
            quarantined=F("quarantined") + len(sealed),
            flagged=F("flagged") + flagged,
            duplicates=F("duplicates") + len(outcome.duplicates),
        )
        entry_append(
            actor=str(actor.id),
            action="import.batch",
            object_type="import_run",
            object_id=str(run.id),
            details={
                "last_row": last,
                "imported": created,
                "quarantined": len(sealed),
                "flagged": flagged,
                "duplicates": len(outcome.duplicates),
            },
        )
    return created, flagged


# --- the run ------------------------------------------------------------------------------------------------


def vault_root() -> Path:
    """The evidence vault every import keeps its received files in."""
    return Path(settings.EVIDENCE_DIR) / "vault"


def run_start(
    *, actor: User, team: Team, sha: str, kind: str, fields: dict[str, str], meta: dict[str, object],
    source_kind: str, label: str,
) -> ImportRun:  # fmt: skip
    """The import run of the file whose SHA-256 is ``sha``: the earlier run when the file was seen before
    (a resumed import), refused if that run belongs to another team or kind or read the file with another
    mapping; otherwise a new run, with the Source its rows will cite, audited."""
    run = ImportRun.objects.filter(file_sha256=sha).first()
    if run is not None:
        if run.team_id != team.id or run.kind != kind:
            raise ImportRefused("file_imported_elsewhere")
        if run.mapping != fields:
            raise ImportRefused("mapping_changed")
        return run
    with transaction.atomic():
        source = casework.source_create(actor=actor, team=team, kind=source_kind, label=label)
        run = ImportRun.objects.create(
            team=team, kind=kind, file_sha256=sha, source=source, mapping=fields, meta=meta, created_by=actor
        )
        entry_append(
            actor=str(actor.id),
            action="import.start",
            object_type="import_run",
            object_id=str(run.id),
            details={"file": sha, "kind": kind, "source": str(source.id)},
        )
    return run


def original_to_vault(*, actor: User, run: ImportRun, path: readers.Input) -> str:
    """The file as received, into the evidence vault (once per run; a resumed run finds it there)."""
    if run.vault_item:
        return run.vault_item
    with path.open("rb") as handle:
        manifest = vault.vault_ingest(vault_root(), sealing.client(), handle, actor=str(actor.id))
    with transaction.atomic():
        ImportRun.objects.filter(pk=run.pk).update(vault_item=manifest.item_id)
        entry_append(
            actor=str(actor.id),
            action="evidence.receive",
            object_type="evidence",
            object_id=manifest.item_id,
            details={"import_run": str(run.id), "original": manifest.sha256},
        )
    run.vault_item = manifest.item_id
    return manifest.item_id


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return "disk is full" in text or "no space left" in text or "could not extend file" in text


def table_import(
    *,
    actor: User,
    team: Team,
    path: readers.Input,
    mapping: mappings.Mapping | None = None,
    dry_run: bool = False,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
    label: str = "",
    kind: str = "table",
    table: readers.Table | None = None,
    media: Path | None = None,
) -> ImportReport:
    """Import (or, with ``dry_run``, only check) one CSV or XLSX file into ``team``.

    ``table`` replaces reading ``path`` (Kobo/ODK builds one row per repeat-group entry); ``media`` is a
    directory where attachments named in "attachment" columns are looked up.
    """
    if not access.team_writable(actor, team):
        raise access.NotFound
    sha = file_sha256(path)
    if table is None:
        table = _open(path, mapping.sheet if mapping is not None else None)
    report = ImportReport(file_sha256=sha, dry_run=dry_run, meta=_meta(table))
    try:
        fields = _fields(table, mapping)
        applied = {h: (f or "ignore") for h, f in zip(table.headers, fields, strict=True)}
        parser = _parser(table, fields, _Places())
        if dry_run:
            _dry(actor, team, table, parser, report, batch_size, progress)
            return report
        try:
            _real(
                actor, team, path, table, parser, report, applied, mapping, batch_size, progress, label,
                kind, media,
            )  # fmt: skip
        except (OSError, DatabaseError) as exc:
            if _disk_full(exc):
                raise ImportRefused("disk_full") from None
            raise
    finally:
        table.close()
    return report


def _collect(report: ImportReport, rows: list[_Row]) -> None:
    for r in rows:
        for p in r.parsed.problems:
            if len(report.errors) < REPORT_ERRORS_MAX:
                report.errors.append((r.number, p.column, p.code))


def _dry(
    actor: User,
    team: Team,
    table: readers.Table,
    parser: RowParser,
    report: ImportReport,
    batch_size: int,
    progress: Callable[[int], None] | None,
) -> None:
    remembered: set[int] = set()
    done = 0
    for batch, _last in _batches(table, parser, 0, batch_size):
        outcome = _sort(batch, team, remembered)
        report.imported += len(outcome.to_import)
        report.flagged += sum(1 for r in outcome.to_import if r.parsed.flags)
        report.duplicates += len(outcome.duplicates)
        report.quarantined += len(outcome.rejected)
        _collect(report, outcome.rejected)
        done += len(batch)
        if progress is not None:
            progress(done)
    with transaction.atomic():
        entry_append(
            actor=str(actor.id),
            action="import.dry_run",
            object_type="team",
            object_id=str(team.id),
            details={
                "file": report.file_sha256,
                "rows_ok": report.imported,
                "rows_rejected": report.quarantined,
            },
        )


def _real(
    actor: User,
    team: Team,
    path: readers.Input,
    table: readers.Table,
    parser: RowParser,
    report: ImportReport,
    applied: dict[str, str],
    mapping: mappings.Mapping | None,
    batch_size: int,
    progress: Callable[[int], None] | None,
    label: str,
    kind: str,
    media: Path | None,
) -> None:
    run = run_start(
        actor=actor,
        team=team,
        sha=report.file_sha256,
        kind=kind,
        fields=applied,
        meta=report.meta,
        source_kind=mapping.source_kind if mapping is not None else "ngo_report",
        label=label or f"Импорт / import {path.name}",
    )
    report.run_id = run.id
    report.already = run.rows_done
    original_to_vault(actor=actor, run=run, path=path)
    if run.status == "done":
        return
    done = 0
    found = media_index(media) if media is not None else None
    for batch, last in _batches(table, parser, run.rows_done, batch_size):
        if last <= run.rows_done:
            break
        outcome = _sort(batch, team, None)
        created, flagged = _commit(actor=actor, team=team, run=run, outcome=outcome, last=last, media=found)
        run.rows_done = last
        report.imported += created
        report.flagged += flagged
        report.duplicates += len(outcome.duplicates)
        report.quarantined += len(outcome.rejected)
        _collect(report, outcome.rejected)
        done += len(batch)
        if progress is not None:
            progress(done)
    with transaction.atomic():
        ImportRun.objects.filter(pk=run.pk).update(status="done", finished_at=timezone.now())
        entry_append(
            actor=str(actor.id),
            action="import.finish",
            object_type="import_run",
            object_id=str(run.id),
            details={"rows_done": run.rows_done},
        )
