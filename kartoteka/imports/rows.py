"""One spreadsheet row → the fields of a Record as the source reported them, or the reasons it cannot be.

No Django here. Problems are (column, code) pairs; the text for a code is in :data:`REASONS` (ru, en).
Nothing here ever repeats a cell's value in a message: a mis-mapped column may hold a name.

Two outcomes besides "fine":
- a *reason* rejects the row (it goes to the encrypted quarantine): the value cannot be read or cannot be
  true (a birth date in the future, a contract signed before birth);
- a *flag* keeps the row but marks it for review: the value is possible yet unlikely (born in 1890, a
  signing date outside the recruiter's known period, a facility or region the matchers could not pin).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from kartoteka.lib import vocab
from kartoteka.lib.partialdate import PartialDate, PartialDateError, from_excel_serial
from kartoteka.lib.partialdate import parse as date_parse

Cell = str | int | float | date | datetime | None

NAME_MAX = 300
TEXT_MAX = 4000
BIRTH_YEAR_MIN = 1850  # before this a birth year cannot be a living prisoner's: rejected
BIRTH_YEAR_PLAUSIBLE = 1940  # before this it can be, but is worth a second look: flagged
ADULT_YEARS = 14

REASONS: dict[str, tuple[str, str]] = {
    "columns": ("неверное число столбцов", "wrong number of columns"),
    "csv_malformed": ("строку нельзя разобрать (кавычки или длина поля)", "the row cannot be parsed"),
    "name_missing": ("нет имени", "no name"),
    "name_invalid": ("в имени нет букв или есть цифры", "the name has no letters or has digits"),
    "text_too_long": ("слишком длинный текст", "text too long"),
    "control_chars": ("управляющие символы в ячейке", "control characters in the cell"),
    "excel_error": ("ошибка формулы Excel в ячейке", "an Excel formula error in the cell"),
    "date_invalid": ("дату нельзя прочитать", "the date cannot be read"),
    "date_future": ("дата в будущем", "the date is in the future"),
    "birth_impossible": ("год рождения невозможен", "impossible birth year"),
    "contract_before_birth": ("контракт подписан раньше рождения", "contract signed before birth"),
    "sex_invalid": ("пол не распознан (м/ж)", "sex not recognised (m/f)"),
    "number_invalid": ("не целое неотрицательное число", "not a whole non-negative number"),
    "recruiter_unknown": ("вербовщик не распознан", "recruiter not recognised"),
    "status_unknown": ("статус не распознан", "status not recognised"),
    "parent_missing": ("нет анкеты с таким _parent_index", "no submission with this _parent_index"),
}
FLAGS: dict[str, tuple[str, str]] = {
    "birth_implausible": ("маловероятный год рождения", "unlikely birth year"),
    "underage_at_contract": ("моложе 14 лет при подписании", "younger than 14 at signing"),
    "signed_outside_recruiter_period": (
        "дата подписания вне известного периода вербовщика",
        "signing date outside the recruiter's known period",
    ),
    "facility_unmatched": ("учреждение не сопоставлено со справочником", "facility not matched"),
    "region_unmatched": ("регион не сопоставлен со справочником", "region not matched"),
    "attachment_missing": ("вложение не найдено в папке файлов", "attachment not found among the media"),
}


def reason_text(code: str, lang: str) -> str:
    pair = REASONS.get(code) or FLAGS.get(code) or (code, code)
    return pair[0] if lang == "ru" else pair[1]


@dataclass(frozen=True)
class Problem:
    column: str  # the header as written ("" for the row as a whole)
    code: str


@dataclass
class Parsed:
    """The row's fields, coded where codes exist; raw text of what the matchers could not code."""

    full_name: str = ""
    aliases: tuple[str, ...] = ()
    birth_date: PartialDate | None = None
    sex: str = ""
    region_code: str | None = None
    region_text: str = ""
    facility_text: str = ""
    facility_id: object = None  # the resolver's id (a UUID from the registry); None when unmatched
    articles: tuple[str, ...] = ()
    sentence_months: int | None = None
    status: str = "unknown"
    recruiter: str = ""
    contract_date: PartialDate | None = None
    notes: str = ""
    attachments: tuple[str, ...] = ()  # file names as the source gave them (Kobo/ODK media columns)
    problems: list[Problem] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    canonical: str = ""  # what the row says, normalised: equal texts are "identical rows"


