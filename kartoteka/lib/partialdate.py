"""Dates known only to a precision: a day, a month, a year, a range of those, or not at all.

Testimonies say "spring 2023", spreadsheets hold "04.2023" or Excel serials, and the law cares about exact
days. A ``PartialDate`` keeps what was actually known and nothing more: it is an *interval of calendar
days* (``earliest()`` .. ``latest()``), never a guessed single day.

Canonical string form (EDTF, ISO 8601-2 level 0/1 subset) — what ``to_edtf()`` writes and what a database
column stores:

=========  ===================  =====================================================================
precision  example              notes
=========  ===================  =====================================================================
day        ``2023-04-10``
month      ``2023-04``
year       ``2023``
range      ``2023-04/2023-06``  endpoints may differ in precision: ``2023-03-15/2023-06``
unknown    ``XXXX``             EDTF "unspecified year"; ``""`` is accepted on input
qualifier  ``2023?`` ``2023~``  ``?`` uncertain, ``~`` approximate, ``%`` both (level 1). On a range
           ``2023%``            the qualifier is written on both endpoints and read if on either.
=========  ===================  =====================================================================

Accepted on input but normalised away (so they are never written): EDTF seasons ``2023-21``..``2023-24``
become month ranges, ``2023-XX`` becomes ``2023``, ``2023-04-XX`` becomes ``2023-04``, ``201X`` becomes
``2010/2019``. Seasons are meteorological: spring = March–May, summer = June–August, autumn =
September–November, and "winter 2023" = December 2022 – February 2023 (the winter that *ends* in the named
year, as in "зима 2023 года"); "зима 2022/2023" or "зима 2022-2023" names the same winter explicitly.

Comparison semantics. ``==`` compares representations: ``2023-04`` and ``2023-04-01/2023-04-30`` cover the
same days but are different statements, so they are not equal. There is no ``<``: intervals are not totally
ordered. Use ``sort_key()`` to sort (by earliest day, then latest day, precise before qualified, unknown
last), and ``contains`` / ``overlaps`` / ``definitely_before`` to reason about time. Unknown dates contain
nothing, overlap nothing and are before nothing: "we cannot say" is never "yes".

Errors are ``PartialDateError`` with a stable ``code`` and Russian and English messages. Messages never
repeat the input text (it may be a mis-mapped column holding a name); they quote numbers only.
"""

from __future__ import annotations

import calendar
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Literal

__all__ = [
    "DatePoint",
    "PartialDate",
    "PartialDateError",
    "Precision",
    "from_excel_serial",
    "parse",
]

Lang = Literal["ru", "en"]


class Precision(StrEnum):
    DAY = "day"
    MONTH = "month"
    YEAR = "year"
    RANGE = "range"
    UNKNOWN = "unknown"


_MONTHS_RU_NOM = (
    "январь", "февраль", "март", "апрель", "май", "июнь",
    "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь",
)  # fmt: skip
_MONTHS_RU_GEN = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip
_MONTHS_RU_PREP = (
    "январе", "феврале", "марте", "апреле", "мае", "июне",
    "июле", "августе", "сентябре", "октябре", "ноябре", "декабре",
)  # fmt: skip
_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


class PartialDateError(ValueError):
    """A date that cannot be read or cannot exist. ``code`` is stable; show ``message(lang)`` to users."""

    def __init__(self, code: str, message_ru: str, message_en: str) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_ru = message_ru
        self.message_en = message_en

    def message(self, lang: Lang) -> str:
        return self.message_ru if lang == "ru" else self.message_en


def _unrecognised() -> PartialDateError:
    examples = "10.04.2023, 2023-04-10, апрель 2023, 2023, весна 2023, 2023-04/2023-06"
    return PartialDateError(
        "unrecognised",
        f"Не удалось распознать дату. Примеры допустимых записей: {examples}.",
        f"Could not recognise the date. Examples of accepted forms: {examples}.",
    )


def _missing_year() -> PartialDateError:
    return PartialDateError(
        "missing_year", "Не указан год (четырьмя цифрами).", "The year is missing (give it as four digits)."
    )


