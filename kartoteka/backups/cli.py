"""``kartoteka backup`` and ``kartoteka restore``: thin doors onto kartoteka.backups.

The recovery secret is read from the terminal without echo, or one line from standard input, never from
an argument or the environment (process lists and shell history keep those).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

DATABASE_URL_ENV = "DATABASE_URL"


def cmd_backup(args: argparse.Namespace) -> int:
    from kartoteka.cli import django_setup

    django_setup()
    from kartoteka.backups.archive import BackupError
    from kartoteka.backups.services import backup_create, default_name
    from kartoteka.clicommands import CommandError
    from kartoteka.lib import agent, keys

    out = Path(args.out) if args.out else Path.cwd() / default_name()
    try:
        result = backup_create(out=out)
    except (BackupError, keys.KeysError, agent.AgentError) as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:  # a full or read-only disk: nothing was left behind
        raise CommandError(f"the backup failed and was removed: {exc.strerror} ({exc.filename})") from None
    for rel in result.skipped:
        print(f"skipped (not a regular file): {rel}", file=sys.stderr)
    head = result.audit_head.split(" ")[1] if result.audit_head else "empty"
    print(
        f"backup {result.backup_id} written to {result.path}: {result.size} bytes, sha256 {result.sha256}; "
        f"database {result.db_kind}, {result.evidence_items} evidence items, {result.files} files, "
        f"audit head {head}"
    )
    print("sealed to the recovery key: only the recovery secret opens it", file=sys.stderr)
    return 0


def _read_secret() -> str:
    """At a terminal, one line without echo; piped, the whole input, so the grouped form as printed by
    `keys init` (several lines) works as well as the one-piece form."""
    if sys.stdin.isatty():
        from kartoteka.lib import keycli

        return keycli.read_secret("Recovery secret: ")
    return sys.stdin.read()


def cmd_restore(args: argparse.Namespace) -> int:
    from kartoteka.backups.archive import BackupError
    from kartoteka.backups.restore import restore
    from kartoteka.clicommands import CommandError
    from kartoteka.lib import agent, keys

    backup = Path(args.file)
    if not backup.is_file():
        raise CommandError(f"{backup} is not a file")
    secret = _read_secret()
    try:
        report = restore(
            backup=backup,
            data_dir=Path(args.data_dir),
            secret=secret,
            database_url=os.environ.get(DATABASE_URL_ENV) or None,
            external_head=args.head,
            keep_damaged=args.keep_damaged,
        )
    except (BackupError, keys.KeysError, agent.AgentError) as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"the restore failed, nothing was kept: {exc.strerror} ({exc.filename})") from None
    for line in report.evidence_bad:
        print(line)
    print(f"evidence: {report.evidence_total} items opened and re-hashed, {len(report.evidence_bad)} bad")
    if report.audit_report is not None:
        print(str(report.audit_report))
    for problem in report.problems:
        print(f"problem: {problem}")
    if report.ok:
        print(
            f"restored backup {report.backup_id} ({report.db_kind}, {report.files} files) into {report.data_dir}"
        )
        if report.head_line:
            print(f"new audit head (keep it off-site; write it to the head file): {report.head_line}")
        return 0
    where = f"kept in {report.data_dir} for inspection" if report.kept else "nothing was kept"
    print(f"restore FAILED its checks; {where}", file=sys.stderr)
    return 1


def register(sub: Any) -> None:
    backup = sub.add_parser("backup", help="write an encrypted backup (database, keys, evidence)")
    backup.set_defaults(func=cmd_backup)
    backup.add_argument(
        "--out", default=None, help="the backup file (default: ./kartoteka-backup-<time>.age)"
    )
    restore = sub.add_parser("restore", help="restore a backup into a new data directory (recovery secret)")
    restore.set_defaults(func=cmd_restore)
    restore.add_argument("file", help="the backup file")
    restore.add_argument("--data-dir", required=True, help="a new or empty directory to restore into")
    restore.add_argument("--head", default=None, help="an off-site audit head line the chain must contain")
    restore.add_argument(
        "--keep-damaged",
        action="store_true",
        help="keep a restore whose evidence or audit checks fail (it still exits 1)",
    )
