"""`kartoteka intake list|pull`: thin doors onto kartoteka.intake.services and .pull."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

TOKEN_ENV = "KARTOTEKA_INTAKE_SYNC_TOKEN"  # noqa: S105 - the variable's name, not a secret


def _setup() -> None:
    from kartoteka.cli import django_setup

    django_setup()


def cmd_list(args: argparse.Namespace) -> int:
    _setup()
    from kartoteka.intake import services

    for sub_id, day, kind in services.submissions_list():
        print(f"{sub_id} {day.isoformat()} {kind}")
    return 0


def _token(args: argparse.Namespace) -> str:
    if args.token_file:
        return Path(args.token_file).read_text().strip()
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        from kartoteka.clicommands import CommandError

        raise CommandError(f"give the sync secret in --token-file or ${TOKEN_ENV}")
    return token


def cmd_pull(args: argparse.Namespace) -> int:
    _setup()
    from kartoteka.clicommands import CommandError
    from kartoteka.intake.pull import PullError, pull

    try:
        report = pull(args.source, _token(args), batch=args.batch)
    except PullError as exc:
        raise CommandError(str(exc)) from None
    print(f"stored {report.stored}, acknowledged {report.acknowledged}, replies sent {report.replies_sent}")
    return 0


def register(sub: Any) -> None:
    intake_p = sub.add_parser("intake", help="the public intake: list and pull sealed submissions")
    intake_sub = intake_p.add_subparsers(dest="intake_command", required=True)
    lst = intake_sub.add_parser(
        "list", help="one line per stored submission: random id and day (no decryption)"
    )
    lst.set_defaults(func=cmd_list)
    pull_p = intake_sub.add_parser("pull", help="fetch sealed submissions from a separate intake host")
    pull_p.add_argument("--from", dest="source", required=True, help="the intake host's base URL (https://…)")
    pull_p.add_argument(
        "--token-file", default=None, help=f"file holding the sync secret (else ${TOKEN_ENV})"
    )
    pull_p.add_argument("--batch", type=int, default=20)
    pull_p.set_defaults(func=cmd_pull)
