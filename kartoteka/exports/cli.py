"""`kartoteka export staff|public|huridocs|uwazi|key|open|facility`: thin doors onto exports.services.

Secrets (the age secret key that opens an export) are read from a file or a prompt/standard input, never
from arguments.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

PLAINTEXT_WARNING = (
    "ВНИМАНИЕ: выгрузка записана НЕЗАШИФРОВАННОЙ и содержит персональные данные; это записано в журнал "
    "аудита. Удалите файлы, как только они не нужны.\n"
    "WARNING: the export is written UNENCRYPTED and holds personal data; this is recorded in the audit "
    "log. Delete the files as soon as they are no longer needed."
)


def _setup() -> None:
    from kartoteka.cli import django_setup

    django_setup()


def _errors() -> tuple[type[Exception], ...]:
    from kartoteka.accounts.access import NotFound
    from kartoteka.exports.public import UnsafeReleaseError
    from kartoteka.exports.writers import ExportError

    return (ExportError, UnsafeReleaseError, PermissionError, NotFound, OSError)


def _run(args: argparse.Namespace, action: Any) -> int:
    _setup()
    from kartoteka.clicommands import CommandError, acting_user

    user = acting_user(args)
    try:
        result = action(user)
    except _errors() as exc:
        raise CommandError(str(exc) or type(exc).__name__) from None
    if getattr(result, "files", None) is not None:
        for path in result.files:
            print(path)
        if not result.sealed and result.kind != "public":
            print(PLAINTEXT_WARNING, file=sys.stderr)
    return 0


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text}") from None


def cmd_staff(args: argparse.Namespace) -> int:
    from kartoteka.exports import services

    return _run(
        args,
        lambda user: services.staff_export(
            actor=user, out=args.out, fmt=args.format, plaintext=args.plaintext
        ),
    )


def cmd_public(args: argparse.Namespace) -> int:
    def action(user: Any) -> Any:
        from django.utils import timezone

        from kartoteka.exports import services

        quarters = services.public_period(args.start, args.end, today=timezone.now().date())
        return services.public_export(actor=user, out=args.out, quarters=quarters, k=args.k)

    return _run(args, action)


def cmd_huridocs(args: argparse.Namespace) -> int:
    from kartoteka.exports import services

    return _run(
        args,
        lambda user: services.huridocs_export(
            actor=user, out=args.out, plaintext=args.plaintext, publishable_only=args.publishable_only
        ),
    )


def cmd_uwazi(args: argparse.Namespace) -> int:
    from kartoteka.exports import services

    return _run(
        args,
        lambda user: services.uwazi_export(
            actor=user, out=args.out, plaintext=args.plaintext, publishable_only=args.publishable_only
        ),
    )


def cmd_key_new(args: argparse.Namespace) -> int:
    """A fresh age identity: the secret goes to a new 0600 file, the public half is registered."""
    from kartoteka.clicommands import CommandError
    from kartoteka.lib import crypto

    path: Path = args.identity_file
    if path.exists():
        raise CommandError(f"{path} already exists: not overwriting a key")

    def action(user: Any) -> Any:
        from kartoteka.exports import services

        identity = crypto.identity_new()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"# public key: {identity.recipient}\n{identity.secret}\n")
        services.export_key_set(actor=user, recipient=identity.recipient)
        print(f"registered {identity.recipient}; secret key in {path} (keep it off the server)")

    return _run(args, action)


def cmd_key_set(args: argparse.Namespace) -> int:
    from kartoteka.clicommands import read_text

    def action(user: Any) -> Any:
        from kartoteka.exports import services

        key = services.export_key_set(actor=user, recipient=read_text("age public key (age1…): "))
        print(f"registered {key.recipient}")

    return _run(args, action)


def _secret(args: argparse.Namespace) -> str:
    if args.identity_file is not None:
        lines = Path(args.identity_file).read_text().splitlines()
        return next((ln.strip() for ln in lines if ln.strip().startswith("AGE-SECRET-KEY-")), "")
    if sys.stdin.isatty():
        return getpass.getpass("age secret key (AGE-SECRET-KEY-1…): ")
    return sys.stdin.readline().strip()


def cmd_open(args: argparse.Namespace) -> int:
    """Decrypt sealed export files into --out (on the user's own machine, not the server)."""
    from kartoteka.clicommands import CommandError
    from kartoteka.exports.writers import ExportError, file_open, files_write

    secret = _secret(args)
    try:
        files = {Path(p).name.removesuffix(".age"): file_open(Path(p), secret) for p in args.files}
        for path in files_write(args.out, files, recipient=None):
            print(path)
    except (ExportError, OSError) as exc:
        raise CommandError(str(exc)) from None
    return 0


def cmd_facility(args: argparse.Namespace) -> int:
    def action(user: Any) -> Any:
        from kartoteka.exports import services
        from kartoteka.exports.models import FacilityRelease

        if args.facility_action == "list":
            for r in FacilityRelease.objects.select_related("facility").order_by("proposed_at"):
                print(f"{r.id} {r.facility.key} {r.status}")
            return None
        if args.facility_action == "propose":
            release = services.facility_release_propose(actor=user, facility_key=args.target)
        elif args.facility_action == "approve":
            release = services.facility_release_approve(actor=user, release_id=args.target)
        else:
            release = services.facility_release_withdraw(actor=user, release_id=args.target)
        print(f"{release.id} {release.facility.key} {release.status}")
        return None

    return _run(args, action)


def _as(p: argparse.ArgumentParser) -> None:
    p.add_argument("--as", dest="as_user", default=None, help="act as this user (see `kartoteka login`)")


def _out(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out", type=Path, required=True, help="output directory (created 0700; must not hold the files)"
    )


def _sealing_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--plaintext",
        action="store_true",
        help="write unencrypted files (audited; otherwise files are sealed to your export key)",
    )


