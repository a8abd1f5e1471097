"""What a spreadsheet file is: its encoding, its delimiter, and what its header row means. No Django.

Encoding detection is deterministic and never guesses silently (``EncodingError`` when it cannot tell):

1. a byte-order mark decides (UTF-8-BOM, UTF-16-LE/BE); UTF-16 without a mark is recognised by its NUL
   bytes at every other position;
2. a file that decodes as strict UTF-8 from start to end is UTF-8 (the whole file is checked, in chunks,
   so a single Windows-1251 byte deep in the file is not missed);
3. otherwise it is a single-byte Cyrillic file, Windows-1251 or KOI8-R. Both code pages put the same 64
   letters in 0xC0–0xFF with the cases swapped, so decoding with the wrong one turns «Иванов» into «иВАНОВ».
   Each candidate is scored on letter frequencies of Russian text and on case patterns inside words (a
   capital after a small letter is the mark of the wrong page); the higher score wins, and too little
   evidence is an error rather than a coin toss.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "cp1251", "koi8-r")
DELIMITERS = (";", ",", "\t", "|")
_CHUNK = 1 << 20
_SAMPLE_BYTES = 256 * 1024
_MIN_EVIDENCE = 0.5  # score margin below which a single-byte file is refused rather than guessed

# Relative frequencies (per mille) of Russian letters in running text (National Corpus figures, rounded).
_RU_FREQ = {
    "о": 110, "е": 85, "а": 80, "и": 74, "н": 67, "т": 63, "с": 55, "р": 47, "в": 45, "л": 44, "к": 35,
    "м": 32, "д": 30, "п": 28, "у": 26, "я": 20, "ы": 19, "ь": 17, "г": 17, "з": 16, "б": 16, "ч": 14,
    "й": 12, "х": 10, "ж": 9, "ш": 7, "ю": 6, "ц": 5, "щ": 4, "э": 3, "ф": 3, "ъ": 1, "ё": 1,
}  # fmt: skip
_LOG_FREQ = {k: math.log(v / 1000) for k, v in _RU_FREQ.items()}
_WORD = re.compile(r"[А-Яа-яЁё]+")


class EncodingError(ValueError):
    """The file's encoding cannot be told; ``code`` is stable for translation."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Detected:
    encoding: str  # a Python codec name from ENCODINGS
    bom: bool


