"""Statistical disclosure control for published tables: quarters, small-cell suppression, and its audit.

A published count of 1..k-1 can point at a person ("the two men from IK-2 who refused"), so such cells are
suppressed (*primary* suppression). Suppressing them alone is not enough: a row total minus the other cells
gives the missing value back, so more cells are suppressed (*complementary* suppression) until no suppressed
value can be recovered. Whether that holds is not left to the heuristic: `audit_intervals` asks a linear
program for the smallest and largest value each suppressed cell can take given everything published (in one
release or several), and `audit_failures` lists the cells an attacker could pin down.

Protection criterion (the attacker's feasible interval [lo, hi] of each suppressed item):
it must not be a single value, and it must not lie inside [1, k-1] — that is, the attacker can neither learn
the value nor learn that a small non-zero group exists.

Two modes:

* ``protect(table)`` — a two-way table published with row, column and grand totals (e.g. category × region
  within one release). Totals are sums of the cells, so the table is additive and the LP is exact (the
  constraint matrix of a two-way table with margins is totally unimodular: LP bounds are integer bounds).
* ``protect(table, by_column=True)`` — columns are periods (quarters). Each column is protected on its own
  data only and row totals are published only for rows with no suppressed cell (they then add nothing).
  Two releases over overlapping periods therefore publish identical cells for their shared quarters and no
  cross-period total, so they cannot be differenced into a small cell (``audit_intervals(a, b)`` checks it).

Suppressed cells must be rendered without a hint of which kind they are ("—", never "<5"): an attacker who
knows a suppressed cell is primary knows it is small.

Pure Python (scipy for the LP); no Django.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from scipy.optimize import linprog

TOTAL = "Σ"
"""Label standing for a total in an audit key: (row, TOTAL), (TOTAL, col), (TOTAL, TOTAL)."""

Cell = tuple[str, str]
Interval = tuple[float, float]

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


class DisclosureError(ValueError):
    """A table or period that cannot be protected as asked (bad labels, bad quarter, negative count)."""


# --- quarters ------------------------------------------------------------------------------------------


def quarter_of(d: date) -> str:
    """The quarter a day falls in, as "2024Q1"."""
    return f"{d.year}Q{(d.month - 1) // 3 + 1}"


def _quarter_parse(q: str) -> tuple[int, int]:
    year, sep, num = q.partition("Q")
    if not sep or not year.isdigit() or len(year) != 4 or num not in {"1", "2", "3", "4"}:
        raise DisclosureError(f"not a quarter: {q!r} (expected e.g. 2024Q1)")
    return int(year), int(num)


def quarter_bounds(q: str) -> tuple[date, date]:
    """First and last day of a quarter (both inclusive)."""
    year, num = _quarter_parse(q)
    first = date(year, 3 * num - 2, 1)
    last = date(year, 12, 31) if num == 4 else date(year, 3 * num + 1, 1) - timedelta(days=1)
    return first, last


def quarters_between(start_q: str, end_q: str) -> list[str]:
    """All quarters from start_q to end_q inclusive, in order."""
    y0, n0 = _quarter_parse(start_q)
    y1, n1 = _quarter_parse(end_q)
    first, last = y0 * 4 + n0 - 1, y1 * 4 + n1 - 1
    if last < first:
        raise DisclosureError(f"period ends ({end_q}) before it starts ({start_q})")
    return [f"{i // 4}Q{i % 4 + 1}" for i in range(first, last + 1)]


def snap_period(start: date, end: date) -> tuple[str, str]:
    """The whole quarters covering [start, end] (snapped outwards: data are then taken for whole quarters).

    Releases never cover part of a quarter, so the same quarter always aggregates the same days whichever
    release it appears in.
    """
    if end < start:
        raise DisclosureError(f"period ends ({end}) before it starts ({start})")
    return quarter_of(start), quarter_of(end)


# --- tables --------------------------------------------------------------------------------------------


@dataclass
class Table:
    """Counts of DISTINCT victims per cell; missing cells are zero. Totals are sums of the cells."""

    row_labels: list[str]
    col_labels: list[str]
    counts: dict[Cell, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for labels, what in ((self.row_labels, "row"), (self.col_labels, "column")):
            if len(set(labels)) != len(labels):
                raise DisclosureError(f"duplicate {what} labels")
            if TOTAL in labels:
                raise DisclosureError(f"{what} label {TOTAL!r} is reserved for totals")
        rows, cols = set(self.row_labels), set(self.col_labels)
        for (r, c), v in self.counts.items():
            if r not in rows or c not in cols:
                raise DisclosureError(f"count for unknown cell ({r!r}, {c!r})")
            if v < 0:
                raise DisclosureError(f"negative count in cell ({r!r}, {c!r})")

    def get(self, r: str, c: str) -> int:
        return self.counts.get((r, c), 0)

    def row_total(self, r: str) -> int:
        return sum(self.get(r, c) for c in self.col_labels)

    def col_total(self, c: str) -> int:
        return sum(self.get(r, c) for r in self.row_labels)

    def grand_total(self) -> int:
        return sum(self.get(r, c) for r in self.row_labels for c in self.col_labels)


@dataclass(frozen=True)
class ProtectedTable:
    """What a release publishes: None means suppressed (render "—")."""

    row_labels: list[str]
    col_labels: list[str]
    k: int
    published: dict[Cell, int | None]
    row_totals: dict[str, int | None]
    col_totals: dict[str, int | None]
    grand_total: int | None
    by_column: bool = False
    totals: bool = True  # False: the release has no totals at all (nothing withheld, nothing to audit)

    def suppressed(self) -> list[Cell]:
        """Every suppressed item, totals included (keys as in `audit_intervals`)."""
        items = [cell for cell, v in self.published.items() if v is None]
        if not self.totals:
            return items
        items += [(r, TOTAL) for r, v in self.row_totals.items() if v is None]
        items += [(TOTAL, c) for c, v in self.col_totals.items() if v is None]
        if self.grand_total is None:
            items.append((TOTAL, TOTAL))
        return items

    def values(self) -> list[int]:
        """Every published number (cells and totals), for scanning a release."""
        out = [v for v in self.published.values() if v is not None]
        out += [v for v in self.row_totals.values() if v is not None]
        out += [v for v in self.col_totals.values() if v is not None]
        if self.grand_total is not None:
            out.append(self.grand_total)
        return out


def is_small(value: int, k: int) -> bool:
    return 1 <= value <= k - 1


def interval_safe(interval: Interval, k: int) -> bool:
    """An attacker's interval protects the cell: not one value, and not confined to [1, k-1]."""
    lo, hi = interval
    if hi - lo < 0.5:
        return False
    return not (lo >= 1 - 1e-9 and hi <= k - 1 + 1e-9)


