"""Disclosure control at public-release sizes: protect and audit (kartoteka.lib.disclosure; no Django).

Tables are synthetic with many small cells (the hard case): 90 regions × 16 quarters for the by-quarter
release, two overlapping releases for the joint (differencing) audit, and two-way tables of report size.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from bench.util import row
from kartoteka.lib import disclosure as d

VALUES = [0, 0, 0, 0, 1, 2, 3, 6, 9, 15, 40]


def _table(rng: random.Random, rows: int, cols: list[str]) -> d.Table:
    labels = [f"r{i:03d}" for i in range(rows)]
    return d.Table(labels, cols, {(r, c): rng.choice(VALUES) for r in labels for c in cols})


def _timed[T](fn: Callable[[], T]) -> tuple[T, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench disclosure")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    quarters = d.quarters_between("2022Q1", "2025Q4")
    big = _table(rng, 90, quarters)
    release, t_protect = _timed(lambda: d.protect(big, by_column=True))
    failures, t_audit = _timed(lambda: d.audit_failures(release))
    print("by-quarter release, 90 regions × 16 quarters")
    row("protect(by_column=True)", t_protect * 1000, "ms", f"{len(release.suppressed())} hidden")
    row("audit", t_audit * 1000, "ms", f"failures={len(failures)}")

    def sub(cols: list[str]) -> d.Table:
        return d.Table(big.row_labels, cols, {k: v for k, v in big.counts.items() if k[1] in cols})

    a, b = d.protect(sub(quarters[:10]), by_column=True), d.protect(sub(quarters[4:]), by_column=True)
    joint, t_joint = _timed(lambda: d.audit_failures(a, b))
    row("joint audit of two overlapping releases", t_joint * 1000, "ms", f"failures={len(joint)}")

    print("two-way tables with all totals")
    for rows, cols in ((15, 8), (40, 8), (85, 8)):
        table = _table(rng, rows, quarters[:cols])
        protected, t_p = _timed(lambda table=table: d.protect(table))
        fails, t_a = _timed(lambda protected=protected: d.audit_failures(protected))
        cells = rows * cols
        row(f"protect {rows}×{cols}", t_p, "s", f"{len(protected.suppressed())} hidden of {cells} cells")
        row(f"audit {rows}×{cols}", t_a, "s", f"failures={len(fails)}")
    return 0
