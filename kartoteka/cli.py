"""The `kartoteka` command: thin doors onto services. Key and agent commands need no Django.

Secrets and names are read from a prompt or standard input, never from arguments, so they cannot show in
process lists or shell history.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kartoteka import clicommands
from kartoteka.accounts import cli as accountscli
from kartoteka.backups import cli as backupcli
from kartoteka.estimation import cli as estimationcli
from kartoteka.exports import cli as exportcli
from kartoteka.imports import cli as importcli
from kartoteka.intake import cli as intakecli
from kartoteka.lib import keycli, keys
from kartoteka.linkage import cli as linkagecli
from kartoteka.reports import cli as reportcli


def _default_dirs() -> None:
    """Point key commands at the same directories the application uses, unless told otherwise."""
    data_dir = Path(os.environ.get("KARTOTEKA_DATA_DIR", "var")).expanduser().resolve()
    os.environ.setdefault(keycli.KEYS_DIR_ENV, str(data_dir / "keys"))


def django_setup() -> None:
    """Load the application for commands that touch the database (key commands do not need it)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kartoteka.settings")
    django.setup()


def _rotation_store() -> keys.EncryptedStore:
    django_setup()
    from kartoteka.core.rotation import DatabaseStore

    return DatabaseStore()


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="kartoteka", description="Kartoteka: documentation for prisoners' rights"
    )
    top.add_argument("--keys-dir", default=None, help="key directory (default: $KARTOTEKA_KEYS_DIR)")
    top.add_argument("--socket", default=None, help="key agent socket (default: <keys-dir>/run/agent.sock)")
    sub = top.add_subparsers(dest="command", required=True)
    keycli.register(sub, store_factory=_rotation_store)
    clicommands.register(sub)
    accountscli.register(sub)
    intakecli.register(sub)
    backupcli.register(sub)
    importcli.register(sub)
    estimationcli.register(sub)
    exportcli.register(sub)
    linkagecli.register(sub)
    reportcli.register(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    _default_dirs()
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except clicommands.CommandError as exc:
        print(f"kartoteka: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