def _invalid_year(year: int) -> PartialDateError:
    return PartialDateError(
        "invalid_year",
        f"Год {year} вне допустимого диапазона 1–9999.",
        f"Year {year} is outside the range 1–9999.",
    )


def _invalid_month(month: int) -> PartialDateError:
    return PartialDateError(
        "invalid_month",
        f"Месяца с номером {month} не существует: номер месяца от 1 до 12.",
        f"There is no month {month}: months are numbered 1 to 12.",
    )


def _invalid_day(year: int, month: int, day: int) -> PartialDateError:
    return PartialDateError(
        "invalid_day",
        f"Такой даты нет: в {_MONTHS_RU_PREP[month - 1]} {year} г. нет {day}-го числа.",
        f"No such date: {_MONTHS_EN[month - 1]} {year} has no day {day}.",
    )


def _range_reversed() -> PartialDateError:
    return PartialDateError(
        "range_reversed",
        "Начало периода позже его конца.",
        "The start of the range is after its end.",
    )


# --- the value types ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatePoint:
    """One calendar day, month or year: the endpoint of a ``PartialDate``."""

    year: int
    month: int | None = None
    day: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.year <= 9999:
            raise _invalid_year(self.year)
        if self.month is None:
            if self.day is not None:
                raise PartialDateError(
                    "day_without_month",
                    "Указан день, но не указан месяц.",
                    "A day was given without a month.",
                )
            return
        if not 1 <= self.month <= 12:
            raise _invalid_month(self.month)
        if self.day is not None and not 1 <= self.day <= calendar.monthrange(self.year, self.month)[1]:
            raise _invalid_day(self.year, self.month, self.day)

    @property
    def precision(self) -> Precision:
        if self.month is None:
            return Precision.YEAR
        return Precision.MONTH if self.day is None else Precision.DAY

    def first(self) -> date:
        return date(self.year, self.month or 1, self.day or 1)

    def last(self) -> date:
        if self.month is None:
            return date(self.year, 12, 31)
        return date(self.year, self.month, self.day or calendar.monthrange(self.year, self.month)[1])

    def edtf(self) -> str:
        text = f"{self.year:04d}"
        if self.month is not None:
            text += f"-{self.month:02d}"
        if self.day is not None:
            text += f"-{self.day:02d}"
        return text

    def display(self, lang: Lang, *, with_year: bool = True) -> str:
        if self.month is None:
            return f"{self.year} г." if lang == "ru" else str(self.year)
        if lang == "ru":
            names = _MONTHS_RU_NOM if self.day is None else _MONTHS_RU_GEN
            text = names[self.month - 1] if self.day is None else f"{self.day} {names[self.month - 1]}"
            return f"{text} {self.year} г." if with_year else text
        text = _MONTHS_EN[self.month - 1] if self.day is None else f"{self.day} {_MONTHS_EN[self.month - 1]}"
        return f"{text} {self.year}" if with_year else text


