"""Estimation: capture-history tables, two-list and log-linear estimators, strata, the report.

Published results come from kartoteka/data/reference/mse/README.md; each test names its source.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from kartoteka.estimation import lcmcr, loglinear, report, twolist
from kartoteka.estimation.tables import (
    CaptureTable,
    LinkedRecord,
    ListDeclaration,
    PopulationMismatchError,
    TableError,
    strata_from_csv_text,
    table_from_csv,
    table_from_csv_text,
    table_from_links,
    tables_by_stratum,
)

MSE = Path(__file__).resolve().parents[1] / "kartoteka" / "data" / "reference" / "mse"


def reference(name: str) -> CaptureTable:
    return table_from_csv(MSE / f"{name}.csv", population="reference", period="published")


# --- tables -------------------------------------------------------------------------------------------------


def test_it_reads_the_reference_tables_with_their_documented_sizes() -> None:
    sizes = {
        "hare": (68, 6),
        "UKdat": (2744, 6),
        "lesbian": (2185, 4),
        "Diabetes": (2069, 4),
        "HAV": (271, 3),
    }
    for name, (n, lists) in sizes.items():
        table = reference(name)
        assert (table.n_observed, table.n_lists) == (n, lists), name


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a,b\n1,0\n", "no 'count' column"),
        ("a,b,count\n1,0,3\n1,2,4\n", "row 3, column 'b': expected 0 or 1"),
        ("a,b,count\n1,0,3\nда,1,4\n", "row 3, column 'a': expected 0 or 1"),
        ("a,b,count\n1,0,3\n0,1,x\n", "row 3, column 'count': expected a whole number of people"),
        ("a,b,count\n1,0,-3\n", "row 2, column 'count': a count cannot be negative"),
        ("a,b,count\n1,0,3\n0,0,5\n", "row 3: the all-zero history"),
        ("a,b,count\n1,0,3\n1,1\n", "row 3: 2 cells, the header has 3"),
        ("a,b,a,count\n1,0,0,3\n", r"row 1, column 3: repeated column name \(the same as column 1\)"),
        ("a,,count\n1,0,3\n", "row 1, column 2: empty column name"),
        ("a,count\n1,3\n", "at least two lists"),
        ("", "empty"),
    ],
)
def test_it_refuses_malformed_overlap_tables_naming_row_and_column(text: str, fragment: str) -> None:
    with pytest.raises(TableError, match=fragment):
        table_from_csv_text(text, population="recruits", period="2023")


@pytest.mark.parametrize(
    ("cells", "fragment"),
    [
        ("Иванов Пётр,0,3", "row 2, column 'a': expected 0 or 1"),
        ("1,+7 912 000-00-00,3", "row 2, column 'b': expected 0 or 1"),
        ("1,0,Иванов Пётр", "row 2, column 'count': expected a whole number of people"),
        ("1,0,-12345", "row 2, column 'count': a count cannot be negative"),
    ],
)
def test_it_names_the_cell_at_fault_and_never_echoes_what_it_holds(cells: str, fragment: str) -> None:
    with pytest.raises(TableError, match=fragment) as refused:
        table_from_csv_text(f"a,b,count\n{cells}\n", population="recruits", period="2023")
    message = str(refused.value)
    for pasted in cells.split(","):
        if pasted not in ("0", "1", "3"):
            assert pasted not in message and pasted.strip("+-") not in message


def test_it_requires_a_declared_population_and_period() -> None:
    with pytest.raises(TableError, match="population"):
        table_from_csv_text("a,b,count\n1,1,3\n", population=" ", period="2023")
    with pytest.raises(TableError, match="period"):
        table_from_csv_text("a,b,count\n1,1,3\n", population="dead", period="")


def test_it_builds_capture_histories_from_linked_records() -> None:
    lists = [ListDeclaration(n, "recruits", "2023") for n in ("hotline", "media", "court")]
    records = [
        LinkedRecord("hotline", "p1"), LinkedRecord("media", "p1"), LinkedRecord("media", "p1"),
        LinkedRecord("court", "p2"), LinkedRecord("hotline", "p3"), LinkedRecord("media", "p3"),
        LinkedRecord("hotline", "p4"),
    ]  # fmt: skip
    table = table_from_links(records, lists=lists)
    got = {tuple(int(v) for v in h): int(c) for h, c in zip(table.histories, table.counts, strict=True)}
    assert got == {(1, 1, 0): 2, (0, 0, 1): 1, (1, 0, 0): 1}
    assert table.list_totals().tolist() == [3, 2, 1]
    assert (table.population, table.period) == ("recruits", "2023")


def test_it_refuses_to_mix_lists_of_different_populations_or_periods() -> None:
    records = [LinkedRecord("recruits_list", "p1"), LinkedRecord("obituaries", "p1")]
    mixed = [
        ListDeclaration("recruits_list", "recruits", "2023"),
        ListDeclaration("obituaries", "dead", "2023"),
    ]
    with pytest.raises(PopulationMismatchError, match="different populations"):
        table_from_links(records, lists=mixed)
    periods = [
        ListDeclaration("recruits_list", "recruits", "2023"),
        ListDeclaration("obituaries", "recruits", "2024"),
    ]
    with pytest.raises(PopulationMismatchError, match="different periods"):
        table_from_links(records, lists=periods)
    dead = table_from_csv_text("a,b,count\n1,1,3\n1,0,4\n0,1,2\n", population="dead", period="2023")
    alive = table_from_csv_text("a,b,count\n1,1,3\n1,0,4\n0,1,2\n", population="recruits", period="2023")
    with pytest.raises(PopulationMismatchError):
        report.estimate_stratified({"x": dead, "y": alive})


def test_it_refuses_records_from_undeclared_lists() -> None:
    with pytest.raises(TableError, match="record 2: list 'court' was not declared"):
        table_from_links(
            [LinkedRecord("media", "p1"), LinkedRecord("court", "p1")],
            lists=[ListDeclaration("media", "dead", "2023"), ListDeclaration("hotline", "dead", "2023")],
        )


def test_it_splits_tables_by_stratum() -> None:
    text = "a,b,stratum,count\n1,1,north,3\n1,0,north,4\n0,1,south,2\n1,1,south,5\n"
    strata = strata_from_csv_text(text, population="recruits", period="2023")
    assert {k: v.n_observed for k, v in strata.items()} == {"north": 7, "south": 7}
    assert table_from_csv_text(text, population="recruits", period="2023").n_observed == 14
    lists = [ListDeclaration("a", "recruits", "2023"), ListDeclaration("b", "recruits", "2023")]
    records = [LinkedRecord("a", "p1"), LinkedRecord("b", "p2"), LinkedRecord("b", "p1")]
    by = tables_by_stratum(records, lists=lists, stratum_of={"p1": "north", "p2": "south"})
    assert {k: v.n_observed for k, v in by.items()} == {"north": 1, "south": 1}


# --- two lists ----------------------------------------------------------------------------------------------


def test_it_reproduces_care1_pairwise_petersen_and_chapman_on_diabetes() -> None:
    # Source: CARE1 1.1.0 documentation, data set `Diabetes` (Bruno et al.), pairwise estimates.
    published = {
        ("c1", "c2"): (2353, 2351), ("c1", "c3"): (2185, 2185), ("c1", "c4"): (2264, 2261),
        ("c2", "c3"): (2060, 2057), ("c2", "c4"): (806, 803), ("c3", "c4"): (1558, 1555),
    }  # fmt: skip
    got = twolist.pairwise(reference("Diabetes"))
    for pair, (petersen, chap) in published.items():
        lp, ch = got[pair]
        assert (round(lp.estimate), round(ch.estimate)) == (petersen, chap), pair


def test_it_reproduces_chao_2001_two_list_chapman_on_hav() -> None:
    # Source: Chao et al. (2001), Stat Med 20:3123, hepatitis A outbreak (CARE1 `HAV`), Chapman by formula.
    table = reference("HAV")
    for (a, b), value in {("P", "Q"): 333.6, ("P", "E"): 374.5, ("Q", "E"): 331.4}.items():
        est = twolist.chapman(twolist.two_list_counts(table, a, b))
        assert est.estimate == pytest.approx(value, abs=0.05)
        assert est.n_observed <= est.lower < est.estimate < est.upper
        assert est.se is not None and est.se > 0


def test_it_marks_two_lists_without_overlap_as_unusable_for_lincoln_petersen() -> None:
    counts = twolist.TwoListCounts(n1=20, n2=30, m=0)
    assert not twolist.lincoln_petersen(counts).usable
    chap = twolist.chapman(counts)
    assert chap.usable and chap.estimate == pytest.approx(21 * 31 - 1) and "only 0" in chap.note


# --- log-linear ---------------------------------------------------------------------------------------------


def test_it_reproduces_rcapture_mth_poisson2_on_hare() -> None:
    # Source: Rcapture 1.4-4 documentation, data `hare`: Mth Poisson2 N = 81.1, s.e. 5.7 (5.57 outside R).
    fit = loglinear.fit_loglinear(reference("hare"), covariates={"poisson2": loglinear.poisson2})
    assert fit.estimate.estimate == pytest.approx(81.1, abs=0.05)
    assert fit.estimate.se == pytest.approx(5.57, abs=0.15)


def test_it_reproduces_rcapture_mt_plus_indicator_on_hare() -> None:
    # Source: Rcapture 1.4-4 documentation, data `hare`: Mt plus an indicator for 111111, N = 76.8, s.e. 3.9.
    fit = loglinear.fit_loglinear(reference("hare"), covariates={"all_six": loglinear.on_all_lists})
    assert fit.estimate.estimate == pytest.approx(76.8, abs=0.05)
    assert fit.estimate.se == pytest.approx(3.9, abs=0.05)


def test_it_reproduces_silverman_stepwise_on_ukdat() -> None:
    # Source: Silverman (2014), UK Home Office, modern slavery 2013 (SparseMSE `UKdat`): published range
    # 10,000–13,000; the reference re-implementation gives 11,418 with 95% profile CI 9,982–13,182.
    fit = loglinear.stepwise(reference("UKdat"), criterion="aic")
    est = fit.estimate
    print(f"\nUKdat stepwise: {fit.terms()} → N = {est.estimate:,.1f} ({est.lower:,.0f}–{est.upper:,.0f})")
    assert round(est.estimate) == 11_418
    assert len(fit.interactions) == 7
    # Our profile lower limit is 10,001 against the reference's 9,982 (0.2%); the upper matches to the unit.
    assert est.lower == pytest.approx(9_982, rel=0.01)
    assert est.upper == pytest.approx(13_182, rel=0.001)
    assert 10_000 <= est.estimate <= 13_000


def test_it_reports_what_model_choice_gives_on_lesbian() -> None:
    # Source: Aaron et al. (2003), J Epidemiol Community Health 57:207 (Rcapture `lesbian`): published 7,031
    # (95% CI 5,850–8,576); the independence model gives about 3,739.
    table = reference("lesbian")
    ind = loglinear.independence(table).estimate
    aic = loglinear.stepwise(table, criterion="aic")
    bic = loglinear.stepwise(table, criterion="bic")
    best = loglinear.exhaustive(table, criterion="aic")
    print(
        f"\nlesbian: independence {ind.estimate:,.0f}; stepwise AIC {aic.estimate.estimate:,.0f} "
        f"({aic.estimate.lower:,.0f}–{aic.estimate.upper:,.0f}) [{aic.terms()}]; stepwise BIC "
        f"{bic.estimate.estimate:,.0f}; exhaustive AIC {best.estimate.estimate:,.0f}"
    )
    assert round(ind.estimate) == pytest.approx(3_739, abs=1)
    # AIC selection (all six pairwise terms) lands within 2% of the published figure, its interval close.
    assert aic.estimate.estimate == pytest.approx(7_031, rel=0.02)
    assert aic.estimate.lower == pytest.approx(5_850, rel=0.03)
    assert aic.estimate.upper == pytest.approx(8_576, rel=0.03)
    assert set(best.interactions) == set(aic.interactions)


def test_it_sums_strata_with_a_combined_interval() -> None:
    table = reference("lesbian")
    fit = loglinear.stepwise(table).estimate
    total, per = loglinear.stratified(
        {"north": table, "south": table}, lambda t: loglinear.stepwise(t).estimate, seed=1
    )
    assert total.estimate == pytest.approx(2 * fit.estimate)
    assert total.n_observed == 2 * table.n_observed
    assert 2 * fit.lower < total.lower < total.estimate < total.upper < 2 * fit.upper
    assert set(per) == {"north", "south"}


# --- report -------------------------------------------------------------------------------------------------


def test_it_reports_chapman_first_for_two_lists_in_both_languages() -> None:
    table = reference("HAV").collapse(["P", "Q"])
    rep = report.estimate(table)
    assert rep.default.method == "chapman" and rep.reason.key == "why_two"
    en, ru = report.render(rep, "en"), report.render(rep, "ru")
    assert en.splitlines()[0].startswith("Population estimate: 334  (95% interval 289 – 403), Chapman")
    assert ru.splitlines()[0].startswith("Оценка численности: 334  (95% интервал 289 – 403), Чепмен")
    assert "Lincoln–Petersen" in en and "Линкольн–Петерсен" in ru
    assert en.index("All methods") < en.index("Caveats") and "List dependence" in en
    assert "Зависимость списков" in ru


def test_it_defaults_to_lcmcr_when_its_diagnostics_pass() -> None:
    rep = report.estimate(reference("hare"), settings=lcmcr.LCMCRSettings(seed=3))
    lc = next(e for e in rep.methods if e.method == "lcmcr")
    assert rep.default is lc and rep.reason.key == "why_lcmcr"
    assert float(lc.details["rhat"]) < 1.05 and float(lc.details["ess"]) > 400
    methods = [e.method for e in rep.methods]
    assert methods[:4] == [
        "lcmcr",
        "loglinear_stepwise_aic",
        "loglinear_stepwise_bic",
        "loglinear_independence",
    ]
    assert sum(m.startswith("chapman:") for m in methods) == 15
    keys = [c.key for c in rep.caveats]
    assert "heterogeneity" in keys and "small_cells" in keys and "dependence_ok" in keys


def test_it_falls_back_to_log_linear_when_lcmcr_fails_its_diagnostics() -> None:
    # 100 draws per chain cannot give an effective sample size above 400: the sampler must be refused.
    too_short = lcmcr.LCMCRSettings(chains=2, burn_in=10, iterations=100, max_iterations=100, seed=0)
    rep = report.estimate(reference("HAV"), settings=too_short)
    assert rep.default.method == "loglinear_stepwise_aic" and rep.reason.key == "why_loglinear"
    text = report.render(rep, "en")
    assert "LCMCR did not converge" in text and "not usable" in text
    assert "LCMCR не сошёлся" in report.render(rep, "ru")


def test_it_runs_the_estimate_command_on_a_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kartoteka import cli

    path = tmp_path / "two.csv"
    path.write_text("hotline,media,count\n1,1,49\n1,0,86\n0,1,73\n", encoding="utf-8")
    common = ["--population", "recruits", "--period", "2023"]
    assert cli.main(["estimate", "--table", str(path), *common, "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Population estimate: 334") and "Population: recruits; Period: 2023" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("hotline,media,count\n1,1,49\n1,5,86\n", encoding="utf-8")
    assert cli.main(["estimate", "--table", str(bad), *common]) == 1
    assert "row 3, column 'media'" in capsys.readouterr().err


def test_it_sums_strata_in_the_report() -> None:
    text = "a,b,stratum,count\n1,1,north,49\n1,0,north,86\n0,1,north,73\n1,1,south,30\n1,0,south,40\n0,1,south,50\n"
    strata = strata_from_csv_text(text, population="recruits", period="2023")
    rep = report.estimate_stratified(strata)
    north, south = (twolist.chapman(twolist.two_list_counts(t, "a", "b")).estimate for t in strata.values())
    assert rep.default.estimate == pytest.approx(north + south)
    assert set(rep.strata) == {"north", "south"} and math.isfinite(rep.default.upper)
    assert "2 strata" in report.render(rep, "en")