# --- the audit: what an attacker can infer from published values --------------------------------------


@dataclass
class _Item:
    """A published or suppressed linear quantity: the sum of some cells."""

    key: Cell
    cells: list[Cell]
    value: int | None


def _items(p: ProtectedTable) -> list[_Item]:
    items = [_Item(cell, [cell], v) for cell, v in p.published.items()]
    if not p.totals:
        return items
    for r, v in p.row_totals.items():
        items.append(_Item((r, TOTAL), [(r, c) for c in p.col_labels], v))
    for c, v in p.col_totals.items():
        items.append(_Item((TOTAL, c), [(r, c) for r in p.row_labels], v))
    items.append(_Item((TOTAL, TOTAL), [(r, c) for r in p.row_labels for c in p.col_labels], p.grand_total))
    return items


def _system(
    releases: Iterable[ProtectedTable],
) -> tuple[list[Cell], dict[Cell, int], list[tuple[list[Cell], int]]]:
    """Unknown cells, cells known exactly, and equations (sum of unknown cells = value) over all releases."""
    rels = list(releases)
    known: dict[Cell, int] = {}
    for p in rels:
        for cell, v in p.published.items():
            if v is not None:
                if cell in known and known[cell] != v:
                    raise DisclosureError(f"releases disagree on cell {cell}: not the same underlying data")
                known[cell] = v
    unknown = sorted({cell for p in rels for cell, v in p.published.items() if v is None} - set(known))
    equations: list[tuple[list[Cell], int]] = []
    seen: set[tuple[frozenset[Cell], int]] = set()
    for p in rels:
        for item in _items(p):
            if item.value is None or (item.key == (TOTAL, TOTAL) and _grand_total_implied(p)):
                continue
            rest = item.value - sum(known.get(c, 0) for c in item.cells if c in known)
            free = [c for c in item.cells if c not in known]
            signature = (frozenset(free), rest)
            if free and signature not in seen:  # two releases repeat the totals of their shared quarters
                seen.add(signature)
                equations.append((free, rest))
    return unknown, known, equations


