"""Two-list estimators: Lincoln–Petersen and Chapman.

Both assume the two lists are independent and every person equally likely to be on each; neither holds for
human-rights lists, which is why the report prints caveats and prefers LCMCR when three or more lists exist.

References:
- Chapman, D. G. (1951). Some properties of the hypergeometric distribution with applications to zoological
  sample censuses. Univ. Calif. Publ. Stat. 1:131–160 (the estimator (n1+1)(n2+1)/(m+1) − 1).
- Seber, G. A. F. (1970), Biometrika 57:313 and Seber (1982), The Estimation of Animal Abundance, §3.1.1
  (the variance formulas used here).
- Chao, A. (1987). Estimating the population size for capture–recapture data with unequal catchability.
  Biometrics 43:783–791 (the log-normal interval: the unobserved count is log-normal, so the interval never
  falls below the observed count).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from kartoteka.estimation.tables import CaptureTable, Estimate, TableError

Z95 = NormalDist().inv_cdf(0.975)


@dataclass(frozen=True)
class TwoListCounts:
    n1: int
    n2: int
    m: int

    @property
    def observed(self) -> int:
        return self.n1 + self.n2 - self.m


def two_list_counts(table: CaptureTable, first: str, second: str) -> TwoListCounts:
    """Sizes of two lists and their overlap, from any table holding both."""
    if first == second:
        raise TableError("choose two different lists")
    pair = table.collapse([first, second])
    n1 = n2 = m = 0
    for h, c in zip(pair.histories, pair.counts, strict=True):
        n1 += int(c) * int(h[0])
        n2 += int(c) * int(h[1])
        m += int(c) * int(h[0] * h[1])
    return TwoListCounts(n1, n2, m)


def chao_lognormal_interval(estimate: float, variance: float, observed: int) -> tuple[float, float]:
    """Chao (1987): log(N − n) treated as normal; the interval is [n + f0/C, n + f0·C]."""
    f0 = estimate - observed
    if f0 <= 0 or variance <= 0:
        return float(observed), float(observed)
    c = math.exp(Z95 * math.sqrt(math.log(1.0 + variance / f0**2)))
    return observed + f0 / c, observed + f0 * c


def lincoln_petersen(counts: TwoListCounts) -> Estimate:
    """N = n1·n2/m, variance n1·n2·(n1−m)(n2−m)/m³ (Seber 1982); undefined without overlap."""
    n1, n2, m = counts.n1, counts.n2, counts.m
    if m == 0:
        return Estimate(
            "lincoln_petersen", counts.observed, math.inf, math.inf, math.inf, "Chao log-normal",
            usable=False, note="the lists do not overlap: no two-list estimate exists",
        )  # fmt: skip
    n_hat = n1 * n2 / m
    variance = n1 * n2 * (n1 - m) * (n2 - m) / m**3
    lower, upper = chao_lognormal_interval(n_hat, variance, counts.observed)
    return Estimate(
        "lincoln_petersen", counts.observed, n_hat, lower, upper, "Chao log-normal",
        se=math.sqrt(variance), details={"n1": n1, "n2": n2, "m": m},
    )  # fmt: skip


def chapman(counts: TwoListCounts) -> Estimate:
    """N = (n1+1)(n2+1)/(m+1) − 1, variance (n1+1)(n2+1)(n1−m)(n2−m)/((m+1)²(m+2)) (Seber 1970)."""
    n1, n2, m = counts.n1, counts.n2, counts.m
    n_hat = (n1 + 1) * (n2 + 1) / (m + 1) - 1
    variance = (n1 + 1) * (n2 + 1) * (n1 - m) * (n2 - m) / ((m + 1) ** 2 * (m + 2))
    lower, upper = chao_lognormal_interval(n_hat, variance, counts.observed)
    note = ""
    if m < 7:
        # Robson & Regier (1964): below about seven recaptures the estimator's bias is no longer negligible.
        note = f"only {m} people are on both lists: the estimate is unstable"
    return Estimate(
        "chapman", counts.observed, n_hat, lower, upper, "Chao log-normal",
        se=math.sqrt(variance), note=note, details={"n1": n1, "n2": n2, "m": m},
    )  # fmt: skip


def pairwise(table: CaptureTable) -> dict[tuple[str, str], tuple[Estimate, Estimate]]:
    """Lincoln–Petersen and Chapman for every pair of lists (useful to see list dependence)."""
    out: dict[tuple[str, str], tuple[Estimate, Estimate]] = {}
    for i, a in enumerate(table.lists):
        for b in table.lists[i + 1 :]:
            counts = two_list_counts(table, a, b)
            out[(a, b)] = (lincoln_petersen(counts), chapman(counts))
    return out