def register(sub: Any) -> None:
    export_p = sub.add_parser("export", help="exports: staff (sealed), public data set, HURIDOCS, Uwazi")
    export_sub = export_p.add_subparsers(dest="export_command", required=True)

    staff = export_sub.add_parser("staff", help="records, incidents, sources you may see (sealed to you)")
    _as(staff)
    _out(staff)
    _sealing_flags(staff)
    staff.add_argument("--format", choices=("csv", "xlsx", "json"), default="csv")
    staff.set_defaults(func=cmd_staff)

    pub = export_sub.add_parser("public", help="the public aggregate data set, with its methodology note")
    _as(pub)
    _out(pub)
    pub.add_argument(
        "--from", dest="start", type=_date, default=None, help="first day (snapped to its quarter)"
    )
    pub.add_argument("--to", dest="end", type=_date, default=None, help="last day (snapped to its quarter)")
    pub.add_argument("--k", type=int, default=5, help="smallest count published (default 5)")
    pub.set_defaults(func=cmd_public)

    for name, func, text in (
        ("huridocs", cmd_huridocs, "HURIDOCS ESF-style JSON: events, acts, victims, perpetrators, sources"),
        ("uwazi", cmd_uwazi, "Uwazi-importable CSVs (incidents, victims)"),
    ):
        p = export_sub.add_parser(name, help=text)
        _as(p)
        _out(p)
        _sealing_flags(p)
        p.add_argument(
            "--publishable-only",
            action="store_true",
            help="only incidents with a source whose consent allows publication",
        )
        p.set_defaults(func=func)

    key = export_sub.add_parser("key", help="your export key (an age public key staff exports are sealed to)")
    key_sub = key.add_subparsers(dest="key_command", required=True)
    new = key_sub.add_parser("new", help="make a key pair: secret to a new file, public half registered")
    _as(new)
    new.add_argument("--identity-file", type=Path, required=True)
    new.set_defaults(func=cmd_key_new)
    kset = key_sub.add_parser("set", help="register an existing age public key, read from standard input")
    _as(kset)
    kset.set_defaults(func=cmd_key_set)

    opener = export_sub.add_parser("open", help="decrypt sealed export files with your age secret key")
    opener.add_argument("files", nargs="+")
    opener.add_argument("--identity-file", default=None, help="file holding AGE-SECRET-KEY-1… (else prompt)")
    _out(opener)
    opener.set_defaults(func=cmd_open)

    fac = export_sub.add_parser("facility", help="facility rows of the public data set: propose, approve")
    fac_sub = fac.add_subparsers(dest="facility_action", required=True)
    for action, target in (
        ("propose", "facility key"),
        ("approve", "release id"),
        ("withdraw", "release id"),
    ):
        p = fac_sub.add_parser(action)
        _as(p)
        p.add_argument("target", help=target)
        p.set_defaults(func=cmd_facility)
    lst = fac_sub.add_parser("list")
    _as(lst)
    lst.set_defaults(func=cmd_facility)
