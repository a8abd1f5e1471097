"""Controlled vocabularies, kept as data in ``kartoteka/data/vocabularies/<name>.toml``.

One file per vocabulary so a lawyer or translator can correct a label without touching code, and so an
error can name the file. Every term has a stable snake_case ``code`` (stored in the database, never reused:
a term that is no longer offered stays in the file with ``retired = true``), a Russian and an English
label, and optionally a description and a HURIDOCS ESF mapping (``esf_code``, 12 digits; ``esf_list``,
the micro-thesaurus, e.g. ``MT05``; ``esf_match``: exact / good / approximate, or ``none`` with no code
when ESF has no fitting term). ESF codes come from ``data/reference/huridocs-mapping.md``; the thesauri
themselves belong to HURIDOCS and are not copied here.

File layout::

    [vocabulary]
    name = "incident_category"          # must equal the file name
    label_ru = "..."
    label_en = "..."
    description = "..."                 # optional
    esf_lists = ["MT04", "MT05"]         # optional: ESF lists this vocabulary corresponds to

    [[term]]
    code = "beating"
    ru = "Избиение"
    en = "Beating"
    esf_code = "030100000000"
    esf_list = "MT05"
    esf_match = "exact"
    esf_related = [{ esf_list = "MT04", esf_code = "020101000000" }]

``load()`` validates everything and fails with a ``VocabularyError`` naming file, vocabulary and field.
No Django here: the registry app turns ``choices()`` into form choices.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

__all__ = [
    "DEFAULT_DIRECTORY",
    "EsfMatch",
    "EsfRef",
    "Term",
    "UnknownTermError",
    "Vocabularies",
    "Vocabulary",
    "VocabularyError",
    "choices",
    "has_code",
    "label",
    "load",
    "term",
    "terms",
]

Lang = Literal["ru", "en"]

DEFAULT_DIRECTORY = Path(__file__).resolve().parent.parent / "data" / "vocabularies"

_CODE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_ESF_CODE = re.compile(r"\d{12}")
_ESF_LIST = re.compile(r"MT\d{2}")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")

_HEADER_KEYS = frozenset({"name", "label_ru", "label_en", "description", "esf_lists"})
_TERM_KEYS = frozenset(
    {
        "code",
        "ru",
        "en",
        "description_ru",
        "description_en",
        "esf_code",
        "esf_list",
        "esf_match",
        "esf_related",
        "retired",
        "abbr_ru",
        "abbr_en",
        "regimes",
    }
)
_RELATED_KEYS = frozenset({"esf_list", "esf_code"})
# Term fields whose values are codes of another vocabulary, checked once every file is loaded.
_CROSS_REFERENCES = {"regimes": "facility_regime"}


class EsfMatch(StrEnum):
    EXACT = "exact"
    GOOD = "good"
    APPROXIMATE = "approximate"
    NONE = "none"


class VocabularyError(ValueError):
    """A vocabulary file is malformed. The message names file, vocabulary, term and field."""

    def __init__(self, file: Path, vocabulary: str | None, field: str, problem: str, term: str | None = None):
        self.file = file
        self.vocabulary = vocabulary
        self.field = field
        self.term = term
        where = [str(file)]
        if vocabulary is not None:
            where.append(f"vocabulary '{vocabulary}'")
        if term is not None:
            where.append(f"term {term}")
        where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {problem}")


class UnknownTermError(KeyError):
    """A vocabulary or code that does not exist was looked up."""


@dataclass(frozen=True, slots=True)
class EsfRef:
    esf_list: str
    esf_code: str


@dataclass(frozen=True, slots=True)
class Term:
    code: str
    ru: str
    en: str
    description_ru: str | None = None
    description_en: str | None = None
    esf_code: str | None = None
    esf_list: str | None = None
    esf_match: EsfMatch | None = None
    esf_related: tuple[EsfRef, ...] = ()
    retired: bool = False
    abbr_ru: str | None = None
    abbr_en: str | None = None
    regimes: tuple[str, ...] = ()

    def label(self, lang: Lang) -> str:
        return self.ru if lang == "ru" else self.en


@dataclass(frozen=True, slots=True)
class Vocabulary:
    name: str
    label_ru: str
    label_en: str
    source: Path
    terms: tuple[Term, ...]
    description: str | None = None
    esf_lists: tuple[str, ...] = ()

    def term(self, code: str) -> Term:
        for candidate in self.terms:
            if candidate.code == code:
                return candidate
        raise UnknownTermError(f"vocabulary '{self.name}' has no term '{code}'")

    def active(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if not t.retired)

    def label(self, lang: Lang) -> str:
        return self.label_ru if lang == "ru" else self.label_en


@dataclass(frozen=True, slots=True)
class Vocabularies:
    by_name: Mapping[str, Vocabulary]
    directory: Path

    def __getitem__(self, name: str) -> Vocabulary:
        try:
            return self.by_name[name]
        except KeyError:
            raise UnknownTermError(f"no vocabulary named '{name}'") from None

    def __iter__(self) -> Iterator[Vocabulary]:
        return iter(self.by_name.values())

    def names(self) -> list[str]:
        return sorted(self.by_name)


# --- loading and validation ---------------------------------------------------------------------------


def load(directory: Path | None = None) -> Vocabularies:
    """All vocabularies in ``directory`` (default: the packaged ones), validated; cached per directory."""
    return _load_cached((directory or DEFAULT_DIRECTORY).resolve())


@lru_cache(maxsize=8)
def _load_cached(directory: Path) -> Vocabularies:
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise VocabularyError(directory, None, "(directory)", "no vocabulary files (*.toml) found")
    by_name: dict[str, Vocabulary] = {}
    for path in files:
        vocabulary = _read_file(path)
        by_name[vocabulary.name] = vocabulary
    _check_cross_references(by_name)
    return Vocabularies(MappingProxyType(by_name), directory)


def _read_file(path: Path) -> Vocabulary:
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise VocabularyError(path, None, "(syntax)", f"not valid TOML: {error}") from None
    header = raw.get("vocabulary")
    if not isinstance(header, dict):
        raise VocabularyError(path, None, "[vocabulary]", "missing the [vocabulary] table")
    name = header.get("name")
    if not isinstance(name, str) or name != path.stem:
        raise VocabularyError(path, None, "name", f"must be a string equal to the file name '{path.stem}'")
    _reject_unknown_keys(path, name, None, header, _HEADER_KEYS, "vocabulary.")
    extra_tables = set(raw) - {"vocabulary", "term"}
    if extra_tables:
        raise VocabularyError(path, name, sorted(extra_tables)[0], "unknown top-level table")
    raw_terms = raw.get("term")
    if not isinstance(raw_terms, list) or not raw_terms:
        raise VocabularyError(path, name, "[[term]]", "no terms")
    terms: list[Term] = []
    seen: set[str] = set()
    for index, raw_term in enumerate(raw_terms, start=1):
        parsed = _read_term(path, name, index, raw_term)
        if parsed.code in seen:
            raise VocabularyError(path, name, "code", f"duplicate code '{parsed.code}'", f"#{index}")
        seen.add(parsed.code)
        terms.append(parsed)
    return Vocabulary(
        name=name,
        label_ru=_label(path, name, None, header, "label_ru", "ru"),
        label_en=_label(path, name, None, header, "label_en", "en"),
        description=_optional_text(path, name, None, header, "description"),
        esf_lists=tuple(
            _esf_list(path, name, None, "esf_lists", v) for v in _list(path, name, None, header, "esf_lists")
        ),
        source=path,
        terms=tuple(terms),
    )


def _read_term(path: Path, vocabulary: str, index: int, raw: object) -> Term:
    where = f"#{index}"
    if not isinstance(raw, dict):
        raise VocabularyError(path, vocabulary, "[[term]]", "must be a table", where)
    code = raw.get("code")
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise VocabularyError(path, vocabulary, "code", "missing or not snake_case ([a-z][a-z0-9_]*)", where)
    where = f"#{index} ('{code}')"
    _reject_unknown_keys(path, vocabulary, where, raw, _TERM_KEYS, "")
    raw_code = raw.get("esf_code")
    esf_code = None if raw_code is None else _check_esf_code(path, vocabulary, where, "esf_code", raw_code)
    esf_list = _optional_text(path, vocabulary, where, raw, "esf_list")
    match_text = _optional_text(path, vocabulary, where, raw, "esf_match")
    esf_match = _esf_match(path, vocabulary, where, match_text)
    if esf_code is not None:
        if esf_list is None:
            raise VocabularyError(path, vocabulary, "esf_list", "required when esf_code is given", where)
        if esf_match in (None, EsfMatch.NONE):
            raise VocabularyError(
                path, vocabulary, "esf_match", "must be exact, good or approximate with an esf_code", where
            )
    elif esf_match not in (None, EsfMatch.NONE) or esf_list is not None:
        raise VocabularyError(
            path, vocabulary, "esf_code", "esf_list/esf_match given without esf_code", where
        )
    if esf_list is not None:
        _esf_list(path, vocabulary, where, "esf_list", esf_list)
    retired = raw.get("retired", False)
    if not isinstance(retired, bool):
        raise VocabularyError(path, vocabulary, "retired", "must be true or false", where)
    return Term(
        code=code,
        ru=_label(path, vocabulary, where, raw, "ru", "ru"),
        en=_label(path, vocabulary, where, raw, "en", "en"),
        description_ru=_optional_text(path, vocabulary, where, raw, "description_ru"),
        description_en=_optional_text(path, vocabulary, where, raw, "description_en"),
        esf_code=esf_code,
        esf_list=esf_list,
        esf_match=esf_match,
        esf_related=tuple(
            _esf_ref(path, vocabulary, where, item)
            for item in _list(path, vocabulary, where, raw, "esf_related")
        ),
        retired=retired,
        abbr_ru=_optional_text(path, vocabulary, where, raw, "abbr_ru"),
        abbr_en=_optional_text(path, vocabulary, where, raw, "abbr_en"),
        regimes=tuple(_code_list(path, vocabulary, where, raw, "regimes")),
    )


def _reject_unknown_keys(
    path: Path,
    vocabulary: str,
    where: str | None,
    raw: Mapping[str, Any],
    allowed: frozenset[str],
    prefix: str,
) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise VocabularyError(path, vocabulary, prefix + unknown[0], "unknown field (a typo?)", where)


def _optional_text(
    path: Path, vocabulary: str, where: str | None, raw: Mapping[str, Any], key: str
) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise VocabularyError(path, vocabulary, key, "must be a non-empty string when present", where)
    return value


def _label(
    path: Path, vocabulary: str, where: str | None, raw: Mapping[str, Any], key: str, lang: Lang
) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise VocabularyError(path, vocabulary, key, "missing or empty label", where)
    if value != value.strip():
        raise VocabularyError(path, vocabulary, key, "leading or trailing whitespace", where)
    # Catches swapped columns, the failure seen in OpenEvSys' Russian labels.
    if lang == "ru" and not _CYRILLIC.search(value):
        raise VocabularyError(path, vocabulary, key, "a Russian label must contain Cyrillic letters", where)
    if lang == "en" and _CYRILLIC.search(value):
        raise VocabularyError(path, vocabulary, key, "an English label must not contain Cyrillic", where)
    return value


def _list(path: Path, vocabulary: str, where: str | None, raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise VocabularyError(path, vocabulary, key, "must be a list", where)
    return value


def _code_list(path: Path, vocabulary: str, where: str, raw: Mapping[str, Any], key: str) -> list[str]:
    values = _list(path, vocabulary, where, raw, key)
    for value in values:
        if not isinstance(value, str) or not _CODE.fullmatch(value):
            raise VocabularyError(path, vocabulary, key, "every entry must be a snake_case code", where)
    return values


def _esf_match(path: Path, vocabulary: str, where: str, value: str | None) -> EsfMatch | None:
    if value is None:
        return None
    try:
        return EsfMatch(value)
    except ValueError:
        allowed = ", ".join(m.value for m in EsfMatch)
        raise VocabularyError(path, vocabulary, "esf_match", f"must be one of {allowed}", where) from None


def _check_esf_code(path: Path, vocabulary: str, where: str, key: str, value: object) -> str:
    if not isinstance(value, str) or not _ESF_CODE.fullmatch(value):
        raise VocabularyError(path, vocabulary, key, "an ESF code is exactly 12 digits, as a string", where)
    return value


def _esf_list(path: Path, vocabulary: str, where: str | None, key: str, value: object) -> str:
    if not isinstance(value, str) or not _ESF_LIST.fullmatch(value):
        raise VocabularyError(path, vocabulary, key, "an ESF list is 'MT' and two digits, e.g. MT05", where)
    return value


def _esf_ref(path: Path, vocabulary: str, where: str, raw: object) -> EsfRef:
    if not isinstance(raw, dict):
        raise VocabularyError(path, vocabulary, "esf_related", "entries must be {esf_list, esf_code}", where)
    _reject_unknown_keys(path, vocabulary, where, raw, _RELATED_KEYS, "esf_related.")
    return EsfRef(
        esf_list=_esf_list(path, vocabulary, where, "esf_related.esf_list", raw.get("esf_list")),
        esf_code=_check_esf_code(path, vocabulary, where, "esf_related.esf_code", raw.get("esf_code")),
    )


def _check_cross_references(by_name: Mapping[str, Vocabulary]) -> None:
    for vocabulary in by_name.values():
        for index, item in enumerate(vocabulary.terms, start=1):
            for field, target in _CROSS_REFERENCES.items():
                values: tuple[str, ...] = getattr(item, field)
                if not values:
                    continue
                known = {t.code for t in by_name[target].terms} if target in by_name else set()
                missing = [v for v in values if v not in known]
                if missing:
                    raise VocabularyError(
                        vocabulary.source,
                        vocabulary.name,
                        field,
                        f"'{missing[0]}' is not a code of vocabulary '{target}'",
                        f"#{index} ('{item.code}')",
                    )


# --- lookups on the packaged vocabularies -------------------------------------------------------------


def terms(vocab_name: str, *, include_retired: bool = False) -> list[Term]:
    vocabulary = load()[vocab_name]
    return list(vocabulary.terms if include_retired else vocabulary.active())


def term(vocab_name: str, code: str) -> Term:
    return load()[vocab_name].term(code)


def label(vocab_name: str, code: str, lang: Lang) -> str:
    """The label of any term, retired ones included (old records keep their meaning)."""
    return term(vocab_name, code).label(lang)


def has_code(vocab_name: str, code: str, *, include_retired: bool = False) -> bool:
    return any(t.code == code for t in terms(vocab_name, include_retired=include_retired))


def choices(vocab_name: str, lang: Lang) -> list[tuple[str, str]]:
    """(code, label) pairs of the terms still offered, in file order, for form fields."""
    return [(t.code, t.label(lang)) for t in load()[vocab_name].active()]
