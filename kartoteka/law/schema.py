"""Legal regimes as data: the typed loader and validator for ``kartoteka/law/regimes/*.toml``.

One file per regime so a lawyer can correct a fact without touching code, and so an error can name the
file. Every fact carries a ``citation`` and a ``confidence`` mark: ``C`` the cited source states it, ``R``
reported second-hand, ``U`` uncertain or conflicting (shared/reference/domain-facts.md). Files are
validated completely on load; a malformed file raises ``RegimeError`` naming the file and the field
(``outcome[2].confidence``). Each regime records the SHA-256 of its file bytes (``version``) so every
ledger line can say which version of the law-as-data produced it.

File kinds (``[regime] kind``):

* ``recruitment`` — who it applies to (``[applies_to]``), when (``valid_from``/``valid_to``, inclusive),
  ``[term]``, ``[[excluded]]`` offences, ``[[outcome]]`` legal outcomes with triggers, its own
  ``[[payment]]`` terms, ``[[not_provided]]`` promises the regime never provided, ``[[caveat]]``.
* ``payments`` — ``[[payment]]`` entries, each with its own validity window and conditions.
* ``transitions`` — ``[[rule]]`` entries linking an earlier regime to a later one.

``RegimeSet.load(default_dir, override_dir)`` reads the packaged files and lets an organisation's files
replace (same ``id``) or add regimes. No Django here.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from kartoteka.lib import crypto, vocab

if TYPE_CHECKING:
    pass

__all__ = [
    "CONFIDENCE_MARKS",
    "DEFAULT_DIRECTORY",
    "LEGAL_STATUSES",
    "AppliesTo",
    "Caveat",
    "Excluded",
    "Instrument",
    "NotProvided",
    "Outcome",
    "Payment",
    "Regime",
    "RegimeError",
    "RegimeKind",
    "RegimeSet",
    "Term",
    "TransitionEffect",
    "TransitionRule",
    "Tri",
    "Window",
]

DEFAULT_DIRECTORY: Final = Path(__file__).resolve().parent / "regimes"
CONFIDENCE_MARKS: Final = frozenset({"C", "R", "U"})
LEGAL_STATUSES: Final = frozenset({"convicted", "suspect", "accused", "on_trial"})
OUTCOME_TRIGGERS: Final = frozenset({"on_signing", "after_months", "on_event"})
PAYMENT_DUES: Final = frozenset({"on_signing", "monthly", "on_event"})
CAVEAT_ABOUT: Final = frozenset({"excluded", "regime"})


class RegimeError(ValueError):
    """A regime file is malformed. ``file`` and ``field`` say where; the message says what."""

    def __init__(self, file: Path, field: str, problem: str) -> None:
        self.file = file
        self.field = field
        self.problem = problem
        super().__init__(f"{file}: field '{field}': {problem}")


class RegimeKind(StrEnum):
    RECRUITMENT = "recruitment"
    PAYMENTS = "payments"
    TRANSITIONS = "transitions"


class TransitionEffect(StrEnum):
    LATER_EVENTS = "later_events"
    COVERS_EARLIER_SIGNERS = "covers_earlier_signers"
    NOT_RETROACTIVE = "not_retroactive"


class Tri(StrEnum):
    """Three-valued answers: a fact the files or the case record cannot settle is ``MAYBE``."""

    YES = "yes"
    NO = "no"
    MAYBE = "maybe"


@dataclass(frozen=True, slots=True)
class Window:
    """Inclusive validity window; ``None`` ends are open."""

    valid_from: date | None = None
    valid_to: date | None = None

    def relation(self, lo: date, hi: date) -> Tri:
        """Whether every day of ``lo..hi`` lies in the window (YES), none does (NO), or some do (MAYBE)."""
        if (self.valid_from is not None and hi < self.valid_from) or (
            self.valid_to is not None and lo > self.valid_to
        ):
            return Tri.NO
        if (self.valid_from is None or lo >= self.valid_from) and (
            self.valid_to is None or hi <= self.valid_to
        ):
            return Tri.YES
        return Tri.MAYBE


@dataclass(frozen=True, slots=True)
class Caveat:
    text_ru: str
    text_en: str
    citation: str
    confidence: str
    about: str = "regime"


@dataclass(frozen=True, slots=True)
class Instrument:
    id: str
    title_ru: str
    title_en: str
    citation: str
    confidence: str


@dataclass(frozen=True, slots=True)
class AppliesTo:
    legal_statuses: frozenset[str]
    recruiters: frozenset[str]
    description_ru: str
    description_en: str
    citation: str
    confidence: str


@dataclass(frozen=True, slots=True)
class Term:
    months: int | None
    renews: bool
    citation: str
    confidence: str


@dataclass(frozen=True, slots=True)
class Excluded:
    label_ru: str
    label_en: str
    articles: tuple[str, ...]
    citation: str
    confidence: str

    def matches(self, article: str) -> bool:
        # "134" covers "134" and its parts "134.2"; "282.1" covers only 282.1 and its parts.
        return any(article == a or article.startswith(a + ".") for a in self.articles)


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str
    label_ru: str | None
    label_en: str | None
    instrument: Instrument
    article: str
    legal_statuses: frozenset[str] | None
    trigger: str
    months: int | None
    events: frozenset[str]
    discharge_grounds: frozenset[str]
    void_on: frozenset[str]
    void_reason_ru: str
    void_reason_en: str
    void_citation: str
    void_confidence: str
    also_matches: frozenset[str]
    citation: str
    confidence: str

    def matches_kind(self, kind: str) -> bool:
        return kind == self.kind or kind in self.also_matches


@dataclass(frozen=True, slots=True)
class Payment:
    id: str
    kind: str
    provided: bool
    amount: Decimal | None
    due: str
    event: str | None
    window: Window
    recruiters: frozenset[str] | None
    min_term_months: int | None
    in_custody: bool | None
    instrument: Instrument
    article: str
    line_without_promise: bool
    show_before_trigger: bool
    citation: str
    confidence: str
    caveats: tuple[Caveat, ...]


@dataclass(frozen=True, slots=True)
class NotProvided:
    kind: str
    reason_ru: str
    reason_en: str
    instrument: Instrument | None
    article: str
    citation: str
    confidence: str


@dataclass(frozen=True, slots=True)
class TransitionRule:
    id: str
    from_regime: str
    to_regime: str
    effective: date | None
    effect: TransitionEffect
    events: frozenset[str]
    note_ru: str
    note_en: str
    citation: str
    confidence: str


@dataclass(frozen=True, slots=True)
class Regime:
    id: str
    short: str
    kind: RegimeKind
    title_ru: str
    title_en: str
    window: Window
    citation: str
    confidence: str
    applies_to: AppliesTo | None
    term: Term | None
    instruments: Mapping[str, Instrument]
    excluded: tuple[Excluded, ...]
    caveats: tuple[Caveat, ...]
    outcomes: tuple[Outcome, ...]
    payments: tuple[Payment, ...]
    not_provided: tuple[NotProvided, ...]
    rules: tuple[TransitionRule, ...]
    path: Path
    version: str = field(repr=False)

    def title(self, lang: str) -> str:
        return self.title_ru if lang == "ru" else self.title_en

    def outcomes_for(self, legal_status: str) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.legal_statuses is None or legal_status in o.legal_statuses)

    def excluded_matches(self, articles: Iterable[str]) -> tuple[Excluded, ...]:
        arts = tuple(articles)
        return tuple(group for group in self.excluded if any(group.matches(a) for a in arts))

    def not_provided_for(self, kind: str) -> NotProvided | None:
        for entry in self.not_provided:
            if entry.kind == kind:
                return entry
        return None


# --- reading one file -----------------------------------------------------------------------------------


class _Table:
    """One TOML table with the path used in error messages (``outcome[2]``)."""

    __slots__ = ("file", "raw", "where")

    def __init__(self, file: Path, where: str, raw: object) -> None:
        if not isinstance(raw, dict):
            raise RegimeError(file, where or "(file)", "must be a table")
        self.file = file
        self.where = where
        self.raw: dict[str, Any] = raw

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, problem: str) -> RegimeError:
        return RegimeError(self.file, self.name(key), problem)

    def only(self, allowed: Iterable[str]) -> None:
        unknown = sorted(set(self.raw) - set(allowed))
        if unknown:
            raise self.fail(unknown[0], "unknown field (a typo?)")

    def text(self, key: str) -> str:
        value = self.raw.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "missing or not a non-empty string")
        return value.strip()

    def opt_text(self, key: str, default: str = "") -> str:
        if key not in self.raw:
            return default
        return self.text(key)

    def confidence(self, key: str = "confidence") -> str:
        value = self.raw.get(key)
        if value not in CONFIDENCE_MARKS:
            raise self.fail(key, "missing or not one of C, R, U")
        assert isinstance(value, str)
        return value

    def citation(self, key: str = "citation") -> str:
        return self.text(key)

    def opt_date(self, key: str) -> date | None:
        value = self.raw.get(key)
        if value is None:
            return None
        # tomllib reads 2024-03-23 as a date and 2024-03-23T00:00 as a datetime: only the former is meant.
        if not isinstance(value, date) or type(value) is not date:
            raise self.fail(key, "must be a TOML date (YYYY-MM-DD, unquoted)")
        return value

    def opt_int(self, key: str, *, minimum: int = 0) -> int | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"must be a whole number ≥ {minimum}")
        return value

    def opt_bool(self, key: str) -> bool | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.fail(key, "must be true or false")
        return value

    def flag(self, key: str, default: bool) -> bool:
        found = self.opt_bool(key)
        return default if found is None else found

    def amount(self, key: str) -> Decimal | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self.fail(key, "must be a non-negative number of roubles")
        return Decimal(str(value))

    def choice(self, key: str, allowed: frozenset[str], default: str | None = None) -> str:
        value = self.raw.get(key, default)
        if value not in allowed:
            raise self.fail(key, f"missing or not one of {', '.join(sorted(allowed))}")
        assert isinstance(value, str)
        return value

    def text_list(self, key: str, *, required: bool = False) -> tuple[str, ...]:
        value = self.raw.get(key)
        if value is None:
            if required:
                raise self.fail(key, "missing (a list of strings is required)")
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(key, "must be a list of non-empty strings")
        if required and not value:
            raise self.fail(key, "must not be empty")
        return tuple(v.strip() for v in value)

    def codes(self, key: str, vocabulary: str, *, required: bool = False) -> frozenset[str]:
        values = self.text_list(key, required=required)
        for value in values:
            if not vocab.has_code(vocabulary, value):
                raise self.fail(key, f"'{value}' is not a code of vocabulary {vocabulary}")
        return frozenset(values)

    def code(self, key: str, vocabulary: str) -> str:
        value = self.text(key)
        if not vocab.has_code(vocabulary, value):
            raise self.fail(key, f"'{value}' is not a code of vocabulary {vocabulary}")
        return value

    def statuses(self, key: str, *, required: bool) -> frozenset[str]:
        values = self.text_list(key, required=required)
        for value in values:
            if value not in LEGAL_STATUSES:
                raise self.fail(key, f"'{value}' is not one of {', '.join(sorted(LEGAL_STATUSES))}")
        return frozenset(values)

    def tables(self, key: str) -> list[_Table]:
        value = self.raw.get(key, [])
        if not isinstance(value, list):
            raise self.fail(key, "must be an array of tables ([[...]])")
        prefix = f"{self.where}.{key}" if self.where else key
        return [_Table(self.file, f"{prefix}[{i}]", item) for i, item in enumerate(value, start=1)]

    def table(self, key: str) -> _Table | None:
        if key not in self.raw:
            return None
        return _Table(self.file, self.name(key), self.raw[key])


_HEADER_KEYS = frozenset(
    {"id", "short", "kind", "title_ru", "title_en", "valid_from", "valid_to", "citation", "confidence"}
)
_TOP_KEYS = {
    RegimeKind.RECRUITMENT: frozenset(
        {
            "regime",
            "applies_to",
            "instrument",
            "term",
            "excluded",
            "caveat",
            "outcome",
            "payment",
            "not_provided",
        }
    ),
    RegimeKind.PAYMENTS: frozenset({"regime", "instrument", "payment", "caveat"}),
    RegimeKind.TRANSITIONS: frozenset({"regime", "rule", "caveat"}),
}
_CAVEAT_KEYS = frozenset({"about", "text_ru", "text_en", "citation", "confidence"})
_INSTRUMENT_KEYS = frozenset({"id", "title_ru", "title_en", "citation", "confidence"})
_APPLIES_KEYS = frozenset(
    {"legal_statuses", "recruiters", "description_ru", "description_en", "citation", "confidence"}
)
_TERM_KEYS = frozenset({"months", "renews", "citation", "confidence"})
_EXCLUDED_KEYS = frozenset({"label_ru", "label_en", "articles", "citation", "confidence"})
_OUTCOME_KEYS = frozenset(
    {
        "kind", "label_ru", "label_en", "instrument", "article", "legal_statuses", "trigger", "months",
        "events", "discharge_grounds", "void_on", "void_reason_ru", "void_reason_en", "void_citation",
        "void_confidence", "also_matches", "citation", "confidence",
    }
)  # fmt: skip
_PAYMENT_KEYS = frozenset(
    {
        "id", "kind", "provided", "amount", "due", "event", "valid_from", "valid_to", "recruiters",
        "min_term_months", "in_custody", "instrument", "article", "line_without_promise",
        "show_before_trigger", "citation", "confidence", "caveats",
    }
)  # fmt: skip
_NOT_PROVIDED_KEYS = frozenset(
    {"kind", "reason_ru", "reason_en", "instrument", "article", "citation", "confidence"}
)
_RULE_KEYS = frozenset(
    {
        "id", "from_regime", "to_regime", "effective", "effect", "events", "note_ru", "note_en",
        "citation", "confidence",
    }
)  # fmt: skip


def read_regime(path: Path) -> Regime:
    """One regime file, fully validated. Raises ``RegimeError`` naming the file and the field."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RegimeError(path, "(file)", f"cannot be read: {error.strerror}") from None
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise RegimeError(path, "(file)", "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise RegimeError(path, "(syntax)", f"not valid TOML: {error}") from None
    top = _Table(path, "", raw)
    header = top.table("regime")
    if header is None:
        raise RegimeError(path, "regime", "missing the [regime] table")
    header.only(_HEADER_KEYS)
    regime_id = header.text("id")
    if regime_id != path.stem:
        raise header.fail("id", f"must equal the file name '{path.stem}'")
    kind = RegimeKind(header.choice("kind", frozenset(RegimeKind)))
    top.only(_TOP_KEYS[kind])
    window = Window(header.opt_date("valid_from"), header.opt_date("valid_to"))
    if kind is RegimeKind.RECRUITMENT and window.valid_from is None:
        raise header.fail("valid_from", "required for a recruitment regime")
    _check_window(header, window, "valid_to")
    instruments = _instruments(top)
    caveats = tuple(_caveat(t) for t in top.tables("caveat"))
    applies_to = _applies_to(top) if kind is RegimeKind.RECRUITMENT else None
    term_table = top.table("term")
    term = _term(term_table) if term_table is not None else None
    return Regime(
        id=regime_id,
        short=header.opt_text("short", regime_id),
        kind=kind,
        title_ru=header.text("title_ru"),
        title_en=header.text("title_en"),
        window=window,
        citation=header.citation(),
        confidence=header.confidence(),
        applies_to=applies_to,
        term=term,
        instruments=MappingProxyType(instruments),
        excluded=tuple(_excluded(t) for t in top.tables("excluded")),
        caveats=caveats,
        outcomes=tuple(_outcome(t, instruments) for t in top.tables("outcome")),
        payments=_payments(top, instruments),
        not_provided=tuple(_not_provided(t, instruments) for t in top.tables("not_provided")),
        rules=tuple(_rule(t) for t in top.tables("rule")),
        path=path,
        version=crypto.digest(data).hex(),
    )


def _check_window(table: _Table, window: Window, key: str) -> None:
    if window.valid_from and window.valid_to and window.valid_to < window.valid_from:
        raise table.fail(key, "ends before valid_from")


def _instruments(top: _Table) -> dict[str, Instrument]:
    found: dict[str, Instrument] = {}
    for t in top.tables("instrument"):
        t.only(_INSTRUMENT_KEYS)
        item = Instrument(t.text("id"), t.text("title_ru"), t.text("title_en"), t.citation(), t.confidence())
        if item.id in found:
            raise t.fail("id", f"duplicate instrument id '{item.id}'")
        found[item.id] = item
    return found


def _instrument_ref(t: _Table, instruments: Mapping[str, Instrument], *, required: bool) -> Instrument | None:
    if "instrument" not in t.raw and not required:
        return None
    ref = t.text("instrument")
    if ref not in instruments:
        raise t.fail("instrument", f"'{ref}' is not an [[instrument]] id in this file")
    return instruments[ref]


def _caveat(t: _Table) -> Caveat:
    t.only(_CAVEAT_KEYS)
    return Caveat(
        t.text("text_ru"),
        t.text("text_en"),
        t.citation(),
        t.confidence(),
        t.choice("about", CAVEAT_ABOUT, "regime"),
    )


def _applies_to(top: _Table) -> AppliesTo:
    t = top.table("applies_to")
    if t is None:
        raise RegimeError(top.file, "applies_to", "missing the [applies_to] table")
    t.only(_APPLIES_KEYS)
    return AppliesTo(
        legal_statuses=t.statuses("legal_statuses", required=True),
        recruiters=t.codes("recruiters", "recruiter", required=True),
        description_ru=t.text("description_ru"),
        description_en=t.text("description_en"),
        citation=t.citation(),
        confidence=t.confidence(),
    )


def _term(t: _Table) -> Term:
    t.only(_TERM_KEYS)
    return Term(t.opt_int("months", minimum=1), t.flag("renews", False), t.citation(), t.confidence())


def _excluded(t: _Table) -> Excluded:
    t.only(_EXCLUDED_KEYS)
    return Excluded(
        t.text("label_ru"),
        t.text("label_en"),
        t.text_list("articles", required=True),
        t.citation(),
        t.confidence(),
    )


def _outcome(t: _Table, instruments: Mapping[str, Instrument]) -> Outcome:
    t.only(_OUTCOME_KEYS)
    trigger = t.choice("trigger", OUTCOME_TRIGGERS)
    months = t.opt_int("months", minimum=1)
    if trigger == "after_months" and months is None:
        raise t.fail("months", 'required when trigger = "after_months"')
    events = t.codes("events", "service_event_kind", required=trigger == "on_event")
    grounds = t.codes("discharge_grounds", "discharge_ground")
    if "discharge" in events and not grounds:
        raise t.fail("discharge_grounds", 'required when events include "discharge"')
    void_on = t.codes("void_on", "service_event_kind")
    instrument = _instrument_ref(t, instruments, required=True)
    assert instrument is not None
    statuses = t.statuses("legal_statuses", required=False) if "legal_statuses" in t.raw else None
    return Outcome(
        kind=t.code("kind", "promise_kind"),
        label_ru=t.opt_text("label_ru") or None,
        label_en=t.opt_text("label_en") or None,
        instrument=instrument,
        article=t.opt_text("article"),
        legal_statuses=statuses,
        trigger=trigger,
        months=months,
        events=events,
        discharge_grounds=grounds,
        void_on=void_on,
        void_reason_ru=t.text("void_reason_ru") if void_on else "",
        void_reason_en=t.text("void_reason_en") if void_on else "",
        void_citation=t.citation("void_citation") if void_on else "",
        void_confidence=t.confidence("void_confidence") if void_on else "",
        also_matches=t.codes("also_matches", "promise_kind"),
        citation=t.citation(),
        confidence=t.confidence(),
    )


def _payments(top: _Table, instruments: Mapping[str, Instrument]) -> tuple[Payment, ...]:
    found: list[Payment] = []
    seen: set[str] = set()
    for t in top.tables("payment"):
        payment = _payment(t, instruments)
        if payment.id in seen:
            raise t.fail("id", f"duplicate payment id '{payment.id}'")
        seen.add(payment.id)
        found.append(payment)
    return tuple(found)


def _payment(t: _Table, instruments: Mapping[str, Instrument]) -> Payment:
    t.only(_PAYMENT_KEYS)
    provided = t.flag("provided", True)
    amount = t.amount("amount")
    if provided and amount is None:
        raise t.fail("amount", "required for a provided payment")
    due = t.choice("due", PAYMENT_DUES)
    event = t.code("event", "service_event_kind") if due == "on_event" else None
    if due != "on_event" and "event" in t.raw:
        raise t.fail("event", 'only for due = "on_event"')
    window = Window(t.opt_date("valid_from"), t.opt_date("valid_to"))
    _check_window(t, window, "valid_to")
    recruiters = t.codes("recruiters", "recruiter") if "recruiters" in t.raw else None
    instrument = _instrument_ref(t, instruments, required=True)
    assert instrument is not None
    return Payment(
        id=t.text("id"),
        kind=t.code("kind", "promise_kind"),
        provided=provided,
        amount=amount,
        due=due,
        event=event,
        window=window,
        recruiters=recruiters,
        min_term_months=t.opt_int("min_term_months", minimum=1),
        in_custody=t.opt_bool("in_custody"),
        instrument=instrument,
        article=t.opt_text("article"),
        line_without_promise=t.flag("line_without_promise", True),
        show_before_trigger=t.flag("show_before_trigger", False),
        citation=t.citation(),
        confidence=t.confidence(),
        caveats=tuple(_caveat(c) for c in t.tables("caveats")),
    )


def _not_provided(t: _Table, instruments: Mapping[str, Instrument]) -> NotProvided:
    t.only(_NOT_PROVIDED_KEYS)
    return NotProvided(
        kind=t.code("kind", "promise_kind"),
        reason_ru=t.text("reason_ru"),
        reason_en=t.text("reason_en"),
        instrument=_instrument_ref(t, instruments, required=False),
        article=t.opt_text("article"),
        citation=t.citation(),
        confidence=t.confidence(),
    )


def _rule(t: _Table) -> TransitionRule:
    t.only(_RULE_KEYS)
    return TransitionRule(
        id=t.text("id"),
        from_regime=t.text("from_regime"),
        to_regime=t.text("to_regime"),
        effective=t.opt_date("effective"),
        effect=TransitionEffect(t.choice("effect", frozenset(TransitionEffect))),
        events=t.codes("events", "service_event_kind"),
        note_ru=t.opt_text("note_ru"),
        note_en=t.opt_text("note_en"),
        citation=t.citation(),
        confidence=t.confidence(),
    )


# --- the set ----------------------------------------------------------------------------------------------


class RegimeSet:
    """All regimes in force for an organisation, with the lookups the evaluator needs precomputed."""

    def __init__(self, regimes: Iterable[Regime]) -> None:
        by_id: dict[str, Regime] = {}
        for regime in regimes:
            by_id[regime.id] = regime
        self.regimes: Mapping[str, Regime] = MappingProxyType(by_id)
        self.recruitment: tuple[Regime, ...] = tuple(
            sorted((r for r in by_id.values() if r.kind is RegimeKind.RECRUITMENT), key=_window_start)
        )
        self.rules: Mapping[tuple[str, str], TransitionRule] = MappingProxyType(
            {(rule.from_regime, rule.to_regime): rule for r in by_id.values() for rule in r.rules}
        )
        self.rule_sources: Mapping[str, Regime] = MappingProxyType(
            {rule.id: r for r in by_id.values() for rule in r.rules}
        )
        payments: dict[str, list[tuple[Regime, Payment]]] = {}
        for r in by_id.values():
            if r.kind is RegimeKind.PAYMENTS:
                for p in r.payments:
                    payments.setdefault(p.kind, []).append((r, p))
        self.shared_payments: Mapping[str, tuple[tuple[Regime, Payment], ...]] = MappingProxyType(
            {k: tuple(v) for k, v in payments.items()}
        )
        self._check_rules()

    def _check_rules(self) -> None:
        for (source, target), rule in self.rules.items():
            home = self.rule_sources[rule.id]
            for key, ref in (("from_regime", source), ("to_regime", target)):
                if ref not in self.regimes:
                    raise RegimeError(home.path, f"rule '{rule.id}'.{key}", f"no regime with id '{ref}'")

    def __getitem__(self, regime_id: str) -> Regime:
        return self.regimes[regime_id]

    def __len__(self) -> int:
        return len(self.regimes)

    def versions(self) -> dict[str, str]:
        return {rid: r.version for rid, r in self.regimes.items()}

    @classmethod
    def load(cls, default_dir: Path | None = None, override_dir: Path | None = None) -> RegimeSet:
        """The packaged regimes, with an organisation's files replacing (same id) or adding to them."""
        files: dict[str, Path] = {}
        for directory in (default_dir or DEFAULT_DIRECTORY, override_dir):
            if directory is None:
                continue
            if not directory.is_dir():
                raise RegimeError(directory, "(directory)", "not a directory")
            for path in sorted(directory.glob("*.toml")):
                files[path.stem] = path
        if not files:
            raise RegimeError(default_dir or DEFAULT_DIRECTORY, "(directory)", "no regime files (*.toml)")
        return cls(read_regime(path) for path in files.values())

    @classmethod
    def default(cls) -> RegimeSet:
        return _default_set()

    def diff(self, other: RegimeSet, facts_list: Sequence[Any], *, as_of: date | None = None) -> list[Any]:
        """Which persons' ledgers would change if ``other`` replaced this set (the upload preview).

        Returns ``LedgerChange`` values (see ``kartoteka.law.engine``); a change of version hash alone,
        e.g. an edited comment, is not a change."""
        from kartoteka.law.engine import ledger_diff

        return list(ledger_diff(self, other, facts_list, as_of=as_of))


def _window_start(regime: Regime) -> date:
    return regime.window.valid_from or date.min


@lru_cache(maxsize=1)
def _default_set() -> RegimeSet:
    return RegimeSet.load()
