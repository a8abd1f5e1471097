"""The public data set: counts of distinct victims by region × quarter, by category × quarter, and for
reviewed facilities, protected by kartoteka.lib.disclosure, with a methodology note in Russian and English.

Nothing here reads a name, a date of birth, a contact or free text: the input is coded facts only
(``selectors.VictimEvent``), and the output is counts and reference labels.

How each table is protected (docs/exports.md has the reasoning):

* region × quarter — every victim-quarter is placed in exactly one region (that of the victim's earliest
  publishable incident in the quarter), so the table is additive; ``protect(by_column=True)``: each quarter
  is protected on its own, with its national total; per-region totals over the period only for rows with
  no suppressed cell. The row set is every region in the registry plus "unknown", whatever the period.
* category × quarter — a victim counts once in each category they suffered; cells below k are hidden and
  no totals are published (categories overlap, so totals would mislead and could be differenced).
* facility × quarter — only facilities a second staff member approved; a cell is published only when it
  is ≥ k, its region's cell for the quarter is published, and what remains of the region after the
  published facilities is 0 or ≥ k (else the smallest facility cell is hidden too).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from kartoteka.exports.selectors import VictimEvent
from kartoteka.exports.writers import Sheet, csv_bytes, json_bytes, xlsx_bytes
from kartoteka.lib import disclosure, vocab
from kartoteka.lib.disclosure import ProtectedTable, Table

UNKNOWN_REGION = "unknown"
FILES = (
    "victims_by_region.csv",
    "victims_by_category.csv",
    "victims_by_facility.csv",
    "public.xlsx",
    "estimates.csv",
    "release.json",
    "methodology.md",
)


@dataclass(frozen=True)
class RegionLabel:
    code: str
    name_ru: str
    name_en: str


@dataclass(frozen=True)
class FacilityLabel:
    id: uuid.UUID
    key: str
    name: str
    region: str


@dataclass(frozen=True)
class EstimateLine:
    """An estimate a second staff member approved (estimation.selectors.published_estimates): figures only."""

    population: str
    period: str
    lists: int
    n_observed: int
    method: str
    estimate: int
    lower: int
    upper: int


@dataclass(frozen=True)
class PublicRelease:
    k: int
    quarters: list[str]
    regions: ProtectedTable
    categories: ProtectedTable
    facilities: ProtectedTable
    region_labels: list[RegionLabel]
    facility_labels: list[FacilityLabel]
    generated_on: date
    estimates: tuple[EstimateLine, ...] = ()

    def tables(self) -> dict[str, ProtectedTable]:
        return {"regions": self.regions, "categories": self.categories, "facilities": self.facilities}


class UnsafeReleaseError(RuntimeError):
    """The audit found a suppressed value an attacker could recover: the release is not written."""


def _placements(events: Sequence[VictimEvent]) -> dict[tuple[uuid.UUID, str], VictimEvent]:
    """One event per (victim, quarter): the earliest, ties by incident id, so the choice is reproducible."""
    chosen: dict[tuple[uuid.UUID, str], VictimEvent] = {}
    for e in sorted(events, key=lambda e: (e.day, str(e.incident_id))):
        chosen.setdefault((e.person_id, e.quarter), e)
    return chosen


def release_build(
    events: Sequence[VictimEvent],
    *,
    quarters: list[str],
    k: int,
    regions: Sequence[RegionLabel],
    facilities: Sequence[FacilityLabel],
    generated_on: date,
    estimates: Sequence[EstimateLine] = (),
) -> PublicRelease:
    in_period = [e for e in events if e.quarter in set(quarters)]
    placed = _placements(in_period)
    region_rows = [r.code for r in regions] + [UNKNOWN_REGION]
    known_regions = set(region_rows)
    region_counts: dict[tuple[str, str], int] = defaultdict(int)
    facility_counts: dict[tuple[uuid.UUID, str], int] = defaultdict(int)
    for (_, quarter), e in placed.items():
        region = e.region if e.region in known_regions else UNKNOWN_REGION
        region_counts[(region, quarter)] += 1
        if e.facility_id is not None:
            facility_counts[(e.facility_id, quarter)] += 1
    region_table = disclosure.protect(Table(region_rows, quarters, dict(region_counts)), k=k, by_column=True)

    category_codes = [t.code for t in vocab.terms("incident_category", include_retired=True)]
    by_category: dict[tuple[str, str], set[uuid.UUID]] = defaultdict(set)
    for e in in_period:
        for code in e.categories:
            if code in category_codes:
                by_category[(code, e.quarter)].add(e.person_id)
    category_table = disclosure.threshold_only(
        Table(category_codes, quarters, {cell: len(ids) for cell, ids in by_category.items()}), k=k
    )
    facility_table = _facility_table(facilities, facility_counts, region_table, quarters, k)
    release = PublicRelease(
        k=k,
        quarters=quarters,
        regions=region_table,
        categories=category_table,
        facilities=facility_table,
        region_labels=list(regions),
        facility_labels=list(facilities),
        generated_on=generated_on,
        # An estimate over fewer than k documented people would publish a small count: left out.
        estimates=tuple(e for e in estimates if e.n_observed >= k),
    )
    _release_check(release)
    return release


def _facility_table(
    facilities: Sequence[FacilityLabel],
    counts: dict[tuple[uuid.UUID, str], int],
    regions: ProtectedTable,
    quarters: list[str],
    k: int,
) -> ProtectedTable:
    published: dict[disclosure.Cell, int | None] = {}
    for q in quarters:
        by_region: dict[str, list[FacilityLabel]] = defaultdict(list)
        for f in facilities:
            by_region[f.region].append(f)
        for region, members in by_region.items():
            region_value = regions.published.get((region, q))
            shown = [
                f for f in members if region_value is not None and counts.get((f.id, q), 0) >= k
            ]  # a hidden region cell must not be bounded from below by its facilities
            while shown and region_value is not None:
                residual = region_value - sum(counts[(f.id, q)] for f in shown)
                if not disclosure.is_small(residual, k):
                    break
                shown.remove(min(shown, key=lambda f: (counts[(f.id, q)], f.key)))
            visible = {f.id for f in shown}
            for f in members:
                value = counts.get((f.id, q), 0)
                published[(f.key, q)] = value if f.id in visible or value == 0 else None
    return ProtectedTable(
        [f.key for f in facilities], list(quarters), k, published, {}, {}, None, by_column=True, totals=False
    )


def _release_check(release: PublicRelease) -> None:
    """Refuse to publish anything the audit can break, or any number in 1..k-1 (defence in depth)."""
    for name, table in release.tables().items():
        small = [v for v in table.values() if disclosure.is_small(v, release.k)]
        if small:
            raise UnsafeReleaseError(f"{name}: a published value is below k={release.k}")
        failures = disclosure.audit_failures(table)
        if failures:
            raise UnsafeReleaseError(f"{name}: suppressed cells recoverable: {failures[:3]}")
    regions, facilities = release.regions, release.facilities
    for q in release.quarters:
        for f in release.facility_labels:
            if facilities.published[(f.key, q)] and regions.published.get((f.region, q)) is None:
                raise UnsafeReleaseError(f"facility {f.key} shown in {q} where its region is hidden")
        for region in {f.region for f in release.facility_labels}:
            total = regions.published.get((region, q))
            shown = [
                facilities.published[(f.key, q)] or 0 for f in release.facility_labels if f.region == region
            ]
            if total is not None and disclosure.is_small(total - sum(shown), release.k):
                raise UnsafeReleaseError(f"region {region} in {q}: a small remainder after its facilities")


# --- rendering ---------------------------------------------------------------------------------------------


def _region_sheet(release: PublicRelease) -> Sheet:
    t = release.regions
    labels = {r.code: r for r in release.region_labels}
    rows: list[list[object]] = []
    for code in t.row_labels:
        label = labels.get(code)
        ru = label.name_ru if label else "Регион не указан"
        en = label.name_en if label else "Region unknown"
        cells = [disclosure.render(t.published[(code, q)]) for q in t.col_labels]
        rows.append([code, ru, en, *cells, disclosure.render(t.row_totals[code])])
    totals = [disclosure.render(t.col_totals[q]) for q in t.col_labels]
    rows.append(["TOTAL", "Всего", "Total", *totals, disclosure.render(t.grand_total)])
    return Sheet("victims_by_region", ["region_code", "region_ru", "region_en", *t.col_labels, "total"], rows)


def _category_sheet(release: PublicRelease) -> Sheet:
    t = release.categories
    rows: list[list[object]] = []
    for code in t.row_labels:
        term = vocab.term("incident_category", code)
        cells = [disclosure.render(t.published[(code, q)]) for q in t.col_labels]
        rows.append([code, term.ru, term.en, term.esf_list or "", term.esf_code or "", *cells])
    header = ["category", "category_ru", "category_en", "esf_list", "esf_code", *t.col_labels]
    return Sheet("victims_by_category", header, rows)


def _facility_sheet(release: PublicRelease) -> Sheet:
    t = release.facilities
    rows: list[list[object]] = []
    for f in release.facility_labels:
        cells = [disclosure.render(t.published[(f.key, q)]) for q in t.col_labels]
        rows.append([f.key, f.name, f.region, *cells])
    return Sheet("victims_by_facility", ["facility_key", "facility_name", "region_code", *t.col_labels], rows)


def _estimate_sheet(release: PublicRelease) -> Sheet:
    header = ["population", "period", "lists", "documented", "method", "estimate", "lower_95", "upper_95"]
    rows: list[list[object]] = [
        [e.population, e.period, e.lists, e.n_observed, e.method, e.estimate, e.lower, e.upper]
        for e in release.estimates
    ]
    return Sheet("estimates", header, rows)


def _table_json(t: ProtectedTable) -> dict[str, object]:
    return {
        "rows": t.row_labels,
        "columns": t.col_labels,
        "cells": [[t.published[(r, c)] for c in t.col_labels] for r in t.row_labels],
        "row_totals": [t.row_totals.get(r) for r in t.row_labels] if t.totals else None,
        "column_totals": [t.col_totals.get(c) for c in t.col_labels] if t.totals else None,
        "grand_total": t.grand_total,
    }


def release_files(release: PublicRelease) -> dict[str, bytes]:
    sheets = [_region_sheet(release), _category_sheet(release), _facility_sheet(release)]
    files = {f"{s.name}.csv": csv_bytes(s.header, s.rows) for s in sheets}
    estimates = _estimate_sheet(release)
    files["estimates.csv"] = csv_bytes(estimates.header, estimates.rows)
    files["public.xlsx"] = xlsx_bytes(sheets)
    files["release.json"] = json_bytes(
        {
            "format": "kartoteka-public/1",
            "k": release.k,
            "period": [release.quarters[0], release.quarters[-1]],
            "generated_on": release.generated_on,
            "unit": "distinct victims",
            "hidden_cells": "null here, '—' in CSV/XLSX; hidden values are not all small",
            "tables": {name: _table_json(t) for name, t in release.tables().items()},
            "estimates": [dict(zip(estimates.header, row, strict=True)) for row in estimates.rows],
        }
    )
    files["methodology.md"] = methodology(release).encode("utf-8")
    assert set(files) == set(FILES)
    return files


def methodology(release: PublicRelease) -> str:
    k, first, last = release.k, release.quarters[0], release.quarters[-1]
    return f"""# Методология / Methodology