# --- cells -------------------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EXCEL_ERRORS = frozenset(
    {
        "#N/A",
        "#REF!",
        "#VALUE!",
        "#DIV/0!",
        "#NAME?",
        "#NULL!",
        "#NUM!",
        "#ИМЯ?",
        "#Н/Д",
        "#ССЫЛКА!",
        "#ЗНАЧ!",
    }
)
_DMY = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_NAME_OK = re.compile(r"^[^\W\d_]+(?:[\s.'’`\-()«»\"]+[^\W\d_]*)*$")


def cell_text(cell: Cell) -> str:
    """A cell as the text a reader sees: trimmed and NFC-normalised, empty for an empty cell, a date (or a
    date-time's day) in ISO 8601, a whole-number float (as spreadsheets store integers) without ``.0``."""
    if type(cell) is str:
        s = cell.strip()
        return s if s.isascii() or unicodedata.is_normalized("NFC", s) else unicodedata.normalize("NFC", s)
    if cell is None:
        return ""
    if isinstance(cell, datetime):
        return cell.date().isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return unicodedata.normalize("NFC", str(cell)).strip()


SEX_WORDS = {
    "м": "m", "м.": "m", "муж": "m", "муж.": "m", "мужской": "m", "m": "m", "male": "m", "man": "m",
    "ж": "f", "ж.": "f", "жен": "f", "жен.": "f", "женский": "f", "f": "f", "female": "f", "woman": "f",
}  # fmt: skip

_RECRUITER_WORDS = {
    "вагнер": "wagner", "чвк вагнер": "wagner", "чвк «вагнер»": "wagner", "wagner": "wagner",
    "wagner pmc": "wagner", "пвк вагнер": "wagner",
    "шторм z": "mod_storm_z", "шторм-z": "mod_storm_z", "шторм з": "mod_storm_z", "storm-z": "mod_storm_z",
    "storm z": "mod_storm_z",
    "шторм v": "mod_storm_v", "шторм-v": "mod_storm_v", "шторм в": "mod_storm_v", "storm-v": "mod_storm_v",
    "storm v": "mod_storm_v", "минобороны": "mod_storm_v", "мо рф": "mod_storm_v",
    "контракт до приговора": "pretrial_contract",
}  # fmt: skip


def _vocab_lookup(name: str, extra: Mapping[str, str]) -> dict[str, str]:
    words = dict(extra)
    for term in vocab.terms(name):
        for label in (term.code, term.ru, term.en):
            words[label.strip().lower()] = term.code
    return words


@dataclass(frozen=True)
class RecruiterPeriod:
    start: date | None
    end: date | None


Resolver = Callable[[str, str | None], object]  # (facility text, region code) -> facility id or None


