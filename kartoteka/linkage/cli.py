"""`kartoteka link dedupe|list`: thin doors onto kartoteka.linkage.engine.runs.

Output is ids, scores and counts only, never a name: the terminal and its scrollback are not a safe place.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _team(user: Any, name: str | None) -> Any:
    from kartoteka.accounts.models import Team
    from kartoteka.clicommands import CommandError

    if name is None:
        return None
    team = Team.objects.filter(name=name).first()
    if team is None:
        raise CommandError(f"no such team: {name}")
    return team


def _engine_check(engine: str) -> None:
    from kartoteka.clicommands import CommandError
    from kartoteka.linkage.engine.backends import java_available

    if engine == "spark" and not java_available():
        raise CommandError("--engine spark needs Java: `java` was not found on PATH")


def cmd_dedupe(args: argparse.Namespace) -> int:
    from kartoteka.cli import django_setup

    django_setup()
    from django.core.exceptions import PermissionDenied

    from kartoteka.clicommands import CommandError, acting_user
    from kartoteka.linkage.engine import runs

    user = acting_user(args)
    _engine_check(args.engine)
    try:
        report = runs.dedupe(
            actor=user, team=_team(user, args.team), engine=args.engine, apply=not args.no_merge
        )
    except PermissionDenied as exc:
        raise CommandError(str(exc)) from None
    print(f"run {report.run_id} model {report.model_version} engine {args.engine}")
    print(
        f"records {report.records}, pairs scored {report.pairs_scored}, stored {report.pairs_stored} "
        f"(auto {report.auto}, review {report.review}), clusters {len(report.clusters)}, "
        f"merge events {report.merge_events}"
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from kartoteka.cli import django_setup

    django_setup()
    from django.core.exceptions import PermissionDenied

    from kartoteka.clicommands import CommandError, acting_user
    from kartoteka.imports.mapping import MappingError
    from kartoteka.imports.readers import ReadError
    from kartoteka.linkage.engine import runs

    user = acting_user(args)
    _engine_check(args.engine)
    path = Path(args.file)
    if not path.is_file():
        raise CommandError(f"no such file: {path}")
    try:
        report, matches = runs.link_list(
            actor=user, team=_team(user, args.team), path=path,
            mapping_path=Path(args.mapping) if args.mapping else None, engine=args.engine,
        )  # fmt: skip
    except (PermissionDenied, MappingError, ReadError) as exc:
        raise CommandError(str(exc)) from None
    print("row\trecord\tperson\tprobability\tstatus")
    for m in matches:
        print(f"{m.row}\t{m.record_id}\t{m.person_id or ''}\t{m.match_probability:.4f}\t{m.status}")
    print(
        f"run {report.run_id} model {report.model_version}: {report.auto} auto, {report.review} to review, "
        f"against {report.records} records"
    )
    return 0


def register(sub: Any) -> None:
    link = sub.add_parser("link", help="record linkage: score duplicate records, link an external list")
    link_sub = link.add_subparsers(dest="link_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--as", dest="as_user", default=None, help="act as this user (see `kartoteka login`)")
        p.add_argument("--team", default=None, help="the team whose records to link (default: all; admins)")
        p.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb")

    dedupe = link_sub.add_parser("dedupe", help="score pairs of records in the database, store and merge")
    common(dedupe)
    dedupe.add_argument("--no-merge", action="store_true", help="store scored pairs, merge nothing")
    dedupe.set_defaults(func=cmd_dedupe)
    lst = link_sub.add_parser("list", help="link an external CSV/XLSX list against the database")
    common(lst)
    lst.add_argument("file")
    lst.add_argument("--mapping", default=None, help="a column mapping JSON (as for `kartoteka import`)")
    lst.set_defaults(func=cmd_list)