def _grand_total_implied(p: ProtectedTable) -> bool:
    """The grand total adds nothing when every row total or every column total is published (it is their
    sum); leaving it out keeps the quarters of a by-quarter release independent parts of the system."""
    return bool(p.row_labels and all(p.row_totals.get(r) is not None for r in p.row_labels)) or bool(
        p.col_labels and all(p.col_totals.get(c) is not None for c in p.col_labels)
    )


def _bounds(target: list[Cell], unknown: list[Cell], equations: list[tuple[list[Cell], int]]) -> Interval:
    if not equations:
        return (0.0, math.inf)
    if len(equations) == 1 and set(target) <= set(equations[0][0]):
        # One sum over non-negative unknowns: each part of it lies in [0, sum], all of it is the sum.
        cells, value = equations[0]
        return (float(value) if set(target) == set(cells) else 0.0, float(value))
    index = {c: i for i, c in enumerate(unknown)}
    n = len(unknown)
    a_eq = np.zeros((len(equations), n))
    b_eq = np.zeros(len(equations))
    for row, (cells, value) in enumerate(equations):
        for c in cells:
            a_eq[row, index[c]] = 1.0
        b_eq[row] = value
    objective = np.zeros(n)
    for c in target:
        objective[index[c]] = 1.0
    out: list[float] = []
    for sign in (1.0, -1.0):
        res = linprog(
            sign * objective,
            A_eq=a_eq if equations else None,
            b_eq=b_eq if equations else None,
            bounds=[(0, None)] * n,
            method="highs",
        )
        if res.status == 3:  # unbounded
            out.append(-math.inf if sign > 0 else math.inf)
        elif res.status != 0:
            raise DisclosureError(f"audit LP failed: {res.message}")
        else:
            out.append(float(sign * res.fun))
    lo, hi = out
    # Two-way systems are totally unimodular, so the optimum is integral; rounding removes float noise only.
    return (float(round(lo)) if math.isfinite(lo) else lo, float(round(hi)) if math.isfinite(hi) else hi)


def audit_intervals(*releases: ProtectedTable) -> dict[Cell, Interval]:
    """For each suppressed item of the given releases (cells and totals), the interval an attacker can
    infer from everything published in ALL of them together (cells with the same labels are the same
    unknowns, as they are when two releases cover overlapping quarters of the same data).

    Keys: (row, col) for a cell, (row, TOTAL), (TOTAL, col) and (TOTAL, TOTAL) for totals. Items that the
    releases taken together publish are not listed.
    """
    return _intervals(releases, None)


