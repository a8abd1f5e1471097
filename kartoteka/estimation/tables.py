"""Capture-history tables: the one input every estimator takes.

A table belongs to ONE declared population (e.g. "recruits", "dead") and period. Estimating across lists of
different populations answers no question anyone asked (a list of the dead is not a sample of the recruited),
so building or combining such a table is refused rather than warned about.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


class TableError(ValueError):
    """A capture-history table that cannot be built; the message names the row and column at fault and what
    was expected there, never the cell's content (a pasted table can hold anything, names included)."""


class PopulationMismatchError(TableError):
    """Lists or tables of different declared populations (or periods) were to be combined."""


@dataclass(frozen=True)
class ListDeclaration:
    """A source list as the analyst declares it: what it counts, and over which period."""

    name: str
    population: str
    period: str


@dataclass(frozen=True)
class LinkedRecord:
    """One record after linkage: which list it came from and which person (cluster) it was linked to."""

    list_name: str
    cluster_id: str


@dataclass(frozen=True)
class CaptureTable:
    """Observed capture histories (never the all-zero one) with their counts, for one population/period."""

    lists: tuple[str, ...]
    histories: IntArray  # shape (m, J), 0/1, distinct, no all-zero row
    counts: IntArray  # shape (m,), positive
    population: str
    period: str
    stratum: str = ""

    @property
    def n_lists(self) -> int:
        return len(self.lists)

    @property
    def n_observed(self) -> int:
        return int(self.counts.sum())

    def list_totals(self) -> IntArray:
        """How many distinct people each list holds."""
        totals: IntArray = (self.histories * self.counts[:, None]).sum(axis=0)
        return totals

    def label(self) -> str:
        parts = [self.population, self.period] + ([self.stratum] if self.stratum else [])
        return " / ".join(parts)

    def full_counts(self) -> tuple[IntArray, IntArray]:
        """All 2^J − 1 observable histories (zeros included) and their counts, in a fixed order.

        Log-linear models must see the empty observable cells too: a history nobody had is information.
        """
        rows = [h for h in itertools.product((0, 1), repeat=self.n_lists) if any(h)]
        design: IntArray = np.array(rows, dtype=np.int64)
        index = {tuple(int(v) for v in h): i for i, h in enumerate(rows)}
        y: IntArray = np.zeros(len(rows), dtype=np.int64)
        for h, c in zip(self.histories, self.counts, strict=True):
            y[index[tuple(int(v) for v in h)]] += int(c)
        return design, y

    def collapse(self, keep: Sequence[str]) -> CaptureTable:
        """The table seen through a subset of the lists (people on none of them drop out)."""
        unknown = [name for name in keep if name not in self.lists]
        if unknown:
            raise TableError(f"unknown list(s): {', '.join(unknown)}")
        cols = [self.lists.index(name) for name in keep]
        agg: dict[tuple[int, ...], int] = {}
        for h, c in zip(self.histories, self.counts, strict=True):
            sub = tuple(int(h[j]) for j in cols)
            if any(sub):
                agg[sub] = agg.get(sub, 0) + int(c)
        return build_table(
            tuple(keep), agg, population=self.population, period=self.period, stratum=self.stratum
        )


def _require_declared(population: str, period: str) -> None:
    if not population.strip():
        raise TableError("declare the population the lists count (e.g. 'recruits' or 'dead')")
    if not period.strip():
        raise TableError("declare the period the lists cover (e.g. '2023' or '2022-02..2024-12')")


def build_table(
    lists: Sequence[str],
    histories: Mapping[tuple[int, ...], int],
    *,
    population: str,
    period: str,
    stratum: str = "",
) -> CaptureTable:
    """A table from a mapping history → count; zero counts are dropped, the all-zero history refused."""
    _require_declared(population, period)
    names = tuple(lists)
    if len(names) < 2:
        raise TableError("capture–recapture needs at least two lists")
    if len(set(names)) != len(names):
        raise TableError("list names must be distinct")
    items = sorted(((h, c) for h, c in histories.items() if c), reverse=True)
    for h, c in items:
        if len(h) != len(names) or any(v not in (0, 1) for v in h):
            raise TableError(f"history {h} does not match {len(names)} lists of 0/1")
        if not any(h):
            raise TableError("the all-zero history is what is estimated; it cannot be observed")
        if c < 0:
            raise TableError(f"history {h} has a negative count")
    if not items:
        raise TableError("the table holds no observed people")
    hist: IntArray = np.array([h for h, _ in items], dtype=np.int64).reshape(len(items), len(names))
    counts: IntArray = np.array([c for _, c in items], dtype=np.int64)
    return CaptureTable(names, hist, counts, population.strip(), period.strip(), stratum)


