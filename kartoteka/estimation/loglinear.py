"""Log-linear models for three or more lists (Fienberg 1972; Bishop, Fienberg & Holland 1975, ch. 6).

The 2^J − 1 observable cell counts are Poisson with log-mean = intercept + main effects + the chosen pairwise
interactions (+ optional covariates). The unobserved cell's expected count is exp(intercept), so
N̂ = n + exp(β̂0). Its standard error adds the Poisson variation of the unobserved count to the delta-method
term, sqrt(f0 + f0²·Var β̂0) (Cormack 1989, Biometrics 45:395; this is what Rcapture reports). The 95%
interval is the profile likelihood for β0 (the other parameters refitted at each fixed intercept),
translated to N = n + exp(β0) (Cormack 1992, Biometrics 48:567).

Model search: forward stepwise as in Silverman (2014, UK Home Office) — start from main effects, add the
pairwise interaction that lowers AIC (or BIC) most, stop when none does or its Wald p-value exceeds 0.05 —
or an exhaustive search over all pairwise (hence hierarchical) models for up to five lists.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import statsmodels.api as sm
from scipy.optimize import brentq

from kartoteka.estimation.tables import CaptureTable, Estimate, IntArray, check_same_population
from kartoteka.estimation.twolist import Z95

FloatArray = npt.NDArray[np.float64]
Pair = tuple[int, int]
Covariate = Callable[[IntArray], FloatArray]
Criterion = Literal["aic", "bic"]

CHI2_1_95 = Z95**2  # the 95% point of chi-square with one degree of freedom
BOUNDARY = 20.0  # |coefficient| beyond this means the MLE sits at infinity (an empty overlap)


@dataclass(frozen=True)
class LoglinearFit:
    """A fitted log-linear model and the N it implies."""

    lists: tuple[str, ...]
    interactions: tuple[Pair, ...]
    covariates: tuple[str, ...]
    estimate: Estimate
    loglik: float
    n_params: int
    aic: float
    bic: float
    deviance: float
    df_resid: int
    at_boundary: bool
    p_last: float = math.nan  # Wald p-value of the last term (the one stepwise just added)
    path: tuple[str, ...] = field(default=())

    def terms(self) -> str:
        names = [f"{self.lists[a]}×{self.lists[b]}" for a, b in self.interactions] + list(self.covariates)
        return "main effects" + ("" if not names else " + " + ", ".join(names))


def poisson2(histories: IntArray) -> FloatArray:
    """Rcapture's Mth Poisson2 heterogeneity covariate: 2^k − 1, k = number of lists a history is on."""
    k = histories.sum(axis=1)
    out: FloatArray = np.power(2.0, k) - 1.0
    return out


def on_all_lists(histories: IntArray) -> FloatArray:
    """Indicator of the history 11…1 (Rcapture's 'Mt plus an indicator' for the always-caught)."""
    out: FloatArray = (histories.sum(axis=1) == histories.shape[1]).astype(np.float64)
    return out


def _design(histories: IntArray, interactions: Sequence[Pair], covariates: Sequence[Covariate]) -> FloatArray:
    columns = [np.ones(len(histories))]
    columns += [histories[:, j].astype(np.float64) for j in range(histories.shape[1])]
    columns += [(histories[:, a] * histories[:, b]).astype(np.float64) for a, b in interactions]
    columns += [cov(histories) for cov in covariates]
    out: FloatArray = np.column_stack(columns)
    return out


def _glm(y: IntArray, design: FloatArray, offset: float | None = None) -> Any:
    with warnings.catch_warnings():
        # Empty overlaps push a coefficient to −∞; statsmodels warns, we detect it ourselves (BOUNDARY).
        warnings.simplefilter("ignore")
        model = sm.GLM(
            y.astype(np.float64),
            design,
            family=sm.families.Poisson(),
            offset=None if offset is None else np.full(len(y), offset),
        )
        return model.fit(maxiter=200)


