"""Personal names: normalisation, parsing, romanisation and script-neutral blind-index terms.

The one place that knows how Russian names are written. Everything else (people, ingest, linkage, search)
calls the functions here:

- :func:`stored_terms` — every term a stored name is blind-indexed under: :func:`index_terms` (one per
  full name part) and :func:`initial_terms` (surname with the given and patronymic initials);
- :func:`record_terms` — :func:`stored_terms` of a record's name and aliases, the one list every writer
  (create, bulk import, rotation) indexes;
- :func:`lookup_terms` — the terms a search must find (full parts only; optionally diminutives expanded);
- :func:`search_terms` — what a search looks up: full-part terms, or for a surname with initials the
  composite initials terms, each as a set of alternatives;
- :func:`compatible` — the in-memory check after candidates are fetched and decrypted;
- :func:`parse` — surname / given / patronymic / initials / sex guess / script;
- :func:`display_forms` — official romanisations of a Cyrillic name (via ``iuliia``).

A term is a *phonetic skeleton* of one name part, the same whether the part was written in Cyrillic or
in any of the Latin conventions people meet (passports 1997-2010, 2010-2013 and ICAO since 2013,
BGN/PCGN, GOST 7.79 A/B = ISO 9, WP:RUS, scientific, German, French, Polish, Czech, Spanish and English
press). The skeleton is built from what those conventions keep apart and nothing they blur: every letter
maps to a sound class, and classes some convention merges are merged here too (docs/names.md lists them
and the collisions this costs). No Django here; never log a name.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Literal

import iuliia

Sex = Literal["m", "f"]
Script = Literal["cyrillic", "latin", "mixed"]
Role = Literal["surname", "given", "patronymic"]

# Versioned so that a later change of the skeleton can be indexed next to the old one and swapped.
TERM_PREFIX = "n1:"
# Composite terms for initials queries: surname key, then the given name's and the patronymic's first sound
# class ("*" where the stored name has neither the part nor a definite initial, so it matches any).
INITIAL_PREFIX = "i1:"
_ANY_SOUND = "*"

DIMINUTIVES_CSV = Path(__file__).resolve().parent.parent / "data" / "diminutives.csv"

__all__ = [
    "INITIAL_PREFIX",
    "TERM_PREFIX",
    "LinkageParts",
    "ParsedName",
    "compatible",
    "display_forms",
    "index_terms",
    "initial_terms",
    "linkage_parts",
    "lookup_terms",
    "normalise",
    "parse",
    "part_key",
    "record_terms",
    "search_terms",
    "stored_terms",
]


@dataclass(frozen=True, slots=True)
class ParsedName:
    surname: str | None
    given: str | None
    patronymic: str | None
    initials: tuple[str, ...]
    sex: Sex | None
    script: Script | None


# --- text preparation -------------------------------------------------------------------------------------

_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2212\u00ad"), "-")
# Quote marks that only ever wrap a name. ’ ” ʹ ʺ ' ` are NOT here: inside a word they are ь/ъ marks.
_SEPARATORS = dict.fromkeys(map(ord, ',;<«»„"()[]/\\|:\t\n\r\u00a0\u2007\u202f'), " ")
_TEXT_TABLE = str.maketrans({**_DASHES, **_SEPARATORS})
_DASH_TABLE = str.maketrans(_DASHES)

_LATIN_RE = re.compile(r"[a-zß-ÿā-ʯ]")
_CYRILLIC_RE = re.compile(r"[а-яёіїєґў]")


_INNER_QUOTE_RE = re.compile(r'(?<=\w)"(?=\w)')


def _inner_quotes(text: str) -> str:
    """MVD order 310 writes ъ as a straight double quote inside the word (Pod"yachev); keep it a sign."""
    return _INNER_QUOTE_RE.sub("ʺ", text) if '"' in text else text


# str.translate with a mapping costs microseconds per call on Cyrillic text; most names need none of it.
_TEXT_TABLE_RE = re.compile("[" + re.escape("".join(map(chr, _TEXT_TABLE))) + "]")
_DASH_TABLE_RE = re.compile("[" + re.escape("".join(map(chr, _DASH_TABLE))) + "]")


def _translate(text: str, table: dict[int, str], pattern: re.Pattern[str]) -> str:
    return text.translate(table) if pattern.search(text) else text


def normalise(raw: str) -> str:
    """Lower case, NFC, one space between words, dashes unified, wrapping quotes and MRZ fillers dropped."""
    text = _translate(_inner_quotes(unicodedata.normalize("NFC", raw)).lower(), _TEXT_TABLE, _TEXT_TABLE_RE)
    return " ".join(text.split())


# --- convention modes: letters whose meaning depends on the convention of the whole string ----------------

_HUSH_J = 1  # j is ж (French) or х (Spanish), not the й-glide of German, Polish, Czech and GOST
_CZ_TSE = 2  # cz is ц (GOST 7.79 B), not ч (Polish)
_X_KHA = 4  # x is х (GOST 7.79 B, scientific), not кс (everyone else)

_FRENCH_RE = re.compile(r"ou|ï|tch|gu[eiéèy]|[iy]ne\b")
_SPANISH_ACCENTS = frozenset("áéíóú")
_CENTRAL_EUROPEAN = frozenset("ěčšžřůťďňłżśćźńąę")
_POLISH_RE = re.compile(r"[włżśćńź]|sz")
_SCIENTIFIC_MARKS = ("`", "ʹ", "ʺ", "shh", "ë")
_HUSHING_LETTERS = frozenset("čšž")


def _mode(text: str) -> int:
    """Which reading of the ambiguous Latin letters j, cz and x this (normalised) string calls for."""
    if not _LATIN_RE.search(text):
        return 0
    mode = 0
    central = "ová" in text or not _CENTRAL_EUROPEAN.isdisjoint(text)
    spanish = not central and not _SPANISH_ACCENTS.isdisjoint(text)
    if spanish or _FRENCH_RE.search(text):
        mode |= _HUSH_J
    if "cz" in text and ("`" in text or ("v" in text and not _POLISH_RE.search(text))):
        mode |= _CZ_TSE
    if "x" in text and (any(mark in text for mark in _SCIENTIFIC_MARKS) or _x_names_kha(text, mode)):
        mode |= _X_KHA
    return mode


def _x_names_kha(text: str, mode: int) -> bool:
    """Is x х here? A word that names a known given name (or its patronymic) under one reading decides
    (Mixail, Mixajlovna vs Alexej, Maximovich); failing that, scientific transliteration is the only
    convention writing č/š/ž without ch and x together."""
    for word in text.split(" "):
        if "x" in word:
            as_kha = _names_a_given(_part_key(word, mode | _X_KHA))
            as_ks = _names_a_given(_part_key(word, mode))
            if as_kha != as_ks:
                return as_kha
    return "ch" not in text and not _HUSHING_LETTERS.isdisjoint(text)


def _names_a_given(key: str) -> bool:
    if _is_given(key):
        return True
    for suffix in ("EVIX", "EVNA", "IXNA", "IX"):
        if key.endswith(suffix):
            stem = key[: -len(suffix)]
            return any(_is_given(stem + end) for end in ("", "I", "A"))
    return False


# --- the skeleton of one name part ----------------------------------------------------------------------

# Cyrillic goes through the same Latin rules via an internal spelling that no rule can misread:
# ȷ (dotless j) is a glide that is never ж/х, ɨ is ы (never a glide), х is "kh" so that сх stays s+kh.
_TO_INTERNAL = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "ȷe", "ё": "ȷe", "ж": "ž", "з": "z",
        "и": "i", "й": "ȷ", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
        "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "č", "ш": "š", "щ": "šč",
        "ъ": "", "ы": "ɨ", "ь": "", "э": "e", "ю": "ȷu", "я": "ȷa", "і": "i", "ї": "ȷi", "є": "ȷe",
        "ґ": "g", "ў": "u",
        # Diacritics that only mark vowel length, stress, softness or a diaeresis fold to the base letter;
        # ŝ is ISO 9 щ; ż is Polish ж.
        "á": "a", "à": "a", "â": "a", "ä": "e", "ã": "a", "å": "a", "ą": "a", "é": "e", "è": "e",
        "ê": "e", "ë": "e", "ě": "e", "ę": "e", "í": "i", "ì": "i", "î": "i", "ï": "i", "ó": "o",
        "ò": "o", "ô": "o", "ö": "e", "õ": "o", "ú": "u", "ù": "u", "û": "u", "ü": "u", "ů": "u",
        "ý": "y", "ÿ": "y", "ł": "l", "ś": "s", "ź": "z", "ż": "ž", "ć": "c", "ń": "n", "ň": "n",
        "ť": "t", "ď": "d", "ř": "r", "ç": "s", "ß": "ss", "œ": "e", "æ": "e", "ŝ": "šč", "ĵ": "ȷ",
        # ь/ъ marks and apostrophes carry nothing a skeleton keeps.
        "'": "", "’": "", "‘": "", "ʹ": "", "ʺ": "", "”": "", "“": "", "`": "", "´": "", "ʼ": "",
        "′": "", "″": "", ".": "",
    }
)  # fmt: skip