def _components(
    unknown: list[Cell], equations: list[tuple[list[Cell], int]]
) -> tuple[dict[Cell, int], dict[int, tuple[list[Cell], list[tuple[list[Cell], int]]]]]:
    """Split the system into independent parts (unknowns linked by no equation are solved apart): the LP
    of a part is tiny, and a by-quarter release falls apart into one part per quarter."""
    parent = {c: c for c in unknown}

    def find(c: Cell) -> Cell:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for cells, _ in equations:
        root = find(cells[0])
        for c in cells[1:]:
            other = find(c)
            if other != root:
                parent[other] = root
    ids: dict[Cell, int] = {}
    of: dict[Cell, int] = {}
    parts: dict[int, tuple[list[Cell], list[tuple[list[Cell], int]]]] = {}
    for c in unknown:
        part = ids.setdefault(find(c), len(ids))
        of[c] = part
        parts.setdefault(part, ([], []))[0].append(c)
    for eq in equations:
        parts[of[eq[0][0]]][1].append(eq)
    return of, parts


def _intervals(releases: Iterable[ProtectedTable], keys: set[Cell] | None) -> dict[Cell, Interval]:
    rels = list(releases)
    unknown, known, equations = _system(rels)
    of, parts = _components(unknown, equations)
    out: dict[Cell, Interval] = {}
    for p in rels:
        for item in _items(p):
            if item.value is not None or item.key in out or (keys is not None and item.key not in keys):
                continue
            fixed = float(sum(known[c] for c in item.cells if c in known))
            by_part: dict[int, list[Cell]] = {}
            for c in item.cells:
                if c not in known:
                    by_part.setdefault(of[c], []).append(c)
            lo = hi = fixed
            # The parts share no unknown, so the extremes of a sum over several parts add up.
            for part, free in by_part.items():
                part_lo, part_hi = _bounds(free, *parts[part])
                lo, hi = lo + part_lo, hi + part_hi
            out[item.key] = (lo, hi)
    return out


def audit_failures(*releases: ProtectedTable) -> list[Cell]:
    """Suppressed items an attacker can pin or confine to [1, k-1]; empty when the protection holds."""
    k = min(p.k for p in releases)
    return [key for key, iv in audit_intervals(*releases).items() if not interval_safe(iv, k)]


# --- protection ----------------------------------------------------------------------------------------


def protect(table: Table, *, k: int = 5, by_column: bool = False) -> ProtectedTable:
    """Suppress cells of 1..k-1 and enough others that none can be recovered from what is published.

    Deterministic: the same table gives the same release (ties broken by label order).
    """
    if k < 2:
        raise DisclosureError("k must be at least 2")
    if by_column:
        return _protect_by_column(table, k)
    return _protect_two_way(table, k)


def _protect_by_column(table: Table, k: int) -> ProtectedTable:
    published: dict[Cell, int | None] = {}
    col_totals: dict[str, int | None] = {}
    for c in table.col_labels:
        cells = {r: table.get(r, c) for r in table.row_labels}
        total = sum(cells.values())
        hidden = {r for r, v in cells.items() if is_small(v, k)}
        total_hidden = is_small(total, k)
        if hidden and not total_hidden and (len(hidden) == 1 or sum(cells[r] for r in hidden) < k):
            # One hidden cell is the total minus the rest; several whose sum is below k would each be known
            # to be below k. Hide the smallest other non-zero cell too (it is >= k, so the hidden sum
            # reaches k and every hidden cell could be as large as k); a zero only when nothing else is
            # left, and the total itself when the column has no other cell at all.
            others = sorted(
                (r for r in table.row_labels if r not in hidden),
                key=lambda r: (cells[r] == 0, cells[r], table.row_labels.index(r)),
            )
            if others and (cells[others[0]] > 0 or len(hidden) == 1):
                hidden.add(others[0])
            elif not others:
                total_hidden = True
        for r in table.row_labels:
            published[(r, c)] = None if r in hidden else cells[r]
        col_totals[c] = None if total_hidden else total
    row_totals: dict[str, int | None] = {}
    for r in table.row_labels:
        whole = all(published[(r, c)] is not None for c in table.col_labels)
        row_totals[r] = table.row_total(r) if whole else None
    grand: int | None = table.grand_total() if all(v is not None for v in col_totals.values()) else None
    return ProtectedTable(
        list(table.row_labels), list(table.col_labels), k, published, row_totals, col_totals, grand, True
    )