def _profile_interval(
    y: IntArray, design: FloatArray, loglik: float, b0: float, n: int
) -> tuple[float, float]:
    rest = design[:, 1:]

    def excess(b: float) -> float:
        return float(2.0 * (loglik - float(_glm(y, rest, offset=b).llf)) - CHI2_1_95)

    def bound(direction: float) -> float:
        step = 0.25
        inner, outer = b0, b0 + direction * step
        while excess(outer) < 0:
            if abs(outer - b0) > 15:
                return direction * math.inf
            inner, step = outer, step * 2
            outer = b0 + direction * step
        lo, hi = sorted((inner, outer))
        return float(brentq(excess, lo, hi, xtol=1e-6))

    low, high = bound(-1.0), bound(1.0)
    return n + (0.0 if low == -math.inf else math.exp(low)), n + math.exp(
        high
    ) if high < math.inf else math.inf


def fit_loglinear(
    table: CaptureTable,
    *,
    interactions: Sequence[Pair] = (),
    covariates: Mapping[str, Covariate] | None = None,
    interval: bool = True,
    method: str = "loglinear",
) -> LoglinearFit:
    """Fit one model; `interactions` are pairs of list positions, `covariates` extra cell-level columns."""
    covs = dict(covariates or {})
    histories, y = table.full_counts()
    design = _design(histories, interactions, list(covs.values()))
    result = _glm(y, design)
    params: FloatArray = np.asarray(result.params, dtype=np.float64)
    n = table.n_observed
    b0 = float(params[0])
    loglik = float(result.llf)
    k = design.shape[1]
    at_boundary = bool(np.any(np.abs(params) > BOUNDARY)) or not bool(result.converged)
    f0 = math.exp(min(b0, 700.0))
    var_b0 = float(np.asarray(result.cov_params())[0, 0])
    se = math.sqrt(f0 + f0**2 * var_b0) if math.isfinite(var_b0) else math.inf
    lower, upper = (math.nan, math.nan)
    if interval and not at_boundary:
        lower, upper = _profile_interval(y, design, loglik, b0, n)
    fit_without_n = LoglinearFit(
        lists=table.lists,
        interactions=tuple(interactions),
        covariates=tuple(covs),
        estimate=Estimate(method, n, n + f0, lower, upper, "profile likelihood", se=se),
        loglik=loglik,
        n_params=k,
        aic=-2.0 * loglik + 2.0 * k,
        bic=-2.0 * loglik + math.log(n) * k,
        deviance=float(result.deviance),
        df_resid=len(y) - k,
        at_boundary=at_boundary,
        p_last=float(np.asarray(result.pvalues)[-1]),
    )
    note = "the model sits at the boundary (an empty overlap): N is not identified" if at_boundary else ""
    details: dict[str, float | str] = {
        "model": fit_without_n.terms(),
        "aic": fit_without_n.aic,
        "bic": fit_without_n.bic,
        "deviance": fit_without_n.deviance,
        "df": fit_without_n.df_resid,
    }
    est = Estimate(
        method, n, n + f0, lower, upper, "profile likelihood", se=se,
        usable=not at_boundary and math.isfinite(upper), note=note, details=details,
    )  # fmt: skip
    return _with_estimate(fit_without_n, est)


def _with_estimate(fit: LoglinearFit, est: Estimate, path: tuple[str, ...] = ()) -> LoglinearFit:
    return LoglinearFit(
        fit.lists, fit.interactions, fit.covariates, est, fit.loglik, fit.n_params, fit.aic, fit.bic,
        fit.deviance, fit.df_resid, fit.at_boundary, fit.p_last, path or fit.path,
    )  # fmt: skip


def independence(table: CaptureTable) -> LoglinearFit:
    """Main effects only: every list independent of every other, every person alike."""
    return fit_loglinear(table, method="loglinear_independence")


def _score(fit: LoglinearFit, criterion: Criterion) -> float:
    return fit.aic if criterion == "aic" else fit.bic


