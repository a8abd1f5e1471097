"""`kartoteka report --quarter 2024Q1 [--to 2024Q4] --lang ru|en --out report.pdf` and
`kartoteka report --refresh`: thin doors onto kartoteka.reports.pdf and .services.

The file written holds aggregates only (protected tables, totals, charts): no name, no identity. It is a
draft until a second staff member approves publication in the web interface (Reports)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _setup() -> None:
    from kartoteka.cli import django_setup

    django_setup()


def cmd_report(args: argparse.Namespace) -> int:
    from kartoteka.clicommands import CommandError

    if args.refresh:
        _setup()
        from django.utils import timezone

        from kartoteka.reports.drawn import predraw
        from kartoteka.reports.services import summaries_refresh

        result = summaries_refresh()
        pages = predraw(today=timezone.localdate())  # as the worker does: the default view, ru and en
        print(
            f"summaries rebuilt: {result.rows} rows in {result.seconds:.1f} s (audit seq {result.audit_seq}); "
            f"{pages} dashboard pages drawn"
        )
        return 0
    if not args.quarter or not args.out:
        raise CommandError("give --quarter (e.g. 2024Q1) and --out FILE.pdf, or --refresh")
    from kartoteka.lib import disclosure

    last = args.to or args.quarter
    try:
        disclosure.quarters_between(args.quarter.upper(), last.upper())
    except disclosure.DisclosureError as exc:
        raise CommandError(f"--quarter/--to: {exc}") from None
    out = Path(args.out)
    if not out.parent.is_dir():
        raise CommandError(f"--out: no such directory: {out.parent}")
    _setup()
    from kartoteka.reports.pdf import report_pdf

    pdf = report_pdf(period_from=args.quarter.upper(), period_to=last.upper(), lang=args.lang, draft=True)
    out.write_bytes(pdf)
    print(f"wrote {out} ({len(pdf)} bytes); a draft until approved for publication")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("report", help="a PDF report for whole quarters (aggregates only), or --refresh")
    p.add_argument("--quarter", help="first quarter, e.g. 2024Q1")
    p.add_argument("--to", help="last quarter (default: the first)")
    p.add_argument("--lang", choices=("ru", "en"), default="ru")
    p.add_argument("--out", help="where to write the PDF")
    p.add_argument("--refresh", action="store_true", help="rebuild the dashboard's summary tables and stop")
    p.set_defaults(func=cmd_report)