def table_from_links(
    records: Iterable[LinkedRecord],
    *,
    lists: Sequence[ListDeclaration],
    stratum: str = "",
) -> CaptureTable:
    """The capture histories of linked records: a person is on list j if any of their records came from j.

    All declared lists must count the same population over the same period, or the table is refused.
    """
    if not lists:
        raise TableError("declare the lists to combine")
    populations = {d.population.strip() for d in lists}
    periods = {d.period.strip() for d in lists}
    if len(populations) > 1:
        raise PopulationMismatchError(
            "refusing to combine lists of different populations ("
            + ", ".join(f"{d.name}: {d.population}" for d in lists)
            + "); estimate each population separately"
        )
    if len(periods) > 1:
        raise PopulationMismatchError(
            "refusing to combine lists of different periods ("
            + ", ".join(f"{d.name}: {d.period}" for d in lists)
            + "); restrict them to one period or estimate per period (stratify)"
        )
    names = [d.name for d in lists]
    position = {name: j for j, name in enumerate(names)}
    seen: dict[str, list[int]] = {}
    for number, record in enumerate(records, start=1):
        j = position.get(record.list_name)
        if j is None:
            raise TableError(f"record {number}: list {record.list_name!r} was not declared")
        seen.setdefault(record.cluster_id, [0] * len(names))[j] = 1
    agg: dict[tuple[int, ...], int] = {}
    for history in seen.values():
        key = tuple(history)
        agg[key] = agg.get(key, 0) + 1
    return build_table(names, agg, population=lists[0].population, period=lists[0].period, stratum=stratum)


def tables_by_stratum(
    records: Iterable[LinkedRecord],
    *,
    lists: Sequence[ListDeclaration],
    stratum_of: Mapping[str, str],
) -> dict[str, CaptureTable]:
    """One table per stratum (e.g. region) of the linked person; every cluster must have a stratum."""
    grouped: dict[str, list[LinkedRecord]] = {}
    for number, record in enumerate(records, start=1):
        stratum = stratum_of.get(record.cluster_id)
        if stratum is None:
            raise TableError(f"record {number}: its person has no stratum")
        grouped.setdefault(stratum, []).append(record)
    return {s: table_from_links(rs, lists=lists, stratum=s) for s, rs in sorted(grouped.items())}


def _parse_flag(text: str, *, row: int, column: str) -> int:
    """A list column's cell: 1 when the person is on that list, 0 when not."""
    try:
        flag = int(text.strip())
    except ValueError:
        flag = -1
    if flag not in (0, 1):
        raise TableError(f"row {row}, column {column!r}: expected 0 or 1 (on that list or not)")
    return flag


def _parse_count(text: str, *, row: int, column: str) -> int:
    """The count column's cell: how many people share the row's history."""
    try:
        number = int(text.strip())
    except ValueError:
        raise TableError(f"row {row}, column {column!r}: expected a whole number of people") from None
    if number < 0:
        raise TableError(f"row {row}, column {column!r}: a count cannot be negative")
    return number


STRATUM_COLUMN = "stratum"


