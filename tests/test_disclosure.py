"""kartoteka.lib.disclosure: quarters, small-cell suppression and the LP audit an attacker would run."""

from __future__ import annotations

import random
from datetime import date

import pytest

from kartoteka.lib import disclosure as d

K = 5


def _random_table(rng: random.Random, rows: int, cols: list[str]) -> d.Table:
    labels = [f"region-{i:02d}" for i in range(rows)]
    counts = {(r, c): rng.choice([0, 0, 0, 1, 2, 3, 4, 5, 6, 9, 14, 30]) for r in labels for c in cols}
    return d.Table(labels, cols, counts)


def _sub(table: d.Table, cols: list[str]) -> d.Table:
    return d.Table(table.row_labels, cols, {k: v for k, v in table.counts.items() if k[1] in cols})


def _primary_only(table: d.Table) -> d.ProtectedTable:
    """What a naive publisher does: hide the small cells, publish every total."""
    published: dict[d.Cell, int | None] = {
        (r, c): None if d.is_small(table.get(r, c), K) else table.get(r, c)
        for r in table.row_labels
        for c in table.col_labels
    }
    return d.ProtectedTable(
        table.row_labels,
        table.col_labels,
        K,
        published,
        {r: table.row_total(r) for r in table.row_labels},
        {c: table.col_total(c) for c in table.col_labels},
        table.grand_total(),
    )


# --- quarters ----------------------------------------------------------------------------------------


def test_it_names_the_quarter_of_a_day() -> None:
    assert d.quarter_of(date(2024, 1, 1)) == "2024Q1"
    assert d.quarter_of(date(2024, 3, 31)) == "2024Q1"
    assert d.quarter_of(date(2024, 4, 1)) == "2024Q2"
    assert d.quarter_of(date(2023, 12, 31)) == "2023Q4"


def test_it_gives_whole_quarter_bounds() -> None:
    assert d.quarter_bounds("2024Q1") == (date(2024, 1, 1), date(2024, 3, 31))
    assert d.quarter_bounds("2024Q2") == (date(2024, 4, 1), date(2024, 6, 30))
    assert d.quarter_bounds("2023Q4") == (date(2023, 10, 1), date(2023, 12, 31))


def test_it_lists_quarters_across_years() -> None:
    assert d.quarters_between("2023Q3", "2024Q2") == ["2023Q3", "2023Q4", "2024Q1", "2024Q2"]
    assert d.quarters_between("2024Q1", "2024Q1") == ["2024Q1"]
    with pytest.raises(d.DisclosureError, match="before it starts"):
        d.quarters_between("2024Q2", "2024Q1")


@pytest.mark.parametrize("bad", ["2024", "2024Q5", "24Q1", "2024q1", "Q1", ""])
def test_it_refuses_malformed_quarters(bad: str) -> None:
    with pytest.raises(d.DisclosureError, match="not a quarter"):
        d.quarter_bounds(bad)


def test_it_snaps_a_period_outwards_to_whole_quarters() -> None:
    assert d.snap_period(date(2024, 2, 10), date(2024, 11, 5)) == ("2024Q1", "2024Q4")
    start, end = d.snap_period(date(2024, 5, 17), date(2024, 5, 18))
    assert (d.quarter_bounds(start)[0], d.quarter_bounds(end)[1]) == (date(2024, 4, 1), date(2024, 6, 30))
    with pytest.raises(d.DisclosureError):
        d.snap_period(date(2024, 5, 18), date(2024, 5, 17))


# --- tables ------------------------------------------------------------------------------------------


def test_it_refuses_bad_tables() -> None:
    with pytest.raises(d.DisclosureError, match="duplicate"):
        d.Table(["a", "a"], ["x"], {})
    with pytest.raises(d.DisclosureError, match="reserved"):
        d.Table(["a", d.TOTAL], ["x"], {})
    with pytest.raises(d.DisclosureError, match="unknown cell"):
        d.Table(["a"], ["x"], {("b", "x"): 3})
    with pytest.raises(d.DisclosureError, match="negative"):
        d.Table(["a"], ["x"], {("a", "x"): -1})
    with pytest.raises(d.DisclosureError, match="k must"):
        d.protect(d.Table(["a"], ["x"], {}), k=1)


def test_it_shows_the_audit_recovers_cells_a_naive_release_leaks() -> None:
    # Primary suppression alone: a row with one small cell gives it back as total minus the rest.
    table = d.Table(["a", "b"], ["x", "y"], {("a", "x"): 2, ("a", "y"): 10, ("b", "x"): 7, ("b", "y"): 8})
    naive = _primary_only(table)
    intervals = d.audit_intervals(naive)
    assert intervals[("a", "x")] == (2.0, 2.0)
    assert d.audit_failures(naive) == [("a", "x")]


@pytest.mark.parametrize("seed", range(6))
def test_it_protects_two_way_tables_against_recovery_from_totals(seed: int) -> None:
    rng = random.Random(seed)
    table = _random_table(rng, rng.randint(2, 10), [f"c{j}" for j in range(rng.randint(2, 6))])
    assert d.audit_failures(_primary_only(table)) or not any(d.is_small(v, K) for v in table.counts.values())
    protected = d.protect(table, k=K)
    assert not [v for v in protected.values() if d.is_small(v, K)]
    assert d.audit_failures(protected) == []
    for (r, c), v in protected.published.items():
        assert v is None or v == table.get(r, c)
    assert protected.grand_total in (None, table.grand_total())