_GLIDES = frozenset("iyjȷ")
_VOWELS = frozenset("AEOUI")
_CONSONANT_UNITS = frozenset("BVGDXSKLMNPRTF")

# Multi-letter spellings of one sound, longest first. X = ж ш ч х (English ch = ч, German/Polish/Czech
# ch = х, French ch = ш, German sch = ш and ж: no key can keep them apart); XX = щ; S = с з ц (German
# s = з and z = ц). ou is French у. gu before e/i is French/Spanish г.
_DIGRAPHS: dict[str, str] = {
    "schtsch": "XX", "shch": "XX", "szcz": "XX", "chtch": "XX", "šč": "XX", "shh": "XX",
    "tsch": "X", "sch": "X", "tch": "X", "tč": "X", "zh": "X", "sh": "X", "ch": "X", "kh": "X",
    "sz": "X", "cz": "cz", "ts": "S", "tz": "S", "tc": "S", "ou": "U", "ph": "F", "ck": "K",
}  # fmt: skip
_SINGLE: dict[str, str] = {
    "a": "A", "b": "B", "c": "S", "d": "D", "e": "E", "f": "F", "g": "G", "h": "X", "k": "K", "l": "L",
    "m": "M", "n": "N", "p": "P", "q": "K", "r": "R", "s": "S", "t": "T", "u": "U", "v": "V", "w": "V",
    "z": "S", "ž": "X", "š": "X", "č": "X", "ɨ": "I", "i": "i", "y": "y", "j": "j", "ȷ": "ȷ", "o": "o",
    "x": "x",
}  # fmt: skip
# Every first sound class a key can start with (the units' classes, glides read as I, o as O or E, and the
# convention-dependent cz, x and j as S, X or K), then "*": what an initial can be, for single-initial
# look-ups (:func:`search_terms`).
_SOUNDS_OR_ANY = (
    *sorted({u[0] for u in (*_DIGRAPHS.values(), *_SINGLE.values()) if u[0].isupper()} | set("IOEXSK")),
    "*",
)
_UNIT_RE = re.compile("|".join(sorted(map(re.escape, _DIGRAPHS), key=len, reverse=True)) + r"|gu(?=[eiy])|.")
# ICAO 9303 writes ъ as "ie" (Подъячев → PODIEIACHEV, Объедков → OBIEEDKOV): ie after a consonant and
# before the i/e that starts ICAO's я/ю/е is that sign.
_ICAO_HARD_SIGN_RE = re.compile(r"(?<=[bcdfghklmnpqrstvwxzž])ie(?=[ie])")