@dataclass(frozen=True, slots=True)
class PartialDate:
    """An interval of days from ``start.first()`` to ``end.last()``; both ``None`` when unknown.

    A single day, month or year has ``start == end``. Build values with the class methods or ``parse``.
    """

    start: DatePoint | None = None
    end: DatePoint | None = None
    uncertain: bool = False
    approximate: bool = False

    def __post_init__(self) -> None:
        if (self.start is None) != (self.end is None):
            raise PartialDateError(
                "open_range",
                "У периода должны быть и начало, и конец.",
                "A range needs both a start and an end.",
            )
        if self.start is None and (self.uncertain or self.approximate):
            raise PartialDateError(
                "qualified_unknown",
                "Неизвестная дата не может быть «примерной» или «под вопросом».",
                "An unknown date cannot be approximate or uncertain.",
            )
        if self.start is not None and self.end is not None and self.start.first() > self.end.last():
            raise _range_reversed()

    # construction

    @classmethod
    def of(cls, year: int, month: int | None = None, day: int | None = None) -> PartialDate:
        point = DatePoint(year, month, day)
        return cls(point, point)

    @classmethod
    def from_date(cls, value: date) -> PartialDate:
        return cls.of(value.year, value.month, value.day)

    @classmethod
    def unknown(cls) -> PartialDate:
        return cls()

    @classmethod
    def between(cls, start: PartialDate, end: PartialDate) -> PartialDate:
        """The range from the start of ``start`` to the end of ``end``; equal endpoints collapse."""
        if start.start is None or end.end is None:
            raise PartialDateError(
                "unknown_endpoint",
                "Начало и конец периода должны быть известны.",
                "Both ends of a range must be known.",
            )
        return cls(
            start.start,
            end.end,
            uncertain=start.uncertain or end.uncertain,
            approximate=start.approximate or end.approximate,
        )

    # inspection

    @property
    def precision(self) -> Precision:
        if self.start is None or self.end is None:
            return Precision.UNKNOWN
        return self.start.precision if self.start == self.end else Precision.RANGE

    @property
    def is_known(self) -> bool:
        return self.start is not None

    def earliest(self) -> date | None:
        return None if self.start is None else self.start.first()

    def latest(self) -> date | None:
        return None if self.end is None else self.end.last()

    def contains(self, other: date | PartialDate) -> bool:
        """True when every day of ``other`` certainly lies within this interval."""
        lo, hi = self.earliest(), self.latest()
        if lo is None or hi is None:
            return False
        if isinstance(other, PartialDate):
            olo, ohi = other.earliest(), other.latest()
            return olo is not None and ohi is not None and lo <= olo and ohi <= hi
        return lo <= other <= hi

    def overlaps(self, other: PartialDate) -> bool:
        """True when the two intervals share at least one day (so they could be the same moment)."""
        lo, hi, olo, ohi = self.earliest(), self.latest(), other.earliest(), other.latest()
        if lo is None or hi is None or olo is None or ohi is None:
            return False
        return lo <= ohi and olo <= hi

    def definitely_before(self, other: PartialDate) -> bool:
        """True when this interval ends before ``other`` begins."""
        hi, olo = self.latest(), other.earliest()
        return hi is not None and olo is not None and hi < olo

    def sort_key(self) -> tuple[int, int, int, int]:
        lo, hi = self.earliest(), self.latest()
        if lo is None or hi is None:
            return (1, 0, 0, 0)
        return (0, lo.toordinal(), hi.toordinal(), int(self.uncertain) + int(self.approximate))

    # output

    def _qualifier(self) -> str:
        if self.uncertain and self.approximate:
            return "%"
        return "?" if self.uncertain else ("~" if self.approximate else "")

    def to_edtf(self) -> str:
        if self.start is None or self.end is None:
            return "XXXX"
        mark = self._qualifier()
        if self.start == self.end:
            return self.start.edtf() + mark
        return f"{self.start.edtf()}{mark}/{self.end.edtf()}{mark}"

    def __str__(self) -> str:
        return self.to_edtf()

    def display(self, lang: Lang) -> str:
        """A human-readable form for pages and PDFs ("10 апреля 2023 г.", "April – June 2023").

        Russian qualifiers are suffixes ("(прибл.)", "(?)") so no month name has to be declined after
        "около"."""
        if self.start is None or self.end is None:
            return "дата неизвестна" if lang == "ru" else "date unknown"
        text = self.end.display(lang)
        if self.start.month is None and self.end.month is None and self.start != self.end:
            text = f"{self.start.year}–{self.end.year}" + (" гг." if lang == "ru" else "")
        elif self.start != self.end:
            same_year = self.start.year == self.end.year and None not in (self.start.month, self.end.month)
            text = f"{self.start.display(lang, with_year=not same_year)} – {text}"
        if self.approximate:
            text = f"{text} (прибл.)" if lang == "ru" else f"c. {text}"
        if self.uncertain:
            text += " (?)"
        return text


# --- Excel --------------------------------------------------------------------------------------------

# Excel's 1900 system counts 1900-01-01 as day 1 and, copying Lotus 1-2-3, treats 1900 as a leap year:
# serial 60 is the non-existent 29 Feb 1900 and every later serial is one day ahead of a plain count.
_EXCEL_1900_EPOCH = date(1899, 12, 31)
_EXCEL_1900_LATE_EPOCH = date(1899, 12, 30)
_EXCEL_PHANTOM_DAY = 60
_EXCEL_1904_EPOCH = date(1904, 1, 1)


