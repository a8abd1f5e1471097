"""LCMCR (Manrique-Vallier 2016, Biometrics 72:1246): diagnostics, reproducibility, the paper's simulation."""

from __future__ import annotations

import time

import numpy as np
import pytest

from kartoteka.estimation import lcmcr, loglinear

TRUE_N = 2_000


def test_it_gives_rhat_near_one_for_mixed_chains_and_above_for_stuck_ones() -> None:
    rng = np.random.default_rng(7)
    mixed = rng.normal(size=(4, 2_000))
    assert lcmcr.rhat(mixed) < 1.01
    stuck = mixed + np.arange(4)[:, None]  # each chain in its own place
    assert lcmcr.rhat(stuck) > 1.5
    drifting = mixed + np.linspace(0, 3, 2_000)[None, :]  # split halves disagree within a chain
    assert lcmcr.rhat(drifting) > 1.1


def test_it_measures_effective_sample_size_of_independent_and_autocorrelated_draws() -> None:
    rng = np.random.default_rng(11)
    iid = rng.normal(size=(4, 5_000))
    assert lcmcr.ess(iid) == pytest.approx(20_000, rel=0.1)
    ar = np.zeros((4, 5_000))
    noise = rng.normal(size=(4, 5_000))
    for t in range(1, 5_000):
        ar[:, t] = 0.9 * ar[:, t - 1] + noise[:, t]
    # AR(1) with ρ = 0.9: ESS = n (1 − ρ) / (1 + ρ) ≈ 20,000 / 19.
    assert lcmcr.ess(ar) == pytest.approx(20_000 / 19, rel=0.2)


def test_it_is_reproducible_with_a_seed_and_varies_without_it() -> None:
    table = lcmcr.simulate_table(0)
    short = lcmcr.LCMCRSettings(burn_in=200, iterations=500, max_iterations=500, seed=5)
    a, b = lcmcr.fit_lcmcr(table, short), lcmcr.fit_lcmcr(table, short)
    assert np.array_equal(a.draws, b.draws)
    other = lcmcr.fit_lcmcr(
        table, lcmcr.LCMCRSettings(burn_in=200, iterations=500, max_iterations=500, seed=6)
    )
    assert not np.array_equal(a.draws, other.draws)
    assert a.draws.shape == (4, 500) and a.draws.min() >= table.n_observed


def test_it_refuses_fewer_than_three_lists() -> None:
    with pytest.raises(ValueError, match="three lists"):
        lcmcr.fit_lcmcr(lcmcr.simulate_table(0).collapse(["L1", "L2"]))


@pytest.mark.slow
def test_it_recovers_n_on_the_papers_heterogeneous_simulation() -> None:
    # Source: Manrique-Vallier (2016), §4 simulation design: N = 2,000 in two latent classes (1,800 with
    # capture probabilities .033 .033 .099 .132 .033; 200 with .66 .825 .759 .99 .693), five lists.
    # Default settings, seeds 0–19 (data and sampler), nothing tuned to these seeds.
    rows = []
    started = time.perf_counter()
    for seed in range(20):
        table = lcmcr.simulate_table(seed)
        fit = lcmcr.fit_lcmcr(table, lcmcr.LCMCRSettings(seed=seed))
        independence = loglinear.independence(table).estimate.estimate
        rows.append((seed, table.n_observed, fit, independence))
    elapsed = time.perf_counter() - started
    print("\nseed  observed  median   95% interval      width  R-hat   ESS   iter/chain  s   independence")
    for seed, n, fit, ind in rows:
        e = fit.estimate
        print(
            f"{seed:>4}  {n:>8}  {e.estimate:>6.0f}  {e.lower:>6.0f}–{e.upper:<6.0f}  {e.upper - e.lower:>6.0f}"
            f"  {fit.rhat:.3f}  {fit.ess:>5.0f}  {fit.iterations:>10}  {fit.seconds:>4.1f}  {ind:>6.0f}"
        )
    covered = sum(f.estimate.lower <= TRUE_N <= f.estimate.upper for _, _, f, _ in rows)
    centred = sum(1_500 <= f.estimate.estimate <= 2_500 for _, _, f, _ in rows)
    width = float(np.mean([f.estimate.upper - f.estimate.lower for _, _, f, _ in rows]))
    converged = sum(f.converged for _, _, f, _ in rows)
    independence = float(np.mean([ind for *_, ind in rows]))
    print(
        f"covered {covered}/20, median in 1,500–2,500 {centred}/20, mean width {width:,.0f}, converged "
        f"{converged}/20, independence model mean {independence:,.0f}, total {elapsed:.0f} s"
    )
    assert covered >= 15
    assert centred >= 15
    assert width <= 1_500
    assert converged == 20
    assert 700 < independence < 1_000  # the naive model lands far below the truth (about 830 in the paper)
