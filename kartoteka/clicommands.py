"""Commands of `kartoteka` that need the application: each is a thin door onto services and selectors.

Names and queries are read from standard input or a prompt, never from arguments (process lists and shell
history would keep them).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from kartoteka.lib.partialdate import PartialDateError
from kartoteka.lib.partialdate import parse as date_parse


class CommandError(Exception):
    """A refusal worth one clear line on stderr and exit code 1."""


def _setup() -> None:
    from kartoteka.cli import django_setup

    django_setup()


def read_text(prompt: str) -> str:
    """One line from the terminal (no echo of secrets is needed: names are not secrets to the typist)."""
    if sys.stdin.isatty():
        return input(prompt).strip()
    return sys.stdin.readline().strip()


def acting_user(args: argparse.Namespace) -> Any:
    """The user a command acts as: --as USER, with a live CLI session opened by `kartoteka login`."""
    from kartoteka.accounts.models import User
    from kartoteka.core import clisession

    username = args.as_user or os.environ.get("KARTOTEKA_USER")
    if not username:
        raise CommandError(
            "say who you are: --as USER (open a session first with `kartoteka login --as USER`)"
        )
    if not clisession.is_open(username):
        raise CommandError(f"no open session for {username}: run `kartoteka login --as {username}`")
    try:
        return User.objects.get(username=username, is_active=True)
    except User.DoesNotExist:
        raise CommandError(f"no active user {username}") from None


# --- database and server ---------------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace) -> int:
    _setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=1)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    _setup()
    from django.core.management import call_command

    call_command("check", deploy=args.deploy, fail_level="WARNING" if args.deploy else "ERROR")
    from kartoteka.core import sealing

    status = sealing.client().status()
    print(f"key agent: {'unlocked' if status.get('unlocked') else 'LOCKED'}")
    return cmd_audit_verify(args)


def cmd_serve(args: argparse.Namespace) -> int:
    _setup()
    from django.core.management import call_command

    call_command("check", fail_level="ERROR")
    from kartoteka.core.server import serve

    serve(host=args.host, port=args.port, workers=args.workers)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    _setup()
    from django.core.management import call_command

    extra = ["--batch"] if args.once else []
    call_command("db_worker", *extra)
    return 0


# --- audit -----------------------------------------------------------------------------------------------


def cmd_audit_verify(args: argparse.Namespace) -> int:
    _setup()
    from kartoteka.audit.services import chain_verify

    report = chain_verify(external_head=getattr(args, "head", None))
    print(str(report))
    return 0 if report.ok else 1


def cmd_audit_head(args: argparse.Namespace) -> int:
    _setup()
    from django.db import connection

    from kartoteka.lib import audit

    head = audit.head_read(connection)
    if head is None:
        print("the audit log is empty")
        return 0
    print(audit.head_text(head))
    return 0


# --- evidence --------------------------------------------------------------------------------------------


def _verify_line(report: Any) -> str:
    if report.ok:
        return f"{report.item_id} ok {report.chunks_checked} chunks"
    where = f"chunk {report.first_bad_chunk}" if report.first_bad_chunk is not None else "item"
    return f"{report.item_id} bad {where}: {report.problem}"


def cmd_evidence_verify(args: argparse.Namespace) -> int:
    """Re-hash every stored chunk against its manifest and check each custody chain. Keyless on purpose:
    it runs with the agent locked and opens nothing, so it can be scheduled on a machine holding no keys."""
    _setup()
    from pathlib import Path

    from django.conf import settings

    from kartoteka.lib import vault

    # The same root the triage side ingests into (intake.triage.services.files_to_vault).
    root = Path(settings.EVIDENCE_DIR) / "vault"
    bad = 0
    total = 0
    for item_id in vault.vault_items(root):
        total += 1
        try:
            report = vault.vault_verify(root, item_id)
        except vault.VaultError as exc:  # e.g. an item removed while we walk: still a bad item
            print(f"{item_id} bad item: {exc.__class__.__name__}")
            bad += 1
            continue
        print(_verify_line(report))
        bad += 0 if report.ok else 1
    print(f"{total} items checked, {bad} bad", file=sys.stderr)
    return 1 if bad else 0


# --- sessions --------------------------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    _setup()
    from django.contrib.auth import authenticate

    from kartoteka.core import clisession

    username = args.as_user
    if not username:
        raise CommandError("say who you are: --as USER")
    password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    user = authenticate(username=username, password=password)
    if user is None:
        raise CommandError("wrong user name or password")
    clisession.open_for(username, minutes=args.minutes)
    print(f"session for {username} open for {args.minutes} minutes")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    _setup()
    from kartoteka.core import clisession

    if args.as_user:
        clisession.close_for(args.as_user)
    return 0


# --- persons ---------------------------------------------------------------------------------------------


def cmd_person_add(args: argparse.Namespace) -> int:
    _setup()
    from kartoteka.accounts.models import Team
    from kartoteka.people.services import PersonInput, person_create

    user = acting_user(args)
    teams = list(Team.objects.filter(members=user))
    if args.team:
        teams = [t for t in teams if t.name == args.team]
    if len(teams) != 1:
        raise CommandError("name your team with --team (you belong to none or to several)")
    full_name = read_text("Full name: ")
    if not full_name:
        raise CommandError("no name given")
    try:
        birth = date_parse(args.birth_date) if args.birth_date else None
    except PartialDateError as exc:
        raise CommandError(f"--birth-date: {exc.message_en}") from None
    person = person_create(
        actor=user,
        team=teams[0],
        data=PersonInput(
            full_name=full_name, birth_date=birth, sex=args.sex or "", home_region_code=args.region
        ),
    )
    print(person.id)
    return 0


def cmd_person_find(args: argparse.Namespace) -> int:
    _setup()
    from kartoteka.people.selectors import person_find

    user = acting_user(args)
    query = read_text("Name to find: ")
    if not query:
        raise CommandError("no name given")
    for hit in person_find(user=user, query=query, limit=args.limit):
        print(f"{hit.person_id}\t{hit.full_name}")
    return 0


# --- ledger ----------------------------------------------------------------------------------------------


def _money(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


def _ledger_person(user: Any, person_id: str, *, lang: str | None, explain: bool) -> int:
    from kartoteka.accounts.access import NotFound
    from kartoteka.law.selectors import ledger_for_person

    try:
        view = ledger_for_person(user=user, person_id=person_id, lang=lang)
    except NotFound:
        raise CommandError("no such person (or not visible to you)") from None
    if not view.stored_current:
        print("# the stored ledger (queue, reports) is behind this one: run `kartoteka ledger recompute`")
    for line in view.lines:
        flag = " (legal question)" if line.legal_question else ""
        print(
            f"{line.due or '-'}\t{line.kind}#{line.sequence}\t{line.status}{flag}\t{_money(line.amount_due)}"
            f"\t{_money(line.amount_delivered)}\t{_money(line.amount_missing)} {line.currency}"
            f"\t{line.regime_id or '-'}\t[{','.join(line.confidence)}]"
        )
        if explain:
            print("    " + line.explanation.replace("\n", "\n    "))
    return 0


def _ledger_overdue(user: Any, args: argparse.Namespace) -> int:
    from kartoteka.accounts.models import Team
    from kartoteka.law.selectors import overdue_queue

    team_id = None
    if args.team:
        team = Team.objects.filter(name=args.team, members=user).first()
        if team is None:
            raise CommandError("--team: not one of your teams")
        team_id = team.id
    page = overdue_queue(user=user, team=team_id, regime=args.regime, page=args.page, per_page=args.per_page)
    for item in page.items:
        print(
            f"{item.person_id}\t{item.due or '-'}\t{item.kind}#{item.sequence}\t{item.status}"
            f"\t{_money(item.amount_missing)} {item.currency}\t{item.regime_id or '-'}\t{item.team}"
        )
    more = f"; next: --page {page.page + 1}" if page.has_next else ""
    print(f"# {page.total} lines overdue or broken{more}")
    return 0


def _ledger_recompute(user: Any, *, everything: bool) -> int:
    from django.core.exceptions import PermissionDenied

    from kartoteka.law.services import ledger_recompute_enqueue

    try:
        queued = ledger_recompute_enqueue(actor=user, everything=everything)
    except PermissionDenied as exc:
        raise CommandError(str(exc)) from None
    print(f"{queued.persons} ledgers queued in {queued.tasks} jobs; `kartoteka worker` runs them")
    return 0


def cmd_ledger(args: argparse.Namespace) -> int:
    _setup()
    user = acting_user(args)
    if args.target == "recompute":
        return _ledger_recompute(user, everything=args.all)
    if args.all:
        raise CommandError("--all goes with `ledger recompute`")
    if args.overdue:
        if args.target:
            raise CommandError("give either PERSON-ID or --overdue")
        return _ledger_overdue(user, args)
    if not args.target:
        raise CommandError("give PERSON-ID, --overdue or `recompute`")
    return _ledger_person(user, args.target, lang=args.lang, explain=args.explain)


# --- demo ------------------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from kartoteka.core import demo_setup

    return demo_setup.run(persons=args.persons, seed=args.seed, serve=args.serve)


def register(sub: Any) -> None:
    def add(name: str, func: Any, help_text: str, parent: Any = sub) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help_text)
        p.set_defaults(func=func)
        p.add_argument("--as", dest="as_user", default=None, help="act as this user (see `kartoteka login`)")
        return p

    add("migrate", cmd_migrate, "create or update the database tables")
    check = add("check", cmd_check, "check the configuration, the key agent and the audit chain")
    check.add_argument("--deploy", action="store_true", help="also Django's deployment checks")
    serve = add("serve", cmd_serve, "serve the web application")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=2)
    worker = add("worker", cmd_worker, "run background jobs")
    worker.add_argument("--once", action="store_true", help="run what is queued, then stop")

    audit_p = sub.add_parser("audit", help="the audit chain")
    audit_sub = audit_p.add_subparsers(dest="audit_command", required=True)
    verify = add("verify", cmd_audit_verify, "verify every entry, the signatures and the heads", audit_sub)
    verify.add_argument("--head", default=None, help="an off-site head line to compare with")
    add("head", cmd_audit_head, "print the current head for an off-site copy", audit_sub)

    evidence_p = sub.add_parser("evidence", help="the evidence vault")
    evidence_sub = evidence_p.add_subparsers(dest="evidence_command", required=True)
    add(
        "verify", cmd_evidence_verify, "re-hash every vault item and check its chain of custody", evidence_sub
    )

    login = add("login", cmd_login, "open a command-line session as a user (password asked)")
    login.add_argument("--minutes", type=int, default=60)
    add("logout", cmd_logout, "close the command-line session")

    person_p = sub.add_parser("person", help="add and find persons (names read from stdin or a prompt)")
    person_sub = person_p.add_subparsers(dest="person_command", required=True)
    padd = add("add", cmd_person_add, "add a person; prints the new id", person_sub)
    padd.add_argument("--team", default=None)
    padd.add_argument("--birth-date", default=None, help="e.g. 1985, 03.1985, 12.03.1985")
    padd.add_argument("--sex", choices=["m", "f"], default=None)
    padd.add_argument("--region", default=None, help="ISO 3166-2 code, e.g. RU-SVE")
    pfind = add("find", cmd_person_find, "find persons by any spelling; one line per match", person_sub)
    pfind.add_argument("--limit", type=int, default=20)

    ledger = add("ledger", cmd_ledger, "a person's promise ledger, the overdue queue, or a recompute")
    ledger.add_argument("target", nargs="?", default=None, help="PERSON-ID, or `recompute`")
    ledger.add_argument("--overdue", action="store_true", help="overdue and broken lines you may see")
    ledger.add_argument("--all", action="store_true", help="with `recompute`: every ledger, not only stale")
    ledger.add_argument("--explain", action="store_true", help="print each line's explanation")
    ledger.add_argument("--lang", choices=["ru", "en"], default=None)
    ledger.add_argument("--team", default=None, help="with --overdue: one of your teams, by name")
    ledger.add_argument("--regime", default=None, help="with --overdue: a regime id, e.g. fz64-2024")
    ledger.add_argument("--page", type=int, default=1)
    ledger.add_argument("--per-page", type=int, default=50)

    demo = add("demo", cmd_demo, "DEMO: keys, agent, migrations and synthetic data")
    demo.add_argument("--persons", type=int, default=2000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--serve", action="store_true", help="then serve on 127.0.0.1:8000")