@dataclass
class _State:
    table: Table
    k: int
    hidden: set[Cell]  # interior cells and totals, keyed as in audit_intervals

    def release(self) -> ProtectedTable:
        t = self.table
        published: dict[Cell, int | None] = {
            (r, c): None if (r, c) in self.hidden else t.get(r, c) for r in t.row_labels for c in t.col_labels
        }
        rows: dict[str, int | None] = {
            r: None if (r, TOTAL) in self.hidden else t.row_total(r) for r in t.row_labels
        }
        cols: dict[str, int | None] = {
            c: None if (TOTAL, c) in self.hidden else t.col_total(c) for c in t.col_labels
        }
        grand = None if (TOTAL, TOTAL) in self.hidden else t.grand_total()
        return ProtectedTable(list(t.row_labels), list(t.col_labels), self.k, published, rows, cols, grand)

    def value(self, key: Cell) -> int:
        r, c = key
        t = self.table
        if r == TOTAL and c == TOTAL:
            return t.grand_total()
        if r == TOTAL:
            return t.col_total(c)
        if c == TOTAL:
            return t.row_total(r)
        return t.get(r, c)


def _protect_two_way(table: Table, k: int) -> ProtectedTable:
    state = _State(table, k, set())
    every = [(r, c) for r in table.row_labels for c in table.col_labels]
    every += (
        [(r, TOTAL) for r in table.row_labels] + [(TOTAL, c) for c in table.col_labels] + [(TOTAL, TOTAL)]
    )
    state.hidden = {key for key in every if is_small(state.value(key), k)}
    # Widening the release (hiding more) only widens every interval, so a safe item stays safe: only the
    # unsafe ones need re-checking after each step.
    pending = set(state.hidden)
    for _ in range(len(every) + 1):
        intervals = _intervals([state.release()], pending)
        unsafe = sorted(key for key in pending if not interval_safe(intervals[key], k))
        if not unsafe:
            return state.release()
        pending = set(unsafe)
        target = unsafe[0]
        added = _rectangle(state, target) if TOTAL not in target else _pair_lines(state, target)
        if not added:
            added = _widen(state, target)
        state.hidden |= added
        pending |= added
    return state.release()  # unreachable in practice: everything hidden is always safe


def _safe_with(state: _State, target: Cell, added: set[Cell]) -> bool:
    trial = _State(state.table, state.k, state.hidden | added)
    return interval_safe(_intervals([trial.release()], {target})[target], state.k)


LP_TRIALS = 40  # candidate sets checked by LP per unsafe item before falling back to _widen


def _rectangle(state: _State, target: Cell) -> set[Cell]:
    """The cheapest three cells that, with the target, form a rectangle whose swaps protect it.

    Rectangles that protect the target on their own (by the swap arithmetic) come first; failing those,
    the cheapest rectangles are tried with the LP, which also counts the freedom already-hidden cells give.
    """
    t = state.table
    r0, c0 = target
    a = t.get(r0, c0)
    alone: list[tuple[tuple[int, int, int, int], set[Cell]]] = []
    others: list[tuple[tuple[int, int, int, int], set[Cell]]] = []
    for ri, r in enumerate(t.row_labels):
        if r == r0:
            continue
        for ci, c in enumerate(t.col_labels):
            if c == c0:
                continue
            b, cc, d = t.get(r0, c), t.get(r, c0), t.get(r, c)
            new = {(r0, c), (r, c0), (r, c)} - state.hidden
            cost = (sum(t.get(*x) for x in new), len(new), ri, ci)
            # Moving t victims round the rectangle: a+t, b-t, c-t, d+t, all staying >= 0.
            lo, hi = a - min(a, d), a + min(b, cc)
            (alone if interval_safe((lo, hi), state.k) else others).append((cost, new))
    if alone:
        return min(alone, key=lambda x: x[0])[1]
    for _, new in sorted(others, key=lambda x: x[0])[:LP_TRIALS]:
        if new and _safe_with(state, target, new):
            return new
    return set()