def _utf16_without_bom(sample: bytes) -> str | None:
    even = sample[0:2000:2]
    odd = sample[1:2000:2]
    if len(even) < 8:
        return None
    if odd.count(0) > 0.8 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.8 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def _is_utf8(handle: BinaryIO) -> tuple[bool, bytes]:
    """Decode the whole stream strictly; also return up to _SAMPLE_BYTES of its non-ASCII lines."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    sample = b""
    ok = True
    while chunk := handle.read(_CHUNK):
        if len(sample) < _SAMPLE_BYTES and not chunk.isascii():
            # Only lines holding non-ASCII bytes say anything about a code page.
            lines = b"\n".join(line for line in chunk.split(b"\n") if not line.isascii())
            sample += lines[: _SAMPLE_BYTES - len(sample)] + b"\n"
        if ok:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                ok = False
        if not ok and len(sample) >= _SAMPLE_BYTES:
            break
    if ok:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            ok = False
    return ok, sample


def cyrillic_score(text: str) -> float:
    """How much ``text`` looks like Russian: mean log letter frequency plus case-pattern evidence."""
    letters = 0
    freq = 0.0
    good_case = bad_case = 0
    for word in _WORD.findall(text):
        for ch in word.lower():
            freq += _LOG_FREQ.get(ch, -8.0)
        letters += len(word)
        if len(word) < 2:
            continue
        rest = word[1:]
        if rest.islower():
            good_case += 1  # «Иванов», «иванов»
        elif rest.isupper() and word[0].isupper():
            good_case += 1  # «ИВАНОВ»
        else:
            bad_case += 1  # «иВАНОВ», «ИвАНОВ»: the other code page's case swap
    if letters == 0:
        return 0.0
    words = good_case + bad_case
    case_term = 0.0 if words == 0 else 10.0 * (good_case - bad_case) / words
    return freq / letters + case_term


def single_byte_cyrillic(sample: bytes) -> str:
    """Windows-1251 or KOI8-R, whichever reads as Russian; refuse when the sample says too little."""
    scores = {enc: cyrillic_score(sample.decode(enc, errors="replace")) for enc in ("cp1251", "koi8-r")}
    best, other = sorted(scores, key=lambda e: scores[e], reverse=True)
    if sum(1 for b in sample if b >= 0xC0) < 4 or scores[best] - scores[other] < _MIN_EVIDENCE:
        raise EncodingError("encoding_undecided")
    return best


def detect_encoding(handle: BinaryIO) -> Detected:
    """Detect the encoding of a seekable binary stream; leaves it at position 0."""
    handle.seek(0)
    head = handle.read(4)
    handle.seek(0)
    if head.startswith(codecs.BOM_UTF8):
        return Detected("utf-8-sig", True)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return Detected("utf-16", True)
    first = handle.read(4000)
    handle.seek(0)
    bare16 = _utf16_without_bom(first)
    if bare16 is not None:
        return Detected(bare16, False)
    ok, sample = _is_utf8(handle)
    handle.seek(0)
    if ok:
        return Detected("utf-8", False)
    return Detected(single_byte_cyrillic(sample), False)


# --- delimiters --------------------------------------------------------------------------------------------


def detect_delimiter(sample: str) -> str:
    """The delimiter that splits the sample's records into the same number (≥ 2) of fields most often.

    The sample is parsed with quotes honoured, so a «;» inside a quoted name does not count; the last
    record is dropped as it may be cut off. Ties go to the order of DELIMITERS (Excel's «;» first).
    """
    cut = sample.rfind("\n")
    text = sample[:cut] if cut > 0 else sample
    best: tuple[float, int, str] | None = None
    for delim in DELIMITERS:
        try:
            rows = [r for r in csv.reader(io.StringIO(text), delimiter=delim) if r]
        except csv.Error:
            continue
        if not rows:
            continue
        counts = Counter(len(r) for r in rows)
        width, hits = counts.most_common(1)[0]
        if width < 2:
            continue
        consistency = hits / len(rows)
        key = (round(consistency, 2), width, delim)
        if best is None or key[:2] > best[:2]:
            best = key
    if best is None:
        return ","  # a one-column file: any delimiter reads it the same
    return best[2]


# --- headers -----------------------------------------------------------------------------------------------

FIELDS = (
    "full_name",
    "last_name",
    "first_name",
    "patronymic",
    "alias",
    "birth_date",
    "sex",
    "region",
    "facility",
    "articles",
    "sentence_months",
    "status",
    "recruiter",
    "contract_date",
    "notes",
    "attachment",
    "ignore",
)

_HEADER_WORDS: dict[str, str] = {}
for _field, _words in {
    "full_name": (
        "фио", "ф.и.о.", "фамилия имя отчество", "фамилия, имя, отчество", "полное имя", "имя полностью",
        "full name", "fullname", "name", "person", "ф и о",
    ),
    "last_name": ("фамилия", "surname", "last name", "lastname", "family name"),
    "first_name": ("имя", "first name", "firstname", "given name"),
    "patronymic": ("отчество", "patronymic", "middle name", "father's name", "fathers name"),
    "alias": ("псевдоним", "прозвище", "другие имена", "alias", "aliases", "also known as", "aka"),
    "birth_date": (
        "дата рождения", "д.р.", "др", "д/р", "год рождения", "г.р.", "гр", "родился", "date of birth",
        "birth date", "birthdate", "dob", "born", "year of birth",
    ),
    "sex": ("пол", "sex", "gender"),
    "region": (
        "регион", "область", "субъект", "субъект рф", "регион проживания", "region", "home region",
        "oblast",
    ),
    "facility": (
        "учреждение", "ик", "колония", "исправительное учреждение", "место заключения", "место отбывания",
        "сизо", "учреждение фсин", "facility", "prison", "penal colony", "colony", "institution",
    ),
    "articles": ("статья", "статьи", "статья ук", "статьи ук", "статья ук рф", "article", "articles"),
    "sentence_months": ("срок, мес", "срок (мес.)", "срок в месяцах", "sentence months", "sentence, months"),
    "status": ("статус", "состояние", "status"),
    "recruiter": ("вербовщик", "кто завербовал", "завербован", "recruiter", "recruited by"),
    "contract_date": (
        "дата контракта", "дата подписания", "дата подписания контракта", "контракт", "дата вербовки",
        "contract date", "signing date", "date signed", "signed",
    ),
    "notes": ("примечание", "примечания", "комментарий", "заметки", "notes", "note", "comment", "comments"),
}.items():  # fmt: skip
    for _word in _words:
        _HEADER_WORDS[_word] = _field
_PUNCT = re.compile(r"[\s_]+")


def header_key(text: str) -> str:
    s = text.replace("\ufeff", "").replace("ё", "е").replace("Ё", "Е").strip().lower()
    s = _PUNCT.sub(" ", s).strip(" :*")
    return s


def header_field(text: str) -> str | None:
    """The field a header names, or None. Dots and spaces are forgiven («Д. р.», "Date of birth:")."""
    key = header_key(text)
    if key in _HEADER_WORDS:
        return _HEADER_WORDS[key]
    squeezed = key.replace(" ", "").replace(".", "")
    for word, field_name in _HEADER_WORDS.items():
        if word.replace(" ", "").replace(".", "") == squeezed:
            return field_name
    return None


@dataclass(frozen=True)
class Proposal:
    columns: tuple[tuple[str, str | None], ...]  # (header as written, field or None)

    @property
    def complete(self) -> bool:
        return all(f is not None for _, f in self.columns)

    def unrecognised(self) -> list[str]:
        return [h for h, f in self.columns if f is None]


def propose(headers: Sequence[str]) -> Proposal:
    """A field per header; a field named twice keeps its first column (the second is left unrecognised)."""
    seen: set[str] = set()
    columns: list[tuple[str, str | None]] = []
    for header in headers:
        found = header_field(header)
        if found is not None and found in seen and found != "ignore":
            found = None
        if found is not None:
            seen.add(found)
        columns.append((header, found))
    return Proposal(tuple(columns))


def all_header_words() -> Iterable[tuple[str, str]]:
    return _HEADER_WORDS.items()