def stepwise(table: CaptureTable, *, criterion: Criterion = "aic", p_enter: float = 0.05) -> LoglinearFit:
    """Forward selection of pairwise interactions (Silverman 2014): see the module docstring."""
    method = f"loglinear_stepwise_{criterion}"
    chosen: list[Pair] = []
    current = fit_loglinear(table, interval=False, method=method)
    path = [f"main effects: {criterion.upper()} {_score(current, criterion):.1f}"]
    candidates = list(itertools.combinations(range(table.n_lists), 2))
    while True:
        best: tuple[Pair, LoglinearFit, float] | None = None
        for pair in candidates:
            if pair in chosen:
                continue
            trial = fit_loglinear(table, interactions=[*chosen, pair], interval=False, method=method)
            if trial.at_boundary:
                continue
            if best is None or _score(trial, criterion) < _score(best[1], criterion):
                best = (pair, trial, trial.p_last)
        if best is None or _score(best[1], criterion) >= _score(current, criterion) or best[2] > p_enter:
            break
        chosen.append(best[0])
        current = best[1]
        a, b = best[0]
        path.append(
            f"+ {table.lists[a]}×{table.lists[b]}: {criterion.upper()} {_score(current, criterion):.1f}, "
            f"p = {best[2]:.2g}, N = {current.estimate.estimate:,.0f}"
        )
    final = fit_loglinear(table, interactions=chosen, method=method)
    return _with_estimate(final, final.estimate, tuple(path))


def exhaustive(table: CaptureTable, *, criterion: Criterion = "aic", max_lists: int = 5) -> LoglinearFit:
    """The best non-saturated model by AIC/BIC among all sets of pairwise interactions (2^(J(J−1)/2) fits)."""
    if table.n_lists > max_lists:
        raise ValueError(f"exhaustive search is limited to {max_lists} lists; use stepwise")
    method = f"loglinear_best_{criterion}"
    pairs = list(itertools.combinations(range(table.n_lists), 2))
    best: LoglinearFit | None = None
    for size in range(len(pairs) + 1):
        for subset in itertools.combinations(pairs, size):
            trial = fit_loglinear(table, interactions=subset, interval=False, method=method)
            # A saturated model fits perfectly whatever N is: the criterion cannot judge it.
            if trial.at_boundary or trial.df_resid == 0:
                continue
            if best is None or _score(trial, criterion) < _score(best, criterion):
                best = trial
    assert best is not None  # the main-effects model never sits at the boundary on an observed table
    return fit_loglinear(table, interactions=best.interactions, method=method)


def sum_strata(estimates: Mapping[str, Estimate], *, seed: int = 0, draws: int = 40_000) -> Estimate:
    """Total over strata (e.g. regions or periods) with a combined 95% interval.

    Strata are independent samples, so draws are summed: posterior draws when every stratum has them
    (LCMCR), otherwise each stratum's unobserved count is taken as log-normal matching its own interval
    (the approximation behind Chao's interval) and simulated.
    """
    if not estimates:
        raise ValueError("no strata to combine")
    rng = np.random.default_rng(seed)
    total: FloatArray = np.zeros(draws)
    for est in estimates.values():
        total += _stratum_draws(est, rng, draws)
    n = sum(e.n_observed for e in estimates.values())
    point = sum(e.estimate for e in estimates.values())
    lower, upper = (float(q) for q in np.quantile(total, [0.025, 0.975]))
    method = next(iter(estimates.values())).method
    unusable = [name for name, e in estimates.items() if not e.usable]
    note = ("no usable estimate for stratum: " + ", ".join(unusable)) if unusable else ""
    return Estimate(
        method, n, point, lower, upper, "sum of strata (simulated)", usable=not unusable, note=note,
        details={"strata": len(estimates)}, draws=total,
    )  # fmt: skip


def _stratum_draws(est: Estimate, rng: np.random.Generator, size: int) -> FloatArray:
    if est.draws is not None:
        out: FloatArray = rng.choice(est.draws, size=size, replace=True)
        return out
    f0 = est.estimate - est.n_observed
    low, high = est.lower - est.n_observed, est.upper - est.n_observed
    if f0 <= 0 or low <= 0 or not math.isfinite(high):
        return np.full(size, est.estimate if math.isfinite(est.estimate) else math.inf)
    sigma = (math.log(high) - math.log(low)) / (2 * Z95)
    sampled: FloatArray = est.n_observed + f0 * np.exp(rng.normal(0.0, sigma, size))
    return sampled


def stratified(
    tables: Mapping[str, CaptureTable], fit: Callable[[CaptureTable], Estimate], *, seed: int = 0
) -> tuple[Estimate, dict[str, Estimate]]:
    """Fit each stratum's table with `fit` and sum; all strata must count the same population."""
    check_same_population(tables.values())
    per = {name: fit(t) for name, t in tables.items()}
    return sum_strata(per, seed=seed), per