def from_excel_serial(serial: int | float, *, date1904: bool = False) -> PartialDate:
    """The day an Excel cell serial stands for; a fractional part (time of day) is dropped."""
    bad = PartialDateError(
        "excel_serial_invalid",
        "Число не похоже на дату Excel (ожидается положительное число дней).",
        "The number does not look like an Excel date (a positive count of days is expected).",
    )
    if isinstance(serial, bool) or not math.isfinite(serial):
        raise bad
    days = math.floor(serial)
    if days < (0 if date1904 else 1):
        raise bad
    if date1904:
        epoch = _EXCEL_1904_EPOCH
    elif days == _EXCEL_PHANTOM_DAY:
        raise PartialDateError(
            "excel_phantom_leap_day",
            "Excel считает 29.02.1900 датой, но такого дня не было (ошибка системы дат 1900).",
            "Excel counts 29 Feb 1900 as a date, but that day never existed (the 1900 date system bug).",
        )
    else:
        epoch = _EXCEL_1900_EPOCH if days < _EXCEL_PHANTOM_DAY else _EXCEL_1900_LATE_EPOCH
    try:
        return PartialDate.from_date(epoch + timedelta(days=days))
    except OverflowError:
        raise bad from None


# --- parsing ------------------------------------------------------------------------------------------

_MONTH_WORDS: dict[str, int] = {}
for _number, _forms in enumerate(
    (
        ("январь", "января", "январе", "янв", "january", "jan"),
        ("февраль", "февраля", "феврале", "фев", "февр", "february", "feb"),
        ("март", "марта", "марте", "мар", "march", "mar"),
        ("апрель", "апреля", "апреле", "апр", "april", "apr"),
        ("май", "мая", "мае", "may"),
        ("июнь", "июня", "июне", "июн", "june", "jun"),
        ("июль", "июля", "июле", "июл", "july", "jul"),
        ("август", "августа", "августе", "авг", "august", "aug"),
        ("сентябрь", "сентября", "сентябре", "сен", "сент", "september", "sep", "sept"),
        ("октябрь", "октября", "октябре", "окт", "october", "oct"),
        ("ноябрь", "ноября", "ноябре", "ноя", "нояб", "november", "nov"),
        ("декабрь", "декабря", "декабре", "дек", "december", "dec"),
    ),
    start=1,
):
    for _form in _forms:
        _MONTH_WORDS[_form] = _number

_SPRING, _SUMMER, _AUTUMN, _WINTER = "spring", "summer", "autumn", "winter"
_SEASON_WORDS: dict[str, str] = {
    **dict.fromkeys(("весна", "весной", "весны", "весне", "spring"), _SPRING),
    **dict.fromkeys(("лето", "летом", "лета", "лете", "summer"), _SUMMER),
    **dict.fromkeys(("осень", "осенью", "осени", "autumn", "fall"), _AUTUMN),
    **dict.fromkeys(("зима", "зимой", "зимы", "зиме", "winter"), _WINTER),
}
_EDTF_SEASONS = {21: _SPRING, 22: _SUMMER, 23: _AUTUMN, 24: _WINTER}
_SEASON_MONTHS = {_SPRING: (3, 5), _SUMMER: (6, 8), _AUTUMN: (9, 11)}

_UNKNOWN_WORDS = frozenset(
    {"", "xxxx", "xxxx-xx", "xxxx-xx-xx", "unknown", "date unknown", "неизвестно", "дата неизвестна", "н/д"}
)
_FILLER_WORDS = frozenset({"of", "the", "st", "nd", "rd", "th", "on", "in", "в", "во"})
_APPROX_PREFIX = re.compile(
    r"^(?:около|примерно|приблизительно|ориентировочно|ок\.|circa|ca\.|c\.|approx\.|approximately|about)\s*"
)
_YEAR_SUFFIX = re.compile(r"(?<=\d)\s*(?:годах|году|года|год|гг|г)\.?(?=[\s,;/–-]|$)")
_DASHES = str.maketrans(dict.fromkeys("‐‑‒–—―−", "–"))
_RETRYABLE = frozenset({"unrecognised", "missing_year"})
# Range parsing tries every dash and slash as a split point; a cap keeps hostile cells cheap.
_MAX_LENGTH = 80