Выпуск: {release.generated_on.isoformat()} · Период: {first} — {last} · Порог k = {k}

## Русский

**Что считается.** Число *разных* пострадавших (людей), а не число сообщений. Человек, о котором сообщили
несколько раз за квартал, учитывается в этом квартале один раз; в таблице по регионам — в одном регионе
(по первому за квартал инциденту), в таблице по видам давления — один раз в каждом виде, который к нему
применялся (поэтому строки этой таблицы не складываются).

**Что включено.** Только инциденты, у которых есть хотя бы один источник, давший согласие на публикацию
(обезличенную или с именем); инциденты со статусом проверки «оспаривается» не включены. Инциденты, дату
которых нельзя отнести к одному кварталу (например, известен только год), и инциденты без привязанных
пострадавших в таблицы не входят. Один и тот же человек, записанный разными командами как разные карточки
и ещё не объединённый, может быть учтён дважды.

**Кварталы.** Выпуск охватывает только целые кварталы; каждый квартал обрабатывается отдельно и
одинаково в любом выпуске, поэтому два выпуска с пересекающимися периодами нельзя «вычесть» друг из
друга, чтобы получить маленькое число. Итоги по региону за весь период приводятся только для строк без
скрытых ячеек.

**Скрытые ячейки («—»).** Ячейки со значением от 1 до {k - 1} скрыты. Вместе с ними скрыты другие ячейки
того же квартала, чтобы скрытое значение нельзя было восстановить вычитанием из итога. Знак «—» не
означает «мало»: так же обозначены и скрытые для защиты большие значения. Защита проверена решением
задачи линейного программирования: ни одно скрытое значение не определяется по опубликованным числам
однозначно и не может быть сужено до диапазона 1…{k - 1}.