class RowParser:
    """Parses rows of one file under one mapping (column index → field)."""

    def __init__(
        self,
        headers: Sequence[str],
        fields: Sequence[str | None],
        *,
        region_match: Callable[[str], str | None],
        facility_resolve: Resolver,
        recruiter_periods: Mapping[str, RecruiterPeriod],
        date1904: bool = False,
        pad: bool = False,
        today: date | None = None,
    ) -> None:
        self.pad = pad
        self.headers = list(headers)
        self.fields = list(fields)
        self.width = len(headers)
        self.region_match = region_match
        self.facility_resolve = facility_resolve
        self.periods = recruiter_periods
        self.date1904 = date1904
        self.today = today or datetime.now(UTC).date()
        self.recruiters = _vocab_lookup("recruiter", _RECRUITER_WORDS)
        self.statuses = _vocab_lookup("person_status", {})

    def parse(self, cells: Sequence[Cell]) -> Parsed:
        out = Parsed()
        row = list(cells)
        if self.pad:
            # XLSX readers drop or add trailing empty cells at will; in a CSV a short row is a shifted one.
            while len(row) > self.width and cell_text(row[-1]) == "":
                row.pop()
            row += [None] * (self.width - len(row))
        if len(row) != self.width:
            out.problems.append(Problem("", "columns"))
            return out
        parts: dict[str, str] = {}
        raw: dict[str, Cell] = {}
        for index, field_name in enumerate(self.fields):
            if field_name is None or field_name == "ignore":
                continue
            cell = row[index] if index < len(row) else None
            header = self.headers[index]
            if not self._cell_ok(out, header, cell):
                continue
            parts[field_name] = cell_text(cell)
            raw[field_name] = cell
        if out.problems:
            return out
        self._names(out, parts)
        self._dates(out, parts, raw)
        self._codes(out, parts)
        self._places(out, parts)
        self._numbers(out, parts)
        out.notes = parts.get("notes", "")
        out.attachments = tuple(a for a in re.split(r"[\s;]+", parts.get("attachment", "")) if a)
        self._plausibility(out)
        out.canonical = _canonical(out)
        return out

    def _header(self, field_name: str) -> str:
        for h, f in zip(self.headers, self.fields, strict=True):
            if f == field_name:
                return h
        return field_name

    def _cell_ok(self, out: Parsed, header: str, cell: Cell) -> bool:
        if isinstance(cell, float) and not math.isfinite(cell):
            out.problems.append(Problem(header, "number_invalid"))
            return False
        text = cell_text(cell)
        if text in _EXCEL_ERRORS:
            out.problems.append(Problem(header, "excel_error"))
            return False
        if _CONTROL.search(text):
            out.problems.append(Problem(header, "control_chars"))
            return False
        if len(text) > TEXT_MAX:
            out.problems.append(Problem(header, "text_too_long"))
            return False
        return True

    def _names(self, out: Parsed, parts: Mapping[str, str]) -> None:
        name = parts.get("full_name", "")
        if not name:
            name = " ".join(
                p for p in (parts.get(k, "") for k in ("last_name", "first_name", "patronymic")) if p
            )
        name = re.sub(r"\s+", " ", name).strip()
        column = self._header("full_name" if "full_name" in parts else "last_name")
        if not name:
            out.problems.append(Problem(column, "name_missing"))
        elif len(name) > NAME_MAX:
            out.problems.append(Problem(column, "text_too_long"))
        elif not _NAME_OK.match(name):
            out.problems.append(Problem(column, "name_invalid"))
        out.full_name = name
        alias = parts.get("alias", "")
        if alias:
            out.aliases = tuple(a.strip() for a in re.split(r"[;\n]", alias) if a.strip())

    def _date(
        self, out: Parsed, field_name: str, text: str, cell: Cell, *, birth: bool
    ) -> PartialDate | None:
        column = self._header(field_name)
        try:
            if isinstance(cell, datetime):
                return PartialDate.from_date(cell.date())
            if isinstance(cell, date):
                return PartialDate.from_date(cell)
            if isinstance(cell, (int, float)) and not isinstance(cell, bool) and cell > 3000:
                return from_excel_serial(cell, date1904=self.date1904)
            if re.fullmatch(r"\d{5}(?:\.\d+)?", text):
                return from_excel_serial(float(text), date1904=self.date1904)  # a serial exported as text
            plain = _DMY.fullmatch(text)
            if plain is not None:  # the common case, without the general parser's normalisation
                value = PartialDate.of(int(plain[3]), int(plain[2]), int(plain[1]))
            else:
                # Two-digit years: a birth year lies at least ADULT_YEARS back; a contract this century.
                ref = self.today.year - ADULT_YEARS if birth else self.today.year
                value = date_parse(text, reference_year=ref)
        except PartialDateError:
            out.problems.append(Problem(column, "date_invalid"))
            return None
        if not value.is_known:
            return None
        earliest = value.earliest()
        if earliest is not None and earliest > self.today:
            out.problems.append(Problem(column, "date_future"))
            return None
        return value

    def _dates(self, out: Parsed, parts: Mapping[str, str], raw: Mapping[str, Cell]) -> None:
        if parts.get("birth_date"):
            out.birth_date = self._date(out, "birth_date", parts["birth_date"], raw["birth_date"], birth=True)
            latest = out.birth_date.latest() if out.birth_date is not None else None
            if latest is not None and latest.year < BIRTH_YEAR_MIN:
                out.problems.append(Problem(self._header("birth_date"), "birth_impossible"))
        if parts.get("contract_date"):
            out.contract_date = self._date(
                out, "contract_date", parts["contract_date"], raw["contract_date"], birth=False
            )
        b, c = out.birth_date, out.contract_date
        if b is not None and c is not None:
            b_early, c_late = b.earliest(), c.latest()
            if b_early is not None and c_late is not None and c_late < b_early:
                out.problems.append(Problem(self._header("contract_date"), "contract_before_birth"))

    def _codes(self, out: Parsed, parts: Mapping[str, str]) -> None:
        sex = parts.get("sex", "").lower()
        if sex:
            code = SEX_WORDS.get(sex)
            if code is None:
                out.problems.append(Problem(self._header("sex"), "sex_invalid"))
            else:
                out.sex = code
        recruiter = parts.get("recruiter", "").lower()
        if recruiter:
            found = self.recruiters.get(recruiter) or self.recruiters.get(recruiter.replace("ё", "е"))
            if found is None:
                out.problems.append(Problem(self._header("recruiter"), "recruiter_unknown"))
            else:
                out.recruiter = found
        status = parts.get("status", "").lower()
        if status:
            found = self.statuses.get(status)
            if found is None:
                out.problems.append(Problem(self._header("status"), "status_unknown"))
            else:
                out.status = found

    def _places(self, out: Parsed, parts: Mapping[str, str]) -> None:
        if out.problems:
            return
        region = parts.get("region", "")
        if region:
            out.region_code = self.region_match(region)
            if out.region_code is None:
                out.region_text = region
                out.flags.append("region_unmatched")
        facility = parts.get("facility", "")
        if facility:
            out.facility_id = self.facility_resolve(facility, out.region_code)
            if out.facility_id is None:
                out.facility_text = facility
                out.flags.append("facility_unmatched")

    def _numbers(self, out: Parsed, parts: Mapping[str, str]) -> None:
        months = parts.get("sentence_months", "")
        if months:
            if not re.fullmatch(r"\d{1,4}", months):
                out.problems.append(Problem(self._header("sentence_months"), "number_invalid"))
            else:
                out.sentence_months = int(months)
        articles = parts.get("articles", "")
        if articles:
            out.articles = tuple(a.strip() for a in re.split(r"[,;\n]", articles) if a.strip())

    def _plausibility(self, out: Parsed) -> None:
        if out.problems:
            return
        born = out.birth_date.earliest() if out.birth_date is not None else None
        if born is not None and born.year < BIRTH_YEAR_PLAUSIBLE:
            out.flags.append("birth_implausible")
        signed = out.contract_date
        if signed is None:
            return
        lo, hi = signed.earliest(), signed.latest()
        if born is not None and hi is not None and (hi.year - born.year) < ADULT_YEARS:
            out.flags.append("underage_at_contract")
        period = self.periods.get(out.recruiter)
        if period is not None and lo is not None and hi is not None:
            before = period.start is not None and hi < period.start
            after = period.end is not None and lo > period.end
            if before or after:
                out.flags.append("signed_outside_recruiter_period")


def _canonical(p: Parsed) -> str:
    # Dates as EDTF and places as codes, so the same row typed as text in a CSV and as date cells in an
    # XLSX is one row; the row number is not part of it.
    return json.dumps(
        [
            p.full_name, list(p.aliases), p.birth_date.to_edtf() if p.birth_date else "", p.sex,
            p.region_code or "", p.region_text, str(p.facility_id or ""), p.facility_text, list(p.articles),
            p.sentence_months, p.status, p.recruiter, p.contract_date.to_edtf() if p.contract_date else "",
            p.notes, list(p.attachments),
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )  # fmt: skip