# Traditional Western renderings no transliteration produces (Peter Tchaikovsky, Leo/Léon Tolstoy,
# Alexander Solzhenitsyn); written by hand because no library maps exonyms back to Russian names.
_EXONYMS: dict[str, str] = {
    "alexander": "александр", "alexandre": "александр", "aleksander": "александр", "peter": "пётр",
    "pierre": "пётр", "leo": "лев", "leon": "лев", "nicholas": "николай", "nicolas": "николай",
    "paul": "павел", "michael": "михаил", "catherine": "екатерина", "george": "георгий",
    "joseph": "иосиф", "theodore": "фёдор", "basil": "василий",
}  # fmt: skip


def _fold(text: str) -> str:
    """Lower-case Latin without diacritics, for exonym look-up."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def _latin_respell(token: str) -> str:
    """Undo Latin-only spellings before the letter rules: exonyms, Czech -ová, French -ine/-yne."""
    exonym = _EXONYMS.get(_fold(token))
    if exonym is not None:
        return exonym
    if token.endswith("ová") and len(token) > 5:  # Czech press adds -ová: Žukovová = Žukova
        token = token[:-3] + "a"
    if len(token) > 4 and token.endswith(("ine", "yne", "ïne")):  # French Poutine, Soljenitsyne
        token = token[:-1]
    # GOST 7.79 B marks ы as y` and э as e`; other backticks are ь/ъ and vanish with the apostrophes.
    return token.replace("y`", "ɨ").replace("e`", "e")


def _units(text: str, mode: int) -> list[str]:
    units: list[str] = []
    for piece in _UNIT_RE.findall(text):
        unit = "G" if piece == "gu" else _DIGRAPHS.get(piece) or _SINGLE.get(piece, "")
        if unit == "cz":
            unit = "S" if mode & _CZ_TSE else "X"
        elif unit == "x":
            unit = "X" if mode & _X_KHA else "KS"
        elif unit == "j" and mode & _HUSH_J:
            unit = "X"
        elif unit == "o":
            # ё is e in passports, o in German/Polish/Czech/Spanish after hushing consonants and after л
            # in Polish (Kowalow): inside a word о and е are one class; a word-initial bare o is always о.
            unit = "O" if not units else "E"
        if unit:
            units.append(unit)
    if len(units) > 1 and units[0] == "j" and units[1][0] in _CONSONANT_UNITS:
        units[0] = "X"  # French Jdanov: a j before a consonant cannot be a glide
    return units


def _resolve_glides(units: list[str]) -> list[str]:
    """i/y/j/ȷ before a vowel is a glide (я = ja = ia = ya = â) and vanishes; elsewhere it is и/й = I."""
    out: list[str] = []
    next_is_vowel = False
    for unit in reversed(units):
        if unit in _GLIDES:
            if next_is_vowel:
                continue
            unit = "I"
        out.append(unit)
        next_is_vowel = unit in _VOWELS
    out.reverse()
    return out


def _skeleton(units: list[str]) -> str:
    key = "".join(_resolve_glides(units))
    while "SS" in key:  # German and French double an intervocalic с (Wassili, Vassili)
        key = key.replace("SS", "S")
    # -ий/-ый/-ii/-iy/-ij/-y/-i all end in I after a consonant; dropping it makes Юрий = Yuri = Iurii.
    stem = key.rstrip("I")
    if stem and stem != key and stem[-1] in _CONSONANT_UNITS:
        return stem
    return key


@lru_cache(maxsize=1 << 17)
def _part_key(token: str, mode: int) -> str:
    if _LATIN_RE.search(token):
        token = _latin_respell(token)
        if token[:1] == "x":  # names open with кс only in Ксения, Ксенофонт: Xenia, but Xabarov = Хабаров
            mode = mode & ~_X_KHA if token[1:2] in ("e", "é") else mode | _X_KHA
    text = token.translate(_TO_INTERNAL)
    if "ie" in text:
        text = _ICAO_HARD_SIGN_RE.sub("", text)
    return _skeleton(_units(text, mode))


def part_key(word: str) -> str:
    """The script-neutral key of one name word (hyphenated halves joined by "-"); '' if nothing is left."""
    text = normalise(word)
    mode = _mode(text)
    return "-".join(k for half in text.replace(" ", "-").split("-") if (k := _part_key(half, mode)))


# --- tokens and initials ---------------------------------------------------------------------------------

_LONG_INITIALS = frozenset({"shch", "sch", "tsch", "szcz", "chtch", "schtsch", "tch"})


def _is_initial(token: str) -> bool:
    if "." not in token:
        return len(token) == 1
    pieces = [p for p in token.replace("-", ".").split(".") if p]
    return bool(pieces) and all(len(p) <= 2 or p.lower() in _LONG_INITIALS for p in pieces)


def _initial_pieces(token: str) -> list[str]:
    return [p for p in token.replace("-", ".").split(".") if p]


def index_terms(raw: str) -> list[str]:
    """Blind-index terms of a stored name: one per full word part (hyphen halves apart), no initials."""
    text = normalise(raw)
    mode = _mode(text)
    terms: list[str] = []
    for token in text.split(" "):
        if _is_initial(token):
            continue
        for half in token.split("-"):
            key = _part_key(half, mode)
            if key and (term := TERM_PREFIX + key) not in terms:
                terms.append(term)
    return terms


# --- the given-name lexicon and diminutives --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Lexicon:
    given_sex: dict[str, Sex | None]  # key of a full given name -> its sex (None if both exist)
    diminutive_of: dict[str, frozenset[tuple[str, Sex]]]  # key of a diminutive -> (full key, sex)


def _merge_sex(old: Sex | None, new: Sex, present: bool) -> Sex | None:
    return new if not present or old == new else None


@cache
def _lexicon() -> _Lexicon:
    given: dict[str, Sex | None] = {}
    diminutive: dict[str, set[tuple[str, Sex]]] = {}
    with DIMINUTIVES_CSV.open(encoding="utf-8") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        for row in rows:
            sex: Sex = "f" if row["sex"] == "f" else "m"
            full = _part_key(normalise(row["full"]), 0)
            given[full] = _merge_sex(given.get(full), sex, full in given)
            if row["diminutive"]:
                diminutive.setdefault(_part_key(normalise(row["diminutive"]), 0), set()).add((full, sex))
    for cyrillic in set(_EXONYMS.values()):
        given.setdefault(_part_key(cyrillic, 0), None)
    frozen = {k: frozenset(v) for k, v in diminutive.items()}
    return _Lexicon(given_sex=given, diminutive_of=frozen)


def _expand_diminutive(key: str, sex: Sex | None) -> str | None:
    """The full-name key a diminutive stands for; the key itself if it is no diminutive; None if ambiguous."""
    lexicon = _lexicon()
    if key in lexicon.given_sex or key not in lexicon.diminutive_of:
        return key
    fulls = {full for full, full_sex in lexicon.diminutive_of[key] if sex is None or full_sex == sex}
    return next(iter(fulls)) if len(fulls) == 1 else None


def _expansions(key: str) -> frozenset[str]:
    lexicon = _lexicon()
    if key in lexicon.given_sex or key not in lexicon.diminutive_of:
        return frozenset({key})
    return frozenset({key} | {full for full, _ in lexicon.diminutive_of[key]})


# --- parsing ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Part:
    role: Role
    text: str
    key: str  # hyphenated halves joined by "-"


@dataclass(frozen=True, slots=True)
class _Initial:
    role: Role
    text: str
    sound: str  # first sound class; "*" for a bare J/Y (Ю, Я, Е or Ё)


@dataclass(frozen=True, slots=True)
class _Analysis:
    parts: tuple[_Part, ...]
    initials: tuple[_Initial, ...]
    sex: Sex | None
    script: Script | None


def _script(text: str) -> Script | None:
    latin, cyrillic = bool(_LATIN_RE.search(text)), bool(_CYRILLIC_RE.search(text))
    if latin and cyrillic:
        return "mixed"
    return "latin" if latin else "cyrillic" if cyrillic else None


@lru_cache(maxsize=1 << 16)
def _word_key(word: str, mode: int) -> str:
    return "-".join(k for half in word.lower().split("-") if (k := _part_key(half, mode)))


def _is_patronymic(key: str) -> bool:
    last = key.rsplit("-", 1)[-1]
    return last.endswith(("EVIX", "EVNA", "IXNA")) or (len(last) >= 4 and last.endswith("IX"))


def _is_given(key: str) -> bool:
    lexicon = _lexicon()
    return key in lexicon.given_sex or key in lexicon.diminutive_of


_SURNAME_ENDINGS = ("EV", "EVA", "IN", "INA", "SK", "KAA", "ENKE")


def _looks_like_surname(key: str) -> bool:
    return not _is_given(key) and key.endswith(_SURNAME_ENDINGS)


def _surname_first(first: str, second: str, upper: bool) -> bool:
    """Order of a two-word name without patronymic: the known given name, then surname endings decide."""
    first_given, second_given = _is_given(first), _is_given(second)
    if first_given != second_given:
        return second_given
    first_surname, second_surname = _looks_like_surname(first), _looks_like_surname(second)
    if first_surname != second_surname:
        return first_surname
    # Passports and registers print SURNAME GIVEN in capitals; prose puts the given name first.
    return upper


_S: Role = "surname"
_G: Role = "given"
_P: Role = "patronymic"


def _roles_free(keys: list[str], upper: bool, has_initials: bool) -> list[Role]:
    """Roles of words when nothing (comma, MRZ) marks the surname."""
    n = len(keys)
    if n == 1:
        if _is_patronymic(keys[0]) and not has_initials:
            return [_P]
        return [_G] if _is_given(keys[0]) and not has_initials else [_S]
    if n == 2:
        if _is_patronymic(keys[1]) and not _is_patronymic(keys[0]):
            return [_G, _P]
        if _is_patronymic(keys[0]) and not _is_patronymic(keys[1]):
            return [_S, _G]
        return [_S, _G] if _surname_first(keys[0], keys[1], upper) else [_G, _S]
    # Шостакович and Рабинович end like patronymics: the word before the last decides.
    if _is_patronymic(keys[-2]) and (not _is_patronymic(keys[-1]) or _is_given(keys[0])):
        return [_G] * (n - 2) + [_P, _S]
    if _is_patronymic(keys[-1]):
        return [_S] + [_G] * (n - 2) + [_P]
    if _is_given(keys[0]) and not _is_given(keys[-1]):
        return [_G] * (n - 1) + [_S]
    return [_S] + [_G] * (n - 1)


def _roles_after_surname(keys: list[str]) -> list[Role]:
    if len(keys) >= 2 and _is_patronymic(keys[-1]):
        return [_G] * (len(keys) - 1) + [_P]
    if len(keys) == 1 and _is_patronymic(keys[0]) and not _is_given(keys[0]):
        return [_P]
    return [_G] * len(keys)


def _split_surname(text: str) -> tuple[str | None, str]:
    """A surname marked by an MRZ "<<" or a comma, and the rest."""
    if "<<" in text:
        head, _, tail = text.partition("<<")
        surname = "-".join(head.replace("<", " ").split())
        return (surname or None), tail.replace("<", " ")
    if "," in text:
        head, _, tail = text.partition(",")
        return (" ".join(head.split()) or None), tail
    return None, text.replace("<", " ")


def _initial_sound(text: str, mode: int) -> str:
    lowered = text.lower()
    if lowered in {"j", "y", "й"}:
        return "*"
    key = _part_key(lowered, mode) or _part_key(lowered + "a", mode)
    return key[0] if key else "*"


def _sex_of_given(key: str) -> Sex | None:
    lexicon = _lexicon()
    if key in lexicon.given_sex:
        return lexicon.given_sex[key]
    sexes = {sex for _, sex in lexicon.diminutive_of.get(key, ())}
    if len(sexes) == 1:
        return next(iter(sexes))
    return None


def _sex_of(parts: Iterable[_Part]) -> Sex | None:
    by_role: dict[str, Sex | None] = {}
    for part in parts:
        key = part.key.rsplit("-", 1)[-1]
        if part.role == "patronymic":
            by_role["patronymic"] = "m" if key.endswith("IX") else "f" if key.endswith("NA") else None
        elif part.role == "surname":
            if key.endswith(("EVA", "INA", "KAA", "SKA")):
                by_role["surname"] = "f"
            elif key.endswith(("EV", "IN", "SK")):
                by_role["surname"] = "m"
        elif "given" not in by_role or by_role["given"] is None:
            by_role["given"] = _sex_of_given(part.key)
    for role in ("patronymic", "surname", "given"):
        sex = by_role.get(role)
        if sex is not None:
            return sex
    return None


@lru_cache(maxsize=1 << 14)
def _analyse(raw: str) -> _Analysis:
    original = " ".join(
        _translate(_inner_quotes(unicodedata.normalize("NFC", raw)), _DASH_TABLE, _DASH_TABLE_RE).split()
    )
    text = normalise(raw)
    mode = _mode(text)
    marked_surname, rest = _split_surname(original.replace("«", " ").replace("»", " ").replace('"', " "))
    words: list[str] = []
    initials: list[str] = []
    for token in rest.split():
        token = token.strip("„“\"'()")
        if not token:
            continue
        if _is_initial(token):
            initials.extend(_initial_pieces(token))
        else:
            words.append(token.strip("."))
    keys = [_word_key(w, mode) for w in words]
    kept = [(w, k) for w, k in zip(words, keys, strict=True) if k]
    words, keys = [w for w, _ in kept], [k for _, k in kept]
    parts: list[_Part] = []
    if marked_surname is not None:
        parts.append(_Part("surname", marked_surname, _word_key(marked_surname.replace(" ", "-"), mode)))
        roles = _roles_after_surname(keys)
    else:
        upper = bool(words) and all(w.isupper() for w in words if len(w) > 1)
        roles = _roles_free(keys, upper, bool(initials)) if keys else []
    parts.extend(_Part(role, word, key) for role, word, key in zip(roles, words, keys, strict=True))
    filled = {p.role for p in parts}
    free_roles: list[Role] = [r for r in ("given", "patronymic") if r not in filled]
    if "surname" not in filled and len(initials) > len(free_roles):
        free_roles.append("surname")
    marks = tuple(
        _Initial(role, text_, _initial_sound(text_, mode))
        for role, text_ in zip(free_roles, initials, strict=False)
    )
    return _Analysis(tuple(parts), marks, _sex_of(parts), _script(text))


def parse(raw: str) -> ParsedName:
    """Split a name as written into its parts; roles come from commas, MRZ fillers, endings and order."""
    analysis = _analyse(raw)

    def joined(role: Role) -> str | None:
        texts = [p.text for p in analysis.parts if p.role == role]
        return " ".join(texts) if texts else None

    return ParsedName(
        surname=joined("surname"),
        given=joined("given"),
        patronymic=joined("patronymic"),
        initials=tuple(i.text for i in analysis.initials),
        sex=analysis.sex,
        script=analysis.script,
    )


# --- lookup and refinement ----------------------------------------------------------------------------------


def lookup_terms(raw: str, *, diminutives: bool = False) -> list[str]:
    """Terms a search must find (all of them): full word parts only, an initial is not a term.

    With ``diminutives`` a hypocoristic (Петя, Dima, Sasha) is replaced by its full name's term when the
    rest of the name settles which one (Саша Козлов → Александр); an ambiguous one contributes no term
    and is left to :func:`compatible` with ``diminutives=True``.
    """
    if not diminutives:
        return index_terms(raw)
    analysis = _analyse(raw)
    terms: list[str] = []
    for part in analysis.parts:
        halves = part.key.split("-")
        if part.role != "patronymic" and len(halves) == 1:
            expanded = _expand_diminutive(part.key, analysis.sex)
            if expanded is None:
                continue
            halves = [expanded]
        for key in halves:
            if (term := TERM_PREFIX + key) not in terms:
                terms.append(term)
    return terms


def _same_part(a: str, b: str, diminutives: bool) -> bool:
    if a == b:
        return True
    halves_a, halves_b = set(a.split("-")), set(b.split("-"))
    if halves_a <= halves_b or halves_b <= halves_a:  # Римский-Корсаков vs Корсаков
        return True
    return diminutives and not _expansions(a).isdisjoint(_expansions(b))


def _unmatched(
    left: tuple[_Part, ...], right: tuple[_Part, ...], diminutives: bool
) -> tuple[list[_Part], list[_Part]]:
    rest = list(right)
    unmatched: list[_Part] = []
    for part in left:
        match = next((other for other in rest if _same_part(part.key, other.key, diminutives)), None)
        if match is None:
            unmatched.append(part)
        else:
            rest.remove(match)
    return unmatched, rest


def _sound_fits(sound: str, part: _Part) -> bool:
    first = part.key[0]
    if sound == "*":
        return first in _VOWELS
    return first == sound


def _initials_agree(marks: tuple[_Initial, ...], other: _Analysis) -> bool:
    for mark in marks:
        part = next((p for p in other.parts if p.role == mark.role), None)
        if part is not None:
            if not _sound_fits(mark.sound, part):
                return False
            continue
        theirs = next((i for i in other.initials if i.role == mark.role), None)
        if theirs is not None and "*" not in (mark.sound, theirs.sound) and theirs.sound != mark.sound:
            return False
    return True


def compatible(
    query: str,
    candidate: str,
    *,
    query_birth_year: int | None = None,
    candidate_birth_year: int | None = None,
    diminutives: bool = False,
) -> bool:
    """Could ``candidate`` (fetched by the query's terms and decrypted) be the person ``query`` names?

    Birth years, when both are known, must be equal; a sex guessed on both sides must agree; a name part
    present on both sides must agree (in any order, so a misread order costs nothing); initials must agree
    with the other side's part or initial of the same role.
    """
    years = (query_birth_year, candidate_birth_year)
    if None not in years and years[0] != years[1]:
        return False
    q, c = _analyse(query), _analyse(candidate)
    if q.sex is not None and c.sex is not None and q.sex != c.sex:
        return False
    left_over, right_over = _unmatched(q.parts, c.parts, diminutives)
    if any(a.role == b.role for a in left_over for b in right_over):
        return False
    return _initials_agree(q.initials, c) and _initials_agree(c.initials, q)


# --- initials terms ---------------------------------------------------------------------------------------


def _role_sound(analysis: _Analysis, role: Role) -> str:
    """The first sound class :func:`compatible` checks an initial of ``role`` against: the first part of that
    role, else an initial of that role; "*" when neither (or a bare J/Y) constrains it."""
    part = next((p for p in analysis.parts if p.role == role), None)
    if part is not None:
        return part.key[0]
    mark = next((i for i in analysis.initials if i.role == role), None)
    return mark.sound if mark is not None else _ANY_SOUND


# Words of letters joined by single spaces or hyphens: no comma, MRZ filler, quote, dot or initial, so
# nothing marks the surname and the roles follow from the words' keys alone (:func:`_roles_free`).
_PLAIN_NAME_RE = re.compile(r"[^\W\d_]{2,}(?:-[^\W\d_]{2,})*(?: [^\W\d_]{2,}(?:-[^\W\d_]{2,})*)*")


def _plain_words(raw: str) -> list[tuple[str, str]] | None:
    """(word, key) of each word of a plain name that has a key; None when the name is not plain."""
    text = unicodedata.normalize("NFC", raw)
    if not _PLAIN_NAME_RE.fullmatch(text):
        return None
    mode = _mode(text.lower())
    return [(w, k) for w in text.split(" ") if (k := _word_key(w, mode))]


def _plain_parts(raw: str) -> tuple[_Part, ...] | None:
    """The parts :func:`_analyse` finds in a plain name, without its full parse (a bulk import indexes
    millions of plain names); None when the name is not plain."""
    kept = _plain_words(raw)
    if kept is None:
        return None
    keys = [k for _, k in kept]
    upper = all(w.isupper() for w, _ in kept)
    roles = _roles_free(keys, upper, False) if keys else []
    return tuple(_Part(r, w, k) for r, (w, k) in zip(roles, kept, strict=True))


@lru_cache(maxsize=1 << 16)
def _plain_terms(keys: tuple[str, ...], upper: bool) -> tuple[str, ...]:
    """:func:`stored_terms` of a plain name from its words' keys: roles and terms depend on nothing else,
    and the same three keys recur across a million names far more often than the same name does."""
    roles = _roles_free(list(keys), upper, False) if keys else []
    full = dict.fromkeys(TERM_PREFIX + half for k in keys for half in k.split("-") if half)
    # As _initials_of: the first part of a role gives its sound; a plain name has no initials.
    given = next((k[0] for r, k in zip(roles, keys, strict=True) if r == _G), _ANY_SOUND)
    patronymic = next((k[0] for r, k in zip(roles, keys, strict=True) if r == _P), _ANY_SOUND)
    initials = dict.fromkeys(
        f"{INITIAL_PREFIX}{half}:{given}:{patronymic}"
        for r, k in zip(roles, keys, strict=True)
        if r == _S
        for half in k.split("-")
        if half
    )
    return (*full, *initials)


def _initials_of(parts: tuple[_Part, ...], initials: tuple[_Initial, ...]) -> list[str]:
    """Per surname half, (surname, given sound, patronymic sound)."""
    analysis = _Analysis(parts, initials, None, None)
    given, patronymic = _role_sound(analysis, "given"), _role_sound(analysis, "patronymic")
    terms: list[str] = []
    for part in parts:
        if part.role != "surname":
            continue
        for half in part.key.split("-"):
            term = f"{INITIAL_PREFIX}{half}:{given}:{patronymic}"
            if half and term not in terms:
                terms.append(term)
    return terms


def initial_terms(raw: str) -> list[str]:
    """Composite terms of a stored name for initials queries: per surname half, (surname, given initial,
    patronymic initial), an absent or open initial written "*".

    They say no more than the surname term beside the first sound of two other parts, and they let
    "Иванов П. С." fetch the Ивановы whose initials can agree instead of every Иванов.
    """
    parts = _plain_parts(raw)
    if parts is not None:
        return _initials_of(parts, ())
    analysis = _analyse(raw)
    return _initials_of(analysis.parts, analysis.initials)


def stored_terms(raw: str) -> list[str]:
    """Every blind-index term of one stored name (or alias): :func:`index_terms` then :func:`initial_terms`.

    A plain name's full-part terms are its parts' keys, so it is read once for both."""
    kept = _plain_words(raw)
    if kept is None:
        return index_terms(raw) + initial_terms(raw)
    return list(_plain_terms(tuple(k for _, k in kept), all(w.isupper() for w, _ in kept)))


def record_terms(full_name: str, aliases: Iterable[str] = ()) -> list[str]:
    """Every blind-index term of a record: its name's and each alias's :func:`stored_terms`, without repeats.

    The one list that record creation, the bulk import and key rotation index, so they cannot drift apart.
    """
    seen: dict[str, None] = {}
    for value in (full_name, *aliases):
        for term in stored_terms(value):
            seen.setdefault(term, None)
    return list(seen)


def search_terms(raw: str, *, diminutives: bool = False) -> list[tuple[str, ...]]:
    """What a search looks up: a record is a candidate when, for every tuple, it holds one of its terms.

    A surname with definite initials ("Иванов П. С.", "P.S. Ivanov") looks up the composite initials terms
    of each surname half: the given and patronymic initials, or "*" for a stored name that leaves one open,
    so every record :func:`compatible` could accept through its surname is still fetched. Anything else
    looks up :func:`lookup_terms`, one term per tuple.
    """
    analysis = _analyse(raw)
    given, patronymic = _role_sound(analysis, "given"), _role_sound(analysis, "patronymic")
    only_surname = len(analysis.parts) == 1 and analysis.parts[0].role == "surname"
    if not (only_surname and analysis.initials and given != _ANY_SOUND):
        return [(t,) for t in lookup_terms(raw, diminutives=diminutives)]
    out: list[tuple[str, ...]] = []
    for half in dict.fromkeys(h for h in analysis.parts[0].key.split("-") if h):
        base = INITIAL_PREFIX + half
        if patronymic == _ANY_SOUND:
            # No (surname, given) term is stored (it would be one more index row per name for a rarer
            # query): a single initial looks up the triples with every patronymic sound instead.
            out.append(tuple(f"{base}:{g}:{p}" for g in (given, _ANY_SOUND) for p in _SOUNDS_OR_ANY))
        else:
            out.append(
                tuple(f"{base}:{g}:{p}" for g in (given, _ANY_SOUND) for p in (patronymic, _ANY_SOUND))
            )
    return out


# --- linkage features -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkageParts:
    """A name reduced to what record linkage compares: script-neutral part keys by role ("" when absent),
    the first sound class of the given name and patronymic (from the part or an initial; "" when open),
    every part key (hyphen halves apart), the given name's diminutive expansions, the sex guess, script."""

    surname: str
    given: str
    patronymic: str
    given_sound: str
    patronymic_sound: str
    keys: tuple[str, ...]
    given_forms: tuple[str, ...]
    sex: Sex | None
    script: Script | None


def linkage_parts(raw: str) -> LinkageParts:
    """The parts of one name as :mod:`kartoteka.linkage.engine` compares them (first part of each role)."""
    analysis = _analyse(raw)

    def key(role: Role) -> str:
        return next((p.key for p in analysis.parts if p.role == role), "")

    def sound(role: Role) -> str:
        value = _role_sound(analysis, role)
        return "" if value == _ANY_SOUND else value

    given = key("given")
    keys = tuple(dict.fromkeys(h for p in analysis.parts for h in p.key.split("-") if h))
    return LinkageParts(
        surname=key("surname"),
        given=given,
        patronymic=key("patronymic"),
        given_sound=sound("given"),
        patronymic_sound=sound("patronymic"),
        keys=keys,
        given_forms=tuple(sorted(_expansions(given))) if given else (),
        sex=analysis.sex,
        script=analysis.script,
    )


# --- romanisation for display ---------------------------------------------------------------------------

_SCHEMES = {
    "icao_9303": iuliia.ICAO_DOC_9303,
    "ru_passport_2010": iuliia.GOST_52535,
    "ru_passport_1997": iuliia.MVD_310,
    "bgn_pcgn": iuliia.BGN_PCGN,
    "wp_rus": iuliia.WIKIPEDIA,
    "gost_7_79_a": iuliia.GOST_779,
    "gost_7_79_b": iuliia.GOST_779_ALT,
    "scientific": iuliia.SCIENTIFIC,
}
# iuliia 0.13 leaves a Cyrillic ё in its GOST 7.79 A, BGN/PCGN and scientific output; those schemes write ë.
_YO_FIX = str.maketrans({"ё": "ë", "Ё": "Ë"})


def display_forms(cyrillic: str) -> dict[str, str]:
    """Romanisations of a Cyrillic name by scheme (passport schemes also as the MRZ name field)."""
    text = " ".join(unicodedata.normalize("NFC", cyrillic).split())
    forms = {name: str(schema.translate(text)).translate(_YO_FIX) for name, schema in _SCHEMES.items()}
    parsed = parse(text)
    if parsed.surname and parsed.given:
        surname = str(iuliia.ICAO_DOC_9303.translate(parsed.surname)).upper().replace("-", "<")
        given = str(iuliia.ICAO_DOC_9303.translate(parsed.given)).upper().replace(" ", "<")
        forms["icao_9303_mrz"] = f"{surname}<<{given}"
    return forms
