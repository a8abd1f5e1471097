from __future__ import annotations

import argparse
import importlib
import sys

BENCHES = {
    "audit": "bench.audit_bench",
    "backup": "bench.backup_bench",
    "crypto": "bench.crypto_bench",
    "dashboard": "bench.dashboard_bench",
    "disclosure": "bench.disclosure_bench",
    "estimate": "bench.estimate_bench",
    "pages": "bench.pages_bench",
    "evidence": "bench.evidence_bench",
    "import": "bench.import_bench",
    "intake": "bench.intake_bench",
    "ledger": "bench.ledger_bench",
    "linkage": "bench.linkage_bench",
    "search": "bench.search_bench",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Kartoteka benchmarks")
    parser.add_argument("name", choices=sorted(BENCHES))
    args, rest = parser.parse_known_args(argv)
    module = importlib.import_module(BENCHES[args.name])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
