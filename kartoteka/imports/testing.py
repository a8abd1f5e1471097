"""Synthetic sheets for the import tests and benchmarks: valid rows, broken rows of known kinds, duplicates.

Every name is random Cyrillic letters, so a test can use the names of broken rows as canary markers.
"""

from __future__ import annotations

import csv
import io
import os
import random
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from kartoteka.lib import agent, keys

HEADERS = [
    "ФИО",
    "Дата рождения",
    "Пол",
    "Регион",
    "Учреждение",
    "Статья",
    "Статус",
    "Вербовщик",
    "Дата контракта",
    "Примечание",
]
_LETTERS = "абвгдежзийклмнопрстуфхцчшщэюя"
_GIVEN = ["Иван", "Пётр", "Сергей", "Алексей", "Дмитрий", "Николай", "Андрей", "Юрий", "Олег", "Виктор"]
_PLACES = [
    ("Свердловская область", "ИК-2 Свердловская обл."),
    ("Калужская область", "ФКУ ИК-4 УФСИН России по Калужской области"),
    ("Курганская область", "ИК-2 Курганская область"),
    ("Владимирская область", "ИК-6 Мелехово"),
    ("Нижегородская область", "ЛИУ-3 Нижегородская обл."),
]
_NOTES = [
    "",
    "звонила мать",
    'сказал "приедут в пятницу"',
    "первая строка\nвторая строка",
    'кавычки "внутри"; и точка с запятой, и запятая | и черта',
    "табуляция\tвнутри",
]

# kind → (column, reason code): what the importer must say about a broken row of that kind.
BROKEN_KINDS: dict[str, tuple[str, str]] = {
    "no_name": ("ФИО", "name_missing"),
    "digits_name": ("ФИО", "name_invalid"),
    "feb_31": ("Дата рождения", "date_invalid"),
    "words_date": ("Дата рождения", "date_invalid"),
    "future_birth": ("Дата рождения", "date_future"),
    "birth_1799": ("Дата рождения", "birth_impossible"),
    "contract_before_birth": ("Дата контракта", "contract_before_birth"),
    "bad_sex": ("Пол", "sex_invalid"),
    "bad_recruiter": ("Вербовщик", "recruiter_unknown"),
    "bad_status": ("Статус", "status_unknown"),
    "extra_column": ("", "columns"),
    "missing_column": ("", "columns"),
    "excel_error": ("Дата рождения", "excel_error"),
    "control_char": ("ФИО", "control_chars"),
    "too_long": ("Примечание", "text_too_long"),
}


@dataclass
class Sheet:
    headers: list[str]
    rows: list[list[str]]  # data rows, in file order (row k of this list is file row k + 2)
    valid: int
    flagged: int
    duplicates: int
    broken: dict[int, tuple[str, str, str]] = field(default_factory=dict)  # file row → (kind, column, code)
    broken_names: list[str] = field(default_factory=list)  # names in broken rows (canary markers)


def random_name(rng: random.Random) -> str:
    surname = "".join(rng.choice(_LETTERS) for _ in range(9))
    return f"{surname.capitalize()}ов {rng.choice(_GIVEN)} {rng.choice(_GIVEN)}ович"


def _valid_row(rng: random.Random, i: int) -> list[str]:
    region, facility = _PLACES[i % len(_PLACES)]
    year = rng.randint(1960, 2000)
    born = f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.{year}"
    if i % 10 == 3:
        born = str(year)
    elif i % 10 == 4:
        born = f"{rng.randint(1, 12):02d}.{year}"
    elif i % 10 == 5:
        born = str(int(rng.randint(0, 9000) + 21916))  # an Excel serial (1960..1984) as text
    elif i % 10 == 6:
        born = f"{rng.randint(1, 28)} марта {year}"
    recruiter, contract = "", ""
    if i % 3 == 0:
        recruiter, contract = "Вагнер", f"{rng.randint(1, 28):02d}.{rng.choice([8, 9, 10, 11])}.2022"
    elif i % 3 == 1:
        recruiter, contract = "Шторм Z", f"2023-{rng.randint(3, 8):02d}-{rng.randint(1, 28):02d}"
    return [
        random_name(rng),
        born,
        "м" if i % 7 else "ж",
        region,
        facility,
        "105 ч.2, 228.1" if i % 4 == 0 else "158",
        "Завербован" if i % 2 else "",
        recruiter,
        contract,
        _NOTES[i % len(_NOTES)],
    ]


def _broken_row(rng: random.Random, kind: str) -> list[str]:
    row = _valid_row(rng, 1)
    row[9] = ""
    if kind == "no_name":
        row[0] = ""
    elif kind == "digits_name":
        row[0] = "12345 " + row[0]
    elif kind == "feb_31":
        row[1] = "31.02.1985"
    elif kind == "words_date":
        row[1] = "вчера вечером"
    elif kind == "future_birth":
        row[1] = "01.01.2091"
    elif kind == "birth_1799":
        row[1] = "1799"
    elif kind == "contract_before_birth":
        row[1], row[7], row[8] = "12.05.1990", "Шторм Z", "01.03.1985"
    elif kind == "bad_sex":
        row[2] = "неизвестно кто"
    elif kind == "bad_recruiter":
        row[7] = "Рога и копыта"
    elif kind == "bad_status":
        row[6] = "в отпуске"
    elif kind == "extra_column":
        row.append("лишнее")
    elif kind == "missing_column":
        row = row[:-2]
    elif kind == "excel_error":
        row[1] = "#REF!"
    elif kind == "control_char":
        row[0] = row[0].replace(" ", "\x07", 1)
    elif kind == "too_long":
        row[9] = "очень длинно " * 400
    return row