def parse(text: str, *, reference_year: int | None = None) -> PartialDate:
    """Read EDTF or a common Russian/English form (see the module docstring and tests for the list).

    ``reference_year`` decides two-digit years ("10.04.23"): a year up to its last two digits belongs to
    its century, a larger one to the century before. It defaults to the current UTC year.
    """
    ref = reference_year if reference_year is not None else datetime.now(UTC).year
    s = _normalise(text)
    if len(s) > _MAX_LENGTH:
        raise _unrecognised()
    if s in _UNKNOWN_WORDS:
        return PartialDate.unknown()
    try:
        return _parse_single(s, ref)
    except PartialDateError as single_error:
        if single_error.code not in _RETRYABLE:
            raise
        found = _parse_range(s, ref)
        if found is None:
            raise
        return found


def _normalise(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).lower().replace("ё", "е").translate(_DASHES)
    return re.sub(r"\s+", " ", s).strip()


def _parse_range(s: str, ref: int) -> PartialDate | None:
    """The first split into two parseable endpoints, or None; a specific endpoint error is raised."""
    splits: list[tuple[str, str]] = []
    words = re.fullmatch(r"(?:с|со|from|between)\s+(.+?)\s+(?:по|до|to|until|and)\s+(.+)", s)
    if words:
        splits.append((words.group(1), words.group(2)))
    splits.extend((s[:i], s[i + 1 :]) for i, char in enumerate(s) if char in "/–-")
    first_error: PartialDateError | None = None
    for left, right in splits:
        try:
            end = _parse_single(right.strip(), ref)
            start = _parse_left(left.strip(), right.strip(), ref)
            return PartialDate.between(start, end)
        except PartialDateError as error:
            if error.code not in _RETRYABLE and first_error is None:
                first_error = error
    if first_error is not None:
        raise first_error
    return None


def _parse_left(left: str, right: str, ref: int) -> PartialDate:
    """The start of a range, borrowing what it omits from the end: "10–15.04.2023", "апрель–июнь 2023"."""
    try:
        return _parse_single(left, ref)
    except PartialDateError as error:
        if error.code not in _RETRYABLE:
            raise
        # Longest borrowed tail first, so "10–15.05.2023" reads 10.05.2023 and not October 2023.
        for i, char in enumerate(right):
            if char in " .,":
                try:
                    return _parse_single(left + right[i:], ref)
                except PartialDateError as retry_error:
                    if retry_error.code not in _RETRYABLE:
                        raise
        raise


def _parse_single(s: str, ref: int) -> PartialDate:
    s, uncertain, approximate = _strip_qualifiers(s)
    if not s:
        raise _unrecognised()
    found = _parse_edtf(s) or _parse_numeric(s, ref) or _parse_words(s)
    if found is None:
        raise _unrecognised()
    if not found.is_known:
        return found
    return PartialDate(
        found.start,
        found.end,
        uncertain=found.uncertain or uncertain,
        approximate=found.approximate or approximate,
    )


def _strip_qualifiers(s: str) -> tuple[str, bool, bool]:
    uncertain = approximate = False
    while True:
        before = s
        if s.endswith("(?)"):
            s, uncertain = s[:-3].strip(), True
        elif s.endswith(("(прибл.)", "(approx.)")):
            s, approximate = s[: s.rindex("(")].strip(), True
        elif s.endswith("?"):
            s, uncertain = s[:-1].strip(), True
        elif s.endswith("~"):
            s, approximate = s[:-1].strip(), True
        elif s.endswith("%"):
            s, uncertain, approximate = s[:-1].strip(), True, True
        prefix = _APPROX_PREFIX.match(s)
        if prefix:
            s, approximate = s[prefix.end() :], True
        if s == before:
            return s, uncertain, approximate


def _season(year: int, season: str) -> PartialDate:
    if season == _WINTER:
        return PartialDate.between(PartialDate.of(year - 1, 12), PartialDate.of(year, 2))
    first, last = _SEASON_MONTHS[season]
    return PartialDate.between(PartialDate.of(year, first), PartialDate.of(year, last))


