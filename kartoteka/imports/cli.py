"""`kartoteka import FILE …`: a thin door onto kartoteka.imports.services (and .telegram, .kobo).

The last line on stdout is the summary ``imported=N quarantined=M flagged=F duplicates=D``; per-row
problems (row, column, reason) go to stderr in the chosen language, never with a cell's value.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

MESSAGES: dict[str, tuple[str, str]] = {
    "columns_unrecognised": (
        "не распознаны столбцы: {cols}. Запишите предложение (--propose-mapping M), проверьте и "
        "повторите с --mapping M",
        "columns not recognised: {cols}. Write a proposal (--propose-mapping M), review it and run "
        "again with --mapping M",
    ),
    "columns_unmapped": ("столбцов нет в схеме: {cols}", "columns missing from the mapping: {cols}"),
    "fields_unknown": ("неизвестные поля в схеме для: {cols}", "unknown fields in the mapping for: {cols}"),
    "fields_doubled": ("поле назначено дважды: {cols}", "field mapped twice: {cols}"),
    "mapping_malformed": ("схема не в формате kartoteka-import-mapping/1", "the mapping is malformed"),
    "mapping_unreadable": ("схему нельзя прочитать", "the mapping cannot be read"),
    "mapping_changed": (
        "этот файл уже импортируется с другой схемой; продолжите с прежней",
        "this file is being imported with another mapping; resume with the same one",
    ),
    "file_imported_elsewhere": ("этот файл уже импортирован", "this file was already imported"),
    "encoding_undecided": (
        "кодировку файла не удалось определить (поддерживаются UTF-8, UTF-16, Windows-1251, KOI8-R)",
        "the file's encoding cannot be told (UTF-8, UTF-16, Windows-1251 and KOI8-R are supported)",
    ),
    "empty_file": ("файл пуст", "the file is empty"),
    "header_missing": ("нет строки заголовков", "no header row"),
    "header_unreadable": ("строку заголовков нельзя прочитать", "the header row cannot be read"),
    "xlsx_unreadable": ("файл XLSX повреждён", "the XLSX file is damaged"),
    "sheet_missing": ("нет такого листа", "no such sheet"),
    "disk_full": (
        "диск заполнен: импорт остановлен, завершённые пакеты сохранены, незавершённый отменён; "
        "освободите место и повторите команду — импорт продолжится",
        "the disk is full: the import stopped; finished batches are kept, the unfinished one was rolled "
        "back; free some space and run the command again to resume",
    ),
    "upload_missing": ("выберите файл", "choose a file"),
    "team_missing": ("выберите команду", "choose a team"),
    "telegram_malformed": ("это не экспорт Telegram Desktop (result.json)", "not a Telegram Desktop export"),
    "kobo_malformed": ("это не экспорт KoboToolbox/ODK", "not a KoboToolbox/ODK export"),
}


def message(code: str, lang: str, columns: list[str] | None = None) -> str:
    pair = MESSAGES.get(code, (code, code))
    text = pair[0] if lang == "ru" else pair[1]
    return text.format(cols=", ".join(f"«{c}»" for c in columns or []))


def _setup() -> None:
    # Not kartoteka.cli.django_setup: importing kartoteka.cli loads every command's modules first.
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kartoteka.settings")
    django.setup()


def _team(user: Any, name: str | None) -> Any:
    from kartoteka.accounts.models import Team
    from kartoteka.clicommands import CommandError

    teams = list(Team.objects.filter(members=user))
    if name:
        teams = [t for t in teams if t.name == name]
    if len(teams) != 1:
        raise CommandError("name your team with --team (you belong to none or to several)")
    return teams[0]


def _progress(enabled: bool) -> tuple[Any, Any]:
    from tqdm import tqdm

    bar = tqdm(unit=" rows", file=sys.stderr, disable=not enabled, mininterval=0.5)
    state = {"n": 0}

    def update(done: int) -> None:
        bar.update(done - state["n"])
        state["n"] = done

    return bar, update


def _propose(args: argparse.Namespace, lang: str) -> int:
    from kartoteka.imports import mapping, services

    proposal, meta = services.mapping_propose(Path(args.file))
    out = Path(args.propose_mapping)
    found = mapping.from_proposal(proposal)
    out.write_text(found.to_json(), encoding="utf-8")
    print(f"# {meta['kind']} {meta['encoding'] or ''} delimiter={meta['delimiter']!r}", file=sys.stderr)
    missing = proposal.unrecognised()
    if missing:
        print(message("columns_unrecognised", lang, missing), file=sys.stderr)
    print(f"mapping written to {out}")
    return 0


def _report_errors(report: Any, lang: str) -> None:
    from kartoteka.imports.rows import reason_text

    head = ("строка", "столбец", "причина") if lang == "ru" else ("row", "column", "reason")
    if report.errors:
        print("\t".join(head), file=sys.stderr)
    for row, column, code in report.errors:
        print(f"{row}\t{column or '-'}\t{reason_text(code, lang)}", file=sys.stderr)
    hidden = report.quarantined - len({r for r, _, _ in report.errors})
    if hidden > 0:
        more = "и ещё строк с ошибками" if lang == "ru" else "more rows with problems"
        print(f"… {more}: {hidden}", file=sys.stderr)


def cmd_import(args: argparse.Namespace) -> int:
    _setup()
    from kartoteka.clicommands import CommandError, acting_user
    from kartoteka.imports import mapping, services

    lang = args.lang or "ru"
    path = Path(args.file)
    if not path.exists():
        raise CommandError(f"{args.file}: no such file")
    try:
        if args.propose_mapping:
            return _propose(args, lang)
        user = acting_user(args)
        team = _team(user, args.team)
        if args.format == "telegram" or (args.format is None and path.is_dir()):
            return _telegram(args, user, team, lang)
        if args.format == "kobo":
            return _kobo(args, user, team, lang)
        chosen = mapping.load(Path(args.mapping)) if args.mapping else None
        bar, update = _progress(not args.quiet)
        try:
            report = services.table_import(
                actor=user, team=team, path=path, mapping=chosen, dry_run=args.dry_run, progress=update
            )
        finally:
            bar.close()
    except (services.ImportRefused, mapping.MappingError) as exc:
        raise CommandError(message(exc.code, lang, exc.columns)) from None
    if report.already:
        done = "строк уже импортировано ранее" if lang == "ru" else "rows already imported before"
        print(f"# {done}: {report.already}", file=sys.stderr)
    _report_errors(report, lang)
    print(report.summary())
    return 0


def _telegram(args: argparse.Namespace, user: Any, team: Any, lang: str) -> int:
    from kartoteka.imports import telegram

    result = telegram.telegram_import(actor=user, team=team, path=Path(args.file), dry_run=args.dry_run)
    print(result.summary())
    return 0


def _kobo(args: argparse.Namespace, user: Any, team: Any, lang: str) -> int:
    from kartoteka.clicommands import CommandError
    from kartoteka.imports import kobo, mapping

    if not args.mapping:
        raise CommandError(message("columns_unmapped", lang, ["--mapping"]))
    report = kobo.kobo_import(
        actor=user,
        team=team,
        path=Path(args.file),
        mapping=mapping.load(Path(args.mapping)),
        media=Path(args.media) if args.media else None,
        dry_run=args.dry_run,
    )
    _report_errors(report, lang)
    print(report.summary())
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "import",
        help="import a CSV/XLSX sheet, a Telegram Desktop export or a Kobo/ODK export",
        description="Ends with: imported=N quarantined=M flagged=F duplicates=D",
    )
    p.set_defaults(func=cmd_import)
    p.add_argument("file", help="a .csv/.xlsx file, or a Telegram export directory (with result.json)")
    p.add_argument("--mapping", default=None, help="a mapping file (JSON) from --propose-mapping")
    p.add_argument("--propose-mapping", default=None, metavar="OUT", help="write the proposed mapping")
    p.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    p.add_argument("--team", default=None, help="one of your teams, by name")
    p.add_argument("--as", dest="as_user", default=None, help="act as this user (see `kartoteka login`)")
    p.add_argument("--format", choices=["table", "telegram", "kobo"], default=None)
    p.add_argument("--media", default=None, help="with --format kobo: the directory of attachments")
    p.add_argument("--lang", choices=["ru", "en"], default=None, help="language of messages (default ru)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
