"""`kartoteka otp-reset USERNAME --as ADMIN`: remove a user's second factor so they enrol a new one.

For a lost phone, and for authenticators set up before seeds were sealed (they no longer verify). The
user's next sign-in with their password goes to enrolment, so an admin should reset only after reaching
the user by another channel.
"""

from __future__ import annotations

import argparse
from typing import Any


def cmd_otp_reset(args: argparse.Namespace) -> int:
    from kartoteka.cli import django_setup
    from kartoteka.clicommands import CommandError, acting_user

    django_setup()
    from kartoteka.accounts import otp
    from kartoteka.accounts.models import Role, User

    actor = acting_user(args)
    if actor.role != Role.ADMIN:
        raise CommandError("only an administrator can reset a second factor")
    user = User.objects.filter(username=args.username).first()
    if user is None:
        raise CommandError(f"no user {args.username}")
    removed = otp.devices_reset(user=user, actor=str(actor.id))
    print(f"{args.username}: {removed} authenticator(s) and the recovery codes removed; enrolment reopens")
    return 0


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "otp-reset", help="remove a user's authenticator and recovery codes (they enrol again)"
    )
    p.set_defaults(func=cmd_otp_reset)
    p.add_argument("username")
    p.add_argument("--as", dest="as_user", default=None, help="the administrator acting")