def _parse_edtf(s: str) -> PartialDate | None:
    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", s):
        return PartialDate.of(int(m[1]), int(m[2]), int(m[3]))
    if m := re.fullmatch(r"(\d{4})-(\d{2})(?:-xx)?", s):
        year, month = int(m[1]), int(m[2])
        if month in _EDTF_SEASONS and not s.endswith("-xx"):
            return _season(year, _EDTF_SEASONS[month])
        return PartialDate.of(year, month)
    if m := re.fullmatch(r"(\d{4})(?:-xx(?:-xx)?)?", s):
        return PartialDate.of(int(m[1]))
    if m := re.fullmatch(r"(\d{3})x", s):
        decade = int(m[1]) * 10
        return PartialDate.between(PartialDate.of(max(decade, 1)), PartialDate.of(decade + 9))
    if m := re.fullmatch(r"(\d{2})xx", s):
        century = int(m[1]) * 100
        return PartialDate.between(PartialDate.of(max(century, 1)), PartialDate.of(century + 99))
    return None


def _full_year(digits: str, ref: int) -> int:
    if len(digits) == 4:
        return int(digits)
    two = int(digits)
    century = ref - ref % 100
    return century + two if two <= ref % 100 else century - 100 + two


def _parse_numeric(s: str, ref: int) -> PartialDate | None:
    if m := re.fullmatch(r"(\d{1,2})([.-])(\d{1,2})\2(\d{4}|\d{2})", s):
        return PartialDate.of(_full_year(m[4], ref), int(m[3]), int(m[1]))
    if m := re.fullmatch(r"(\d{1,2})\.(\d{4})", s):
        return PartialDate.of(int(m[2]), int(m[1]))
    if m := re.fullmatch(r"(\d{4})\.(\d{1,2})\.(\d{1,2})", s):
        return PartialDate.of(int(m[1]), int(m[2]), int(m[3]))
    if re.fullmatch(r"\d{1,2}/\d{1,2}/(?:\d{4}|\d{2})", s):
        raise PartialDateError(
            "ambiguous_slash_date",
            "Дата через косую черту неоднозначна (день/месяц или месяц/день). Запишите её через точки: "
            "10.04.2023.",
            "A date with slashes is ambiguous (day/month or month/day). Write it with dots, day first "
            "(10.04.2023), or as 2023-04-10.",
        )
    return None


def _parse_words(s: str) -> PartialDate | None:
    s = _YEAR_SUFFIX.sub("", s)
    if re.search(r"[^\w\s.,/–-]", s):
        return None
    tokens = [t for t in re.findall(r"\d+|[^\W\d_]+", s) if t not in _FILLER_WORDS]
    kinds = "".join(_kind(t) for t in tokens)
    if "?" in kinds or not kinds:
        return None
    numbers = [int(t) for t in tokens if t.isdigit()]
    months = [_MONTH_WORDS[t] for t in tokens if t in _MONTH_WORDS]
    seasons = [_SEASON_WORDS[t] for t in tokens if t in _SEASON_WORDS]
    match kinds:
        case "Y":
            return PartialDate.of(numbers[0])
        case "MY":
            return PartialDate.of(numbers[0], months[0])
        case "DMY" | "MDY":
            return PartialDate.of(numbers[1], months[0], numbers[0])
        case "SY":
            return _season(numbers[0], seasons[0])
        case "SYY":
            if seasons[0] != _WINTER or numbers[1] != numbers[0] + 1:
                raise PartialDateError(
                    "season_years",
                    "Два года указываются только для зимы и должны идти подряд: «зима 2022/2023».",
                    "Two years are given only for a winter, and they must be consecutive: "
                    "'winter 2022/2023'.",
                )
            return _season(numbers[1], _WINTER)
        case "M" | "DM" | "MD" | "S":
            raise _missing_year()
    return None


def _kind(token: str) -> str:
    if token.isdigit():
        if len(token) == 4:
            return "Y"
        return "D" if len(token) <= 2 else "?"
    if token in _MONTH_WORDS:
        return "M"
    return "S" if token in _SEASON_WORDS else "?"
