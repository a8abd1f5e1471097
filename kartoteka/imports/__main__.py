"""`python -m kartoteka.imports FILE …`: the `kartoteka import` command without loading every other
command's modules first (the full CLI imports the statistics stack at start-up, seconds on a busy host)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kartoteka import clicommands
from kartoteka.imports import cli
from kartoteka.lib import keycli


def main(argv: list[str] | None = None) -> int:
    # As kartoteka.cli._default_dirs, without importing kartoteka.cli (and with it every command).
    data_dir = Path(os.environ.get("KARTOTEKA_DATA_DIR", "var")).expanduser().resolve()
    os.environ.setdefault(keycli.KEYS_DIR_ENV, str(data_dir / "keys"))
    top = argparse.ArgumentParser(prog="kartoteka")
    cli.register(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(["import", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except clicommands.CommandError as exc:
        print(f"kartoteka: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
