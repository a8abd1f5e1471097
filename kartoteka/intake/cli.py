"""`kartoteka intake list|pull|keys`: thin doors onto kartoteka.intake.services, .pull and the triage keys'
services and selectors."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
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


def _new_passphrase() -> str:
    """The triage user's passphrase, typed twice at a terminal (the user themself should type it), or the
    first line of standard input; never an argument, which process lists and shell history keep."""
    from kartoteka.clicommands import CommandError

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Passphrase for the new triage key: ")
    if getpass.getpass("Again: ") != first:
        raise CommandError("the two passphrases differ")
    return first


def _key_line(key: Any) -> str:
    state = f"revoked {key.revoked_day.isoformat()}" if key.revoked_day else "active"
    return f"{key.id} {key.user.username} {key.created_day.isoformat()} {state} {key.recipient}"


def cmd_keys_list(args: argparse.Namespace) -> int:
    _setup()
    from kartoteka.clicommands import acting_user
    from kartoteka.intake.triage.selectors import triage_key_list_for_user

    for key in triage_key_list_for_user(user=acting_user(args)):
        print(_key_line(key))
    return 0


def cmd_keys_add(args: argparse.Namespace) -> int:
    _setup()
    from kartoteka.accounts.access import NotFound
    from kartoteka.accounts.models import User
    from kartoteka.clicommands import CommandError, acting_user
    from kartoteka.intake.triage.services import triage_key_create
    from kartoteka.lib import keys

    actor = acting_user(args)
    user = User.objects.filter(username=args.user).first()
    if user is None:
        raise CommandError(f"no user {args.user}")
    try:
        key = triage_key_create(actor=actor, user=user, passphrase=_new_passphrase())
    except NotFound:
        raise CommandError("only an admin creates triage keys for others") from None
    except (ValueError, keys.KeysError) as exc:
        raise CommandError(str(exc)) from None
    print(_key_line(key))
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    _setup()
    from kartoteka.accounts.access import NotFound
    from kartoteka.clicommands import CommandError, acting_user
    from kartoteka.intake.triage.selectors import triage_key_get_for_user
    from kartoteka.intake.triage.services import triage_key_revoke

    actor = acting_user(args)
    try:
        key = triage_key_get_for_user(user=actor, key_id=args.key)
        if key.revoked_day is not None:
            raise CommandError(f"triage key {key.id} is already revoked")
        triage_key_revoke(actor=actor, key=key)
    except NotFound:
        raise CommandError(f"no triage key {args.key} that you may revoke") from None
    print(_key_line(key))
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
    _register_keys(intake_sub)


def _register_keys(intake_sub: Any) -> None:
    keys_p = intake_sub.add_parser(
        "keys", help="triage keys: the recipients new submissions are sealed to (admins manage them)"
    )
    keys_sub = keys_p.add_subparsers(dest="keys_command", required=True)
    as_help = "act as this user (see `kartoteka login`)"
    lst = keys_sub.add_parser("list", help="one line per key: id, user, day created, state, public recipient")
    lst.add_argument("--as", dest="as_user", default=None, help=as_help)
    lst.set_defaults(func=cmd_keys_list)
    add = keys_sub.add_parser(
        "add", help="a new triage key for a user; its passphrase is asked (or read from standard input)"
    )
    add.add_argument("--as", dest="as_user", default=None, help=as_help)
    add.add_argument("--user", required=True, help="the user who will hold the key")
    add.set_defaults(func=cmd_keys_add)
    revoke = keys_sub.add_parser("revoke", help="stop sealing new submissions to a key (by its id)")
    revoke.add_argument("--as", dest="as_user", default=None, help=as_help)
    revoke.add_argument("key", help="the key's id, from `kartoteka intake keys list`")
    revoke.set_defaults(func=cmd_keys_revoke)
