"""`kartoteka estimate` and `kartoteka estimate-lists`: thin doors onto estimation.report, .selectors and
.services.

`estimate --table FILE.csv` needs no database (an overlap table is aggregate data); estimating over
declared lists, saving and approving act as a signed-in user (`--as USER`).
"""

from __future__ import annotations

import argparse
from typing import Any

from kartoteka.clicommands import CommandError, acting_user
from kartoteka.estimation.errors import EstimationError

# Defaults of lcmcr.LCMCRSettings, repeated so that loading the CLI does not import numpy and statsmodels
# (every `kartoteka` command would pay for it); tests/test_estimation_app.py checks they agree.
CHAINS_DEFAULT = 4
ITERATIONS_DEFAULT = 10_000


def _settings(args: argparse.Namespace) -> Any:
    from kartoteka.estimation import lcmcr

    return lcmcr.LCMCRSettings(
        chains=args.chains, iterations=args.iterations, seed=args.seed,
        max_iterations=max(args.iterations * 4, lcmcr.LCMCRSettings.max_iterations),
    )  # fmt: skip


def _from_lists(args: argparse.Namespace) -> int:
    from kartoteka.cli import django_setup

    django_setup()
    from kartoteka.estimation import report, selectors, services
    from kartoteka.estimation.access import declared_list_list_for_user

    user = acting_user(args)
    by_name = {d.name: d for d in declared_list_list_for_user(user)}
    missing = [name for name in args.lists if name not in by_name]
    if missing:
        raise CommandError(f"no declared list named {', '.join(missing)} (see `kartoteka estimate-lists`)")
    ids = [str(by_name[name].id) for name in args.lists]
    result, counted = selectors.lists_estimate(
        user=user, list_ids=ids, by_region=args.by_region, settings=_settings(args)
    )
    print(report.render(result, args.lang))
    print(f"\nrecords read: {counted}")
    if args.save:
        saved = services.estimate_save(actor=user, team=by_name[args.lists[0]].team, result=result)
        print(f"saved as {saved.id}; a second staff member approves it with `kartoteka estimate-approve`")
    return 0


def cmd_estimate(args: argparse.Namespace) -> int:
    from kartoteka.estimation import report
    from kartoteka.estimation.tables import TableError

    try:
        if args.table:
            if args.lists or args.save:
                raise CommandError("--table estimates a CSV file alone; --list and --save need no --table")
            if not (args.population and args.period):
                raise CommandError("--table needs --population and --period: what the lists count, and when")
            return report.run(args)
        if not args.lists:
            raise CommandError("give --table FILE.csv, or two or more --list NAME of declared lists")
        return _from_lists(args)
    except (TableError, EstimationError, OSError) as exc:
        raise CommandError(str(exc)) from None


def cmd_lists(args: argparse.Namespace) -> int:
    from kartoteka.cli import django_setup

    django_setup()
    from kartoteka.estimation import services
    from kartoteka.estimation.access import declared_list_list_for_user

    user = acting_user(args)
    if args.declare:
        if not (args.source and args.population and args.period):
            raise CommandError("--declare NAME needs --source ID, --population and --period")
        try:
            d = services.declared_list_create(
                actor=user, source_id=args.source, name=args.declare, population=args.population,
                period=args.period,
            )  # fmt: skip
        except EstimationError as exc:
            raise CommandError(str(exc)) from None
        print(d.id)
        return 0
    for d in declared_list_list_for_user(user).order_by("name"):
        print(f"{d.name}\t{d.population}\t{d.period}\tsource={d.source_id}")
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    from kartoteka.cli import django_setup

    django_setup()
    from kartoteka.estimation import services

    user = acting_user(args)
    try:
        saved = services.estimate_approve(actor=user, estimate_id=args.estimate_id)
    except EstimationError as exc:
        raise CommandError(str(exc)) from None
    print(f"approved {saved.id}: {saved.method} {saved.estimate:.0f} ({saved.lower:.0f}–{saved.upper:.0f})")
    return 0


def register(sub: Any) -> None:
    def add(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
        p.set_defaults(func=func)
        p.add_argument("--as", dest="as_user", default=None, help="act as this user (see `kartoteka login`)")
        return p

    est = add("estimate", cmd_estimate, "estimate how many were never documented (capture–recapture)")
    est.add_argument("--table", default=None, help="overlap CSV: one 0/1 column per list and `count`")
    est.add_argument("--list", dest="lists", action="append", default=[], help="a declared list (repeat)")
    est.add_argument("--population", default=None, help="with --table: what the lists count")
    est.add_argument("--period", default=None, help="with --table: the period the lists cover")
    est.add_argument("--by-stratum", action="store_true", help="with --table: per `stratum` column, summed")
    est.add_argument("--by-region", action="store_true", help="with --list: per region, summed")
    est.add_argument("--save", action="store_true", help="with --list: save for approval and publication")
    est.add_argument("--lang", choices=("ru", "en"), default="ru")
    est.add_argument("--seed", type=int, default=0)
    est.add_argument("--chains", type=int, default=CHAINS_DEFAULT)
    est.add_argument("--iterations", type=int, default=ITERATIONS_DEFAULT)

    lists = add("estimate-lists", cmd_lists, "list declared lists, or declare a source as one")
    lists.add_argument("--declare", default=None, metavar="NAME", help="declare a new list with this name")
    lists.add_argument("--source", default=None, help="with --declare: the source id")
    lists.add_argument("--population", default=None, help="with --declare: what the list counts")
    lists.add_argument("--period", default=None, help="with --declare: the period it covers")

    approve = add("estimate-approve", cmd_approve, "approve a colleague's saved estimate for publication")
    approve.add_argument("estimate_id")
