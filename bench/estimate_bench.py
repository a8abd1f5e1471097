"""Estimation run time: one LCMCR fit on five lists (the paper's simulation design) with default settings,
and the stepwise log-linear search on the six-list UKdat table.

Run: python -m bench estimate [--seed S]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.util import peak_rss_mb, row
from kartoteka.estimation import lcmcr, loglinear
from kartoteka.estimation.tables import table_from_csv

UKDAT = Path(__file__).resolve().parents[1] / "kartoteka" / "data" / "reference" / "mse" / "UKdat.csv"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench estimate")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = lcmcr.LCMCRSettings(seed=args.seed)
    table = lcmcr.simulate_table(args.seed)
    print(f"LCMCR, 5 lists, N = 2,000 simulated (seed {args.seed}), {table.n_observed} observed")
    print(f"  settings: K = {settings.classes}, {settings.chains} chains, burn-in {settings.burn_in}, "
          f"{settings.iterations} iterations per chain (extended up to {settings.max_iterations})")  # fmt: skip
    fit = lcmcr.fit_lcmcr(table, settings)
    est = fit.estimate
    row("run time (goal ≤ 30 s)", fit.seconds, "s")
    row("iterations per chain", fit.iterations, "")
    row("posterior median N", est.estimate, "", f"95% {est.lower:,.0f}–{est.upper:,.0f}")
    row("R-hat of N (< 1.05)", fit.rhat, "")
    row("effective sample size of N (> 400)", fit.ess, "")
    row("sweeps per second (all chains)", fit.iterations / fit.seconds, "/s")
    ukdat = table_from_csv(UKDAT, population="potential victims", period="2013")
    t0 = time.perf_counter()
    step = loglinear.stepwise(ukdat)
    print("Log-linear stepwise AIC, UKdat (6 lists)")
    row("run time incl. profile interval", time.perf_counter() - t0, "s")
    row("N", step.estimate.estimate, "", f"95% {step.estimate.lower:,.0f}–{step.estimate.upper:,.0f}")
    row("peak RSS", peak_rss_mb(), "MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