**Учреждения.** Отдельная строка учреждения публикуется, только если её одобрил второй сотрудник
организации, и ячейка показывается, только если в ней не меньше {k} пострадавших, ячейка региона за тот
же квартал опубликована, а остаток региона без показанных учреждений равен 0 или не меньше {k}.

**Оценки (estimates.csv).** Оценки общего числа людей, включая незадокументированных, методом повторного
отлова по нескольким спискам; каждая — для одной заявленной совокупности и периода, с методом и 95%
интервалом, и опубликована только после утверждения вторым сотрудником. Оценки по менее чем {k}
задокументированным людям не публикуются. Оценка зависит от допущений метода и качества связывания
списков; интервал важнее точечного значения.

**Чего здесь нет.** Имён, дат рождения, контактов, свободного текста, идентификаторов записей.

**Ограничения.** Данные неполны: это число задокументированных случаев, а не оценка их общего числа.
Если данные уже опубликованного квартала позднее пополнятся, новый выпуск покажет другие числа за этот
квартал; поэтому квартал публикуется только после его окончания.

## English

**What is counted.** Distinct victims (people), not reports. A person reported several times in a quarter
counts once in that quarter; in the region table in one region (that of their first incident in the
quarter); in the category table once in each category they suffered (so that table's rows do not add up).

**What is included.** Only incidents with at least one source whose consent allows publication (anonymised
or named); incidents whose verification status is "disputed" are left out, as are incidents that cannot be
placed in a single quarter (e.g. known only by year) and incidents without linked victims. A person
recorded by two teams as two persons not yet merged may be counted twice.

**Quarters.** A release covers whole quarters only; each quarter is processed on its own and identically
in every release, so two releases over overlapping periods cannot be differenced into a small number.
Per-region totals over the period are given only for rows without hidden cells.

**Hidden cells ("—").** Cells of 1 to {k - 1} are hidden, together with other cells of the same quarter so
that no hidden value can be recovered by subtraction from a total. "—" does not mean "small": large values
hidden for protection are shown the same way. The protection is checked by linear programming: no hidden
value is determined by the published numbers or can be narrowed to 1…{k - 1}.

**Facilities.** A facility gets its own row only when a second staff member approved it, and a cell is
shown only when it counts at least {k} victims, the region's cell for the quarter is published, and what
remains of the region after the shown facilities is 0 or at least {k}.

**Estimates (estimates.csv).** Estimates of the total number of people, the undocumented included, by
multiple systems estimation (capture–recapture); each covers one declared population and period, gives its
method and 95% interval, and is published only after a second staff member approved it. Estimates over
fewer than {k} documented people are left out. An estimate rests on the method's assumptions and on the
linkage of the lists; read the interval, not only the point.

**Not included.** Names, dates of birth, contacts, free text, record identifiers.

**Limitations.** The data are incomplete: these are documented cases, not an estimate of all cases. If an
already published quarter gains data later, a new release shows different numbers for it; a quarter is
therefore published only after it has ended.
"""