def _remember(sheet: Sheet, row: list[str]) -> None:
    found = re.search(r"[А-Я][а-я]{8}ов", row[0]) if row else None
    if found:
        sheet.broken_names.append(found.group(0))


def sheet_make(valid: int = 1000, broken: int = 50, duplicates: int = 5, seed: int = 7) -> Sheet:
    rng = random.Random(seed)  # noqa: S311 - synthetic test data
    rows = [_valid_row(rng, i) for i in range(valid)]
    flagged = 0
    for i in range(0, valid, 97):  # implausible but possible: imported with a review flag
        rows[i][1] = "1890"
        flagged += 1
    for i in range(1, valid, 89):
        rows[i][7], rows[i][8] = "Вагнер", "15.06.2024"  # Wagner recruited in prisons in 2022–2023 only
        flagged += 1
    sheet = Sheet(HEADERS, [], valid, flagged, duplicates)
    kinds = list(BROKEN_KINDS)
    bad = [(kinds[k % len(kinds)], _broken_row(rng, kinds[k % len(kinds)])) for k in range(broken)]
    dup_sources = [rows[j * 13] for j in range(duplicates)]
    # Interleave: broken rows and duplicates spread through the file, not bunched at the end.
    out: list[list[str]] = []
    stride = max(1, valid // max(1, broken + duplicates))
    for i, row in enumerate(rows):
        out.append(row)
        if i % stride == stride - 1 and bad:
            kind, b = bad.pop(0)
            out.append(b)
            code = BROKEN_KINDS[kind]
            sheet.broken[len(out) + 1] = (kind, code[0], code[1])
            _remember(sheet, b)
        elif i % stride == stride - 1 and dup_sources:
            out.append(list(dup_sources.pop(0)))
    for kind, b in bad:
        out.append(b)
        sheet.broken[len(out) + 1] = (kind, *BROKEN_KINDS[kind])
        _remember(sheet, b)
    out.extend(list(r) for r in dup_sources)
    sheet.rows = out
    return sheet


def csv_bytes(sheet: Sheet, *, encoding: str, delimiter: str, newline: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(sheet.headers)
    writer.writerows(sheet.rows)
    return buffer.getvalue().encode(encoding)


# --- a whole installation for subprocess tests ---------------------------------------------------------

KARTOTEKA = [sys.executable, "-m", "kartoteka.cli"]
IMPORT_ONLY = [sys.executable, "-m", "kartoteka.imports"]  # `kartoteka import` without the other commands
PASSWORD = "a long enough password"  # noqa: S105 - a throwaway test user


@dataclass
class Env:
    base: Path
    data: Path
    socket: Path
    vars: dict[str, str]

    @property
    def sqlite(self) -> Path:
        return self.data / "kartoteka.sqlite3"

    @property
    def head_file(self) -> Path:
        return Path(self.vars["KARTOTEKA_AUDIT_HEAD_FILE"])


def run(
    env: Env, *args: str, stdin: str = "", check: bool = True, command: Sequence[str] = KARTOTEKA
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 - our own command
        [*command, *args],
        env=env.vars,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kartoteka {' '.join(args)} failed: {result.stderr[-2000:]}")
    return result


def start(env: Env, *args: str, command: Sequence[str] = KARTOTEKA) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own command
        [*command, *args],
        env=env.vars,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def import_env(base: Path, *, database_url: str = "", data: Path | None = None) -> Iterator[Env]:
    """Keys and agent under ``base`` (outside the data directory), a migrated database, a team «Команда»
    and a caseworker «case» with an open command-line session."""
    data = data or base / "data"
    data.mkdir(mode=0o700, exist_ok=True)
    demo_key = base / "outside" / "demo.key"
    keys_dir = base / "keys"
    keys.init(keys_dir, None, demo_key_file=demo_key)
    socket_path = keys_dir / "run" / "agent.sock"
    proc = agent.spawn(keys_dir, socket_path, demo_key_file=demo_key)
    variables = {
        **{
            k: v for k, v in os.environ.items() if not k.startswith(("KARTOTEKA_", "DJANGO_", "DATABASE_URL"))
        },
        "KARTOTEKA_DATA_DIR": str(data),
        "KARTOTEKA_KEYS_DIR": str(keys_dir),
        "KARTOTEKA_SECRET_KEY": secrets.token_hex(32),
        "KARTOTEKA_AUDIT_HEAD_FILE": str(base / "audit-head"),
        "KARTOTEKA_SSL_REDIRECT": "0",
    }
    if database_url:
        variables["DATABASE_URL"] = database_url
    env = Env(base, data, socket_path, variables)
    try:
        # One interpreter for migrate, the user and the session: each `kartoteka` start-up costs seconds.
        setup = (
            "import django; django.setup();"
            "from django.core.management import call_command; call_command('migrate', verbosity=0);"
            "from kartoteka.accounts.services import team_create, user_create;"
            "from kartoteka.core import clisession;"
            "t = team_create(actor=None, name='Команда');"
            f"user_create(actor=None, username='case', password='{PASSWORD}', role='caseworker', teams=[t]);"
            "clisession.open_for('case', minutes=120)"
        )
        done = subprocess.run(  # noqa: S603 - our own command
            [sys.executable, "-c", setup],
            env={**variables, "DJANGO_SETTINGS_MODULE": "kartoteka.settings"},
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise AssertionError(f"setting up the installation failed: {done.stderr[-3000:]}")
        yield env
    finally:
        agent.stop(socket_path)
        proc.wait(timeout=10)