def _pair_lines(state: _State, target: Cell) -> set[Cell]:
    """For a hidden row (column) total: hide a second row's (column's) total too, with that row's cells in
    the columns where the target row has hidden cells, so victims can move between the two rows without
    changing any published number. The cheapest pairing the LP finds safe wins."""
    t = state.table
    r0, c0 = target
    if r0 == TOTAL and c0 == TOTAL:
        return set()
    is_row = c0 == TOTAL
    lines = t.row_labels if is_row else t.col_labels
    across = t.col_labels if is_row else t.row_labels
    mine = r0 if is_row else c0

    def cell(line: str, other: str) -> Cell:
        return (line, other) if is_row else (other, line)

    def total(line: str) -> Cell:
        return (line, TOTAL) if is_row else (TOTAL, line)

    shared = [o for o in across if cell(mine, o) in state.hidden] or list(across)
    candidates = []
    for n, line in enumerate(lines):
        if line == mine:
            continue
        new = ({total(line)} | {cell(line, o) for o in shared if t.get(*cell(line, o)) > 0}) - state.hidden
        candidates.append(((sum(state.value(x) for x in new if TOTAL not in x), len(new), n), new))
    for _, new in sorted(candidates, key=lambda x: x[0])[:LP_TRIALS]:
        if new and _safe_with(state, target, new):
            return new
    return set()


def _widen(state: _State, target: Cell) -> set[Cell]:
    """Fallback: hide the target's whole row and column, totals included (always ends safe, at a cost)."""
    t = state.table
    r0, c0 = target
    rows = t.row_labels if r0 == TOTAL else [r0]
    cols = t.col_labels if c0 == TOTAL else [c0]
    out: set[Cell] = set()
    for r in rows:
        out |= {(r, c) for c in t.col_labels} | {(r, TOTAL)}
    for c in cols:
        out |= {(r, c) for r in t.row_labels} | {(TOTAL, c)}
    out -= state.hidden
    if not out:
        out = {(TOTAL, TOTAL)} - state.hidden
    if not out:
        out = {(r, TOTAL) for r in t.row_labels} | {(TOTAL, c) for c in t.col_labels}
        out -= state.hidden
    return out


def threshold_only(table: Table, *, k: int = 5) -> ProtectedTable:
    """Cells of 1..k-1 hidden and NO totals published: nothing to recover them from (no complements needed)."""
    published: dict[Cell, int | None] = {
        (r, c): None if is_small(table.get(r, c), k) else table.get(r, c)
        for r in table.row_labels
        for c in table.col_labels
    }
    return ProtectedTable(
        list(table.row_labels),
        list(table.col_labels),
        k,
        published,
        {},
        {},
        None,
        totals=False,
    )


def render(value: int | None) -> str:
    """How a published value is written: suppressed cells as "—", never "<k" (that would mark them small)."""
    return "—" if value is None else str(value)


# --- formula injection ---------------------------------------------------------------------------------


def csv_safe(value: str) -> str:
    """Make a text cell inert in spreadsheets: one that starts (after blanks) with = + - @ tab CR LF (or
    their full-width forms) gets a leading apostrophe, so Excel/LibreOffice show it as text, not a formula.
    """
    if not value:
        return value
    if value[0] in FORMULA_TRIGGERS or value.lstrip(" \u00a0")[:1] in FORMULA_TRIGGERS:
        return "'" + value
    return value


def cell_safe(value: object) -> object:
    """csv_safe for text; numbers, dates and None pass as they are (they cannot carry a formula)."""
    return csv_safe(value) if isinstance(value, str) else value


def counts_from_pairs(pairs: Mapping[Cell, Iterable[object]], rows: list[str], cols: list[str]) -> Table:
    """A Table of distinct ids per cell (ids are counted once per cell however often they appear)."""
    return Table(rows, cols, {cell: len(set(ids)) for cell, ids in pairs.items()})
