"""The legal-regime engine: regimes as cited data (``regimes/*.toml``) and a pure evaluator.

``RegimeSet.load()`` reads and validates the regime files (an organisation may override or add its own);
``evaluate(facts, as_of=..., regimes=...)`` turns one person's facts into a ``Ledger`` of dated lines with
ru/en explanations citing provision and confidence mark. No Django here: the casework layer builds
``Facts`` from its models and stores or shows the result. See docs/ledger.md.
"""

from kartoteka.law.engine import (
    Delivery,
    Facts,
    Ledger,
    LedgerChange,
    LedgerLine,
    LineStatus,
    Promise,
    Provision,
    Reading,
    ServiceEvent,
    StatusEntry,
    evaluate,
    ledger_diff,
)
from kartoteka.law.schema import DEFAULT_DIRECTORY, Regime, RegimeError, RegimeSet

__all__ = [
    "DEFAULT_DIRECTORY",
    "Delivery",
    "Facts",
    "Ledger",
    "LedgerChange",
    "LedgerLine",
    "LineStatus",
    "Promise",
    "Provision",
    "Reading",
    "Regime",
    "RegimeError",
    "RegimeSet",
    "ServiceEvent",
    "StatusEntry",
    "evaluate",
    "ledger_diff",
]