def _csv_strata(text: str) -> tuple[list[str], dict[str, dict[tuple[int, ...], int]]]:
    """Parse an overlap table into list names and, per stratum ("" when unstratified), history → count."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise TableError("the file is empty") from None
    if "count" not in header:
        raise TableError("row 1: no 'count' column (expected one 0/1 column per list and a 'count' column)")
    blank = [i + 1 for i, h in enumerate(header) if not h]
    if blank:
        raise TableError(f"row 1, column {blank[0]}: empty column name")
    repeated = next((i for i, h in enumerate(header) if h in header[:i]), None)
    if repeated is not None:
        first = header.index(header[repeated])
        raise TableError(
            f"row 1, column {repeated + 1}: repeated column name (the same as column {first + 1})"
        )
    lists = [h for h in header if h not in ("count", STRATUM_COLUMN)]
    count_at = header.index("count")
    stratum_at = header.index(STRATUM_COLUMN) if STRATUM_COLUMN in header else None
    strata: dict[str, dict[tuple[int, ...], int]] = {}
    for row_number, raw in enumerate(reader, start=2):
        if not any(cell.strip() for cell in raw):
            continue
        if len(raw) != len(header):
            raise TableError(f"row {row_number}: {len(raw)} cells, the header has {len(header)}")
        history = tuple(
            _parse_flag(raw[i], row=row_number, column=name)
            for i, name in enumerate(header)
            if i not in (count_at, stratum_at)
        )
        count = _parse_count(raw[count_at], row=row_number, column="count")
        stratum = raw[stratum_at].strip() if stratum_at is not None else ""
        if stratum_at is not None and not stratum:
            raise TableError(f"row {row_number}, column {STRATUM_COLUMN!r}: empty stratum")
        if not any(history) and count:
            raise TableError(
                f"row {row_number}: the all-zero history is the unknown being estimated; remove the row"
            )
        if any(history):
            agg = strata.setdefault(stratum, {})
            agg[history] = agg.get(history, 0) + count
    return lists, strata


def table_from_csv_text(text: str, *, population: str, period: str, stratum: str = "") -> CaptureTable:
    """Parse an overlap table: one 0/1 column per list and a `count` column (rows are numbered as in a
    spreadsheet: the header is row 1). Repeated histories are added up; an optional `stratum` column is
    summed over here (see `strata_from_csv_text` to keep strata apart)."""
    _require_declared(population, period)
    lists, strata = _csv_strata(text)
    agg: dict[tuple[int, ...], int] = {}
    for part in strata.values():
        for history, count in part.items():
            agg[history] = agg.get(history, 0) + count
    return build_table(lists, agg, population=population, period=period, stratum=stratum)


def strata_from_csv_text(text: str, *, population: str, period: str) -> dict[str, CaptureTable]:
    """One table per value of the `stratum` column (e.g. region or year) of an overlap table."""
    _require_declared(population, period)
    lists, strata = _csv_strata(text)
    if not strata:
        raise TableError("the table holds no observed people")
    return {
        name: build_table(lists, agg, population=population, period=period, stratum=name)
        for name, agg in sorted(strata.items())
    }


def _read(path: Path | str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TableError(f"{Path(path).name}: not UTF-8 text") from None


def table_from_csv(path: Path | str, *, population: str, period: str, stratum: str = "") -> CaptureTable:
    """Read an overlap-table CSV file (see `table_from_csv_text`)."""
    return table_from_csv_text(_read(path), population=population, period=period, stratum=stratum)


def strata_from_csv(path: Path | str, *, population: str, period: str) -> dict[str, CaptureTable]:
    """Read a stratified overlap-table CSV file (see `strata_from_csv_text`)."""
    return strata_from_csv_text(_read(path), population=population, period=period)


def check_same_population(tables: Iterable[CaptureTable]) -> str:
    """The single population shared by the tables, or a refusal naming the ones that differ."""
    populations = sorted({t.population for t in tables})
    if len(populations) != 1:
        raise PopulationMismatchError(
            "refusing to combine estimates of different populations: " + ", ".join(populations)
        )
    return populations[0]


@dataclass(frozen=True)
class Estimate:
    """One method's answer: total population N (observed + unobserved) with a 95% interval.

    `draws` holds posterior or simulated draws of N when the method has them, so strata can be summed.
    `usable` is False when the method could not give a trustworthy figure (reason in `note`).
    """

    method: str
    n_observed: int
    estimate: float
    lower: float
    upper: float
    interval: str
    se: float | None = None
    usable: bool = True
    note: str = ""
    details: Mapping[str, float | str] = field(default_factory=dict)
    draws: npt.NDArray[np.float64] | None = field(default=None, repr=False, compare=False)