def test_it_protects_degenerate_shapes() -> None:
    one_row = d.Table(["a"], ["x", "y", "z"], {("a", "x"): 3, ("a", "y"): 9, ("a", "z"): 12})
    one_col = d.Table(["a", "b", "c"], ["x"], {("a", "x"): 3, ("b", "x"): 9, ("c", "x"): 12})
    tiny = d.Table(["a"], ["x"], {("a", "x"): 2})
    for table in (one_row, one_col, tiny):
        for by_column in (False, True):
            protected = d.protect(table, k=K, by_column=by_column)
            assert not [v for v in protected.values() if d.is_small(v, K)]
            assert d.audit_failures(protected) == []


def test_it_is_deterministic() -> None:
    table = _random_table(random.Random(7), 8, ["c0", "c1", "c2", "c3"])
    assert d.protect(table) == d.protect(table)
    assert d.protect(table, by_column=True) == d.protect(table, by_column=True)


def test_it_hides_enough_that_every_hidden_cell_could_be_k() -> None:
    # Two small cells (1 and 2) hidden alone would each be known to be at most 3: one more is hidden.
    table = d.Table(
        ["a", "b", "c", "d"], ["q"], {("a", "q"): 1, ("b", "q"): 2, ("c", "q"): 20, ("d", "q"): 30}
    )
    protected = d.protect(table, k=K, by_column=True)
    assert [r for r in table.row_labels if protected.published[(r, "q")] is None] == ["a", "b", "c"]
    intervals = d.audit_intervals(protected)
    assert intervals[("a", "q")] == (0.0, 23.0) and intervals[("b", "q")] == (0.0, 23.0)


@pytest.mark.parametrize("seed", range(3))
def test_it_keeps_quarter_columns_independent(seed: int) -> None:
    rng = random.Random(100 + seed)
    quarters = d.quarters_between("2023Q1", "2024Q4")
    table = _random_table(rng, 12, quarters)
    protected = d.protect(table, k=K, by_column=True)
    assert not [v for v in protected.values() if d.is_small(v, K)]
    assert d.audit_failures(protected) == []
    # Row totals over the period appear only for rows published in full (then they add nothing).
    for r, total in protected.row_totals.items():
        assert total is None or all(protected.published[(r, q)] is not None for q in quarters)


def test_it_shows_period_totals_can_be_differenced() -> None:
    # The attack is real: releases that publish per-region totals over their period leak a quarter one
    # has and the other has not (the difference of the two row totals), however well each is protected.
    quarters = ["2024Q1", "2024Q2", "2024Q3"]
    table = d.Table(
        ["a", "b", "c"],
        quarters,
        {("a", "2024Q1"): 2, ("b", "2024Q1"): 9, ("c", "2024Q1"): 12, ("a", "2024Q2"): 7, ("b", "2024Q2"): 8}
        | {("c", "2024Q2"): 6, ("a", "2024Q3"): 9, ("b", "2024Q3"): 11, ("c", "2024Q3"): 5},
    )
    first, second = d.protect(_sub(table, quarters)), d.protect(_sub(table, quarters[1:]))
    assert d.audit_failures(first) == [] and d.audit_failures(second) == []
    assert ("a", "2024Q1") in d.audit_failures(first, second)


@pytest.mark.parametrize("seed", range(3))
def test_it_cannot_be_differenced_across_overlapping_releases(seed: int) -> None:
    rng = random.Random(200 + seed)
    quarters = d.quarters_between("2023Q1", "2024Q4")
    table = _random_table(rng, 15, quarters)
    first, second = quarters[:6], quarters[2:]  # four shared quarters
    a = d.protect(_sub(table, first), k=K, by_column=True)
    b = d.protect(_sub(table, second), k=K, by_column=True)
    for q in set(first) & set(second):
        for r in table.row_labels:
            assert a.published[(r, q)] == b.published[(r, q)]
        assert a.col_totals[q] == b.col_totals[q]
    joint = d.audit_intervals(a, b)
    assert [key for key, v in a.published.items() if v is None] and joint
    assert [key for key, iv in joint.items() if not d.interval_safe(iv, K)] == []


def test_it_refuses_to_audit_releases_of_different_data() -> None:
    a = d.protect(d.Table(["r"], ["q"], {("r", "q"): 9}), by_column=True)
    b = d.protect(d.Table(["r"], ["q"], {("r", "q"): 10}), by_column=True)
    with pytest.raises(d.DisclosureError, match="disagree"):
        d.audit_intervals(a, b)


def test_it_publishes_no_totals_in_threshold_only_tables() -> None:
    table = d.Table(["a", "b"], ["x"], {("a", "x"): 3, ("b", "x"): 8})
    protected = d.threshold_only(table)
    assert protected.published == {("a", "x"): None, ("b", "x"): 8}
    assert protected.grand_total is None and not protected.col_totals and not protected.row_totals
    assert d.audit_failures(protected) == []
    assert d.render(None) == "—" and d.render(8) == "8"


# --- formula injection -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "\n=1", " =1", "＝1+1"],
)
def test_it_neutralises_formula_triggers(value: str) -> None:
    assert d.csv_safe(value) == "'" + value


@pytest.mark.parametrize("value", ["", "Иванов", "1+1", "a=b", "email@example.org", "'quoted"])
def test_it_leaves_plain_text_alone(value: str) -> None:
    assert d.csv_safe(value) == value


def test_it_passes_numbers_through_cell_safe() -> None:
    assert d.cell_safe(-5) == -5
    assert d.cell_safe("-5") == "'-5"
    assert d.cell_safe(None) is None
