"""The ledger evaluator: a person's facts + the regime files -> dated ledger lines. Pure, no Django.

Which law applies when:

* Entitlements fixed at signing come from the recruitment regime in force on the signing day for the
  person's recruiter and legal status. If the record cannot settle which regime that is (a year-only
  signing date spanning two regimes, an unknown recruiter), every line is ``unknown`` and names the
  missing facts.
* Later events (award, wound, discharge, new offence) are judged under the regime in force on the
  event's date only where a transition rule (``transitions.toml``) says so. Payments tied to an event
  (death, wound) are matched against the event's date.
* A later regime that covers the person's legal status when the regime at signing did not, with no
  transition rule either way, is a legal question: the line is ``unknown`` with both readings.

Statuses have fixed meanings (issue 6): kept / partly_kept / broken (only on a recorded refusal or
reversal) / overdue (due date passed, nothing recorded — never turned into broken by time) / pending /
beyond_the_law / not_applicable / unknown.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Final

from kartoteka.law import explain
from kartoteka.law.explain import Note, ProvisionText, Text
from kartoteka.law.schema import (
    Instrument,
    NotProvided,
    Outcome,
    Payment,
    Regime,
    RegimeSet,
    TransitionEffect,
    TransitionRule,
    Tri,
)
from kartoteka.lib.partialdate import DatePoint, PartialDate, Precision

__all__ = [
    "Delivery",
    "Facts",
    "Ledger",
    "LedgerChange",
    "LedgerLine",
    "LineStatus",
    "Promise",
    "Provision",
    "Reading",
    "ServiceEvent",
    "StatusEntry",
    "evaluate",
    "ledger_diff",
]

_ZERO: Final = Decimal(0)
# Person statuses that end military service, and the service-event kind each one stands for.
_END_STATUSES: Final = {
    "killed": "death",
    "missing": "missing",
    "returned": "discharge",
    "reimprisoned": "discharge",
}
# The discharge ground a status implies: "returned" says nothing about the ground, so it stays unknown.
_STATUS_GROUNDS: Final = {"reimprisoned": "prison_sentence"}
_END_EVENTS: Final = frozenset({"death", "missing", "discharge"})
_MAX_MONTHS: Final = 600


class LineStatus(StrEnum):
    KEPT = "kept"
    PARTLY_KEPT = "partly_kept"
    BROKEN = "broken"
    OVERDUE = "overdue"
    PENDING = "pending"
    BEYOND_THE_LAW = "beyond_the_law"
    NOT_APPLICABLE = "not_applicable"
    UNKNOWN = "unknown"


# --- facts ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceEvent:
    kind: str  # a service_event_kind code
    date: PartialDate
    discharge_ground: str = ""  # a discharge_ground code, for kind "discharge"


@dataclass(frozen=True, slots=True)
class StatusEntry:
    status: str  # a person_status code
    date: PartialDate


@dataclass(frozen=True, slots=True)
class Promise:
    id: str
    kind: str  # a promise_kind code
    amount: Decimal | None = None
    condition: str = ""  # after_6_months, monthly, on_death, on_wound, on_signing, after_12_months, ...
    due: PartialDate | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    promise_id: str
    outcome: str  # a delivery_outcome code: delivered, partly_delivered ("partly"), not_delivered, reversed
    amount: Decimal | None = None
    date: PartialDate = field(default_factory=PartialDate.unknown)


@dataclass(frozen=True, slots=True)
class Facts:
    signed: PartialDate
    legal_status: str = "unknown"  # convicted | suspect | accused | on_trial | unknown
    recruiter: str = "unknown"  # a recruiter code
    articles: tuple[str, ...] = ()
    in_custody_on_signing: bool | None = None
    term_months: int | None = None
    events: tuple[ServiceEvent, ...] = ()
    status_history: tuple[StatusEntry, ...] = ()
    promises: tuple[Promise, ...] = ()
    deliveries: tuple[Delivery, ...] = ()
    person_id: str = ""


# --- the ledger --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Provision:
    regime_id: str
    regime_short: str
    instrument_id: str
    instrument_ru: str
    instrument_en: str
    article: str
    citation: str
    confidence: str
    version: str  # SHA-256 of the regime file that produced it


@dataclass(frozen=True, slots=True)
class Reading:
    """One reading of an unsettled legal question: what the line would be if this regime governed."""

    regime_id: str
    status: LineStatus
    due: PartialDate | None
    explanation_ru: str
    explanation_en: str


@dataclass(frozen=True, slots=True)
class LedgerLine:
    kind: str
    sequence: int  # month number for monthly pay, wound number for injury payments, else 0
    status: LineStatus
    due: PartialDate | None
    trigger_pending: tuple[str, ...]  # event codes awaited while the trigger has not happened
    provisions: tuple[Provision, ...]
    amount_due: Decimal | None
    amount_delivered: Decimal | None
    amount_missing: Decimal | None
    missing_facts: tuple[str, ...]
    readings: tuple[Reading, ...]
    legal_question: bool
    promise_ids: tuple[str, ...]
    confidence: tuple[str, ...]
    regime_id: str | None
    regime_version: str | None
    versions: tuple[tuple[str, str], ...]
    # What the explanation is rendered from; rendering waits until someone reads it, so evaluating
    # 100,000 ledgers for a queue or an aggregate does not pay for 2 million sentences nobody reads.
    label: Text = field(repr=False, compare=False)
    notes: tuple[Note, ...] = field(repr=False, compare=False)
    provision_texts: tuple[ProvisionText, ...] = field(repr=False, compare=False)

    def explanation(self, lang: explain.Lang) -> str:
        return explain.render(
            lang=lang,
            kind=self.label,
            status=self.status.value,
            legal_question=self.legal_question,
            notes=self.notes,
            provisions=self.provision_texts,
            missing=self.missing_facts,
        )

    @property
    def explanation_ru(self) -> str:
        return self.explanation("ru")

    @property
    def explanation_en(self) -> str:
        return self.explanation("en")

    @property
    def provision(self) -> Provision | None:
        return self.provisions[0] if self.provisions else None

    def substance(self) -> tuple[object, ...]:
        """Everything a reader sees, without the file hashes (a comment edit changes nothing here)."""
        return (
            self.kind, self.sequence, self.status, self.due, self.trigger_pending, self.amount_due,
            self.amount_delivered, self.amount_missing, self.missing_facts, self.legal_question,
            self.promise_ids, self.confidence, self.explanation_en, self.explanation_ru,
            tuple((r.regime_id, r.status, r.due, r.explanation_en) for r in self.readings),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Ledger:
    person_id: str
    as_of: date
    regime_id: str | None  # the regime in force at signing, when the record settles it
    missing_facts: tuple[str, ...]
    lines: tuple[LedgerLine, ...]

    def by_kind(self, kind: str) -> tuple[LedgerLine, ...]:
        return tuple(line for line in self.lines if line.kind == kind)

    def statuses(self) -> tuple[LineStatus, ...]:
        return tuple(line.status for line in self.lines)

    def substance(self) -> tuple[object, ...]:
        return (self.regime_id, self.missing_facts, tuple(line.substance() for line in self.lines))


@dataclass(frozen=True, slots=True)
class LedgerChange:
    index: int
    person_id: str
    before: Ledger
    after: Ledger


# --- small date helpers ------------------------------------------------------------------------------------


_MONTH_DAYS: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _add_months(d: date, months: int) -> date:
    index = d.month - 1 + months
    year, month = d.year + index // 12, index % 12 + 1
    last = 29 if month == 2 and calendar.isleap(year) else _MONTH_DAYS[month - 1]
    return date(year, month, min(d.day, last))


@lru_cache(maxsize=65536)
def _day(d: date) -> PartialDate:
    # Cached: anniversaries and trigger days repeat across persons, and validation is the costly part.
    point = DatePoint(d.year, d.month, d.day)
    return PartialDate(point, point)


def _shift(pd: PartialDate, months: int) -> PartialDate:
    """``pd`` moved ``months`` later, keeping month precision where it had it."""
    lo, hi = pd.earliest(), pd.latest()
    assert lo is not None
    assert hi is not None
    if pd.precision is Precision.DAY:
        return _day(_add_months(lo, months))
    if pd.precision is Precision.MONTH:
        moved = _add_months(lo, months)
        return PartialDate.of(moved.year, moved.month)
    return PartialDate.between(_day(_add_months(lo, months)), _day(_add_months(hi, months)))


def _bounds(pd: PartialDate | None) -> tuple[date, date] | None:
    if pd is None or pd.start is None or pd.end is None:
        return None
    return pd.start.first(), pd.end.last()


# --- evaluation context -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Event:
    kind: str
    when: PartialDate
    lo: date | None
    hi: date | None
    ground: str


@dataclass(slots=True)
class _Ctx:
    facts: Facts
    as_of: date
    regimes: RegimeSet
    lo: date | None
    hi: date | None
    events: tuple[_Event, ...]
    service_end: _Event | None
    promises_by_kind: dict[str, list[Promise]]
    deliveries: dict[str, list[Delivery]]
    used: set[str]


def _context(facts: Facts, as_of: date, regimes: RegimeSet) -> _Ctx:
    bounds = _bounds(facts.signed)
    lo, hi = bounds if bounds else (None, None)
    events: list[_Event] = []
    seen_kinds: set[str] = set()
    for ev in facts.events:
        b = _bounds(ev.date)
        if b is not None and lo is not None and b[1] < lo:
            continue  # before signing: nothing to do with this service
        events.append(_Event(ev.kind, ev.date, b[0] if b else None, b[1] if b else None, ev.discharge_ground))
        seen_kinds.add(ev.kind)
    for entry in facts.status_history:
        kind = _END_STATUSES.get(entry.status)
        b = _bounds(entry.date)
        if kind is None or b is None or (lo is not None and b[1] < lo):
            continue
        # A status entry stands in for a service event only when no such event was recorded.
        if kind in seen_kinds:
            continue
        events.append(_Event(kind, entry.date, b[0], b[1], _STATUS_GROUNDS.get(entry.status, "")))
    events.sort(key=lambda e: (e.lo is None, e.lo or date.min))
    ends = [e for e in events if e.kind in _END_EVENTS and e.lo is not None]
    by_kind: dict[str, list[Promise]] = {}
    for p in facts.promises:
        by_kind.setdefault(p.kind, []).append(p)
    deliveries: dict[str, list[Delivery]] = {}
    for d in facts.deliveries:
        deliveries.setdefault(d.promise_id, []).append(d)
    for items in deliveries.values():
        items.sort(key=lambda d: d.date.sort_key())
    return _Ctx(
        facts, as_of, regimes, lo, hi, tuple(events), ends[0] if ends else None, by_kind, deliveries, set()
    )


# --- resolution: which recruitment regime governs at signing ----------------------------------------------


@dataclass(frozen=True, slots=True)
class _Resolution:
    regime: Regime | None
    candidates: tuple[Regime, ...]
    missing: tuple[str, ...]
    uncovered: tuple[Regime, ...]  # in force for the recruiter at signing, but not for this legal status


def _signing_precision_fact(signed: PartialDate) -> str:
    if signed.start is not None and signed.start.month is None:
        return "signing_month"
    return "signing_day"


def _resolve(ctx: _Ctx) -> _Resolution:
    facts = ctx.facts
    certain: list[Regime] = []
    maybe: list[Regime] = []
    uncovered: list[Regime] = []
    missing: list[str] = []
    for r in ctx.regimes.recruitment:
        applies = r.applies_to
        assert applies is not None
        rec = (
            Tri.YES
            if facts.recruiter in applies.recruiters
            else Tri.MAYBE
            if facts.recruiter == "unknown"
            else Tri.NO
        )
        if rec is Tri.NO:
            continue
        win = Tri.MAYBE if ctx.lo is None or ctx.hi is None else r.window.relation(ctx.lo, ctx.hi)
        if win is Tri.NO:
            continue
        status = (
            Tri.YES
            if facts.legal_status in applies.legal_statuses
            else Tri.MAYBE
            if facts.legal_status == "unknown"
            else Tri.NO
        )
        if status is Tri.NO:
            if rec is Tri.YES and win is Tri.YES:
                uncovered.append(r)
            continue
        if rec is Tri.YES and win is Tri.YES and status is Tri.YES:
            certain.append(r)
            continue
        maybe.append(r)
        for tri, fact in ((rec, "recruiter"), (status, "legal_status")):
            if tri is Tri.MAYBE and fact not in missing:
                missing.append(fact)
        if win is Tri.MAYBE:
            fact = "signing_date" if ctx.lo is None else _signing_precision_fact(facts.signed)
            if fact not in missing:
                missing.append(fact)
    if len(certain) == 1 and not maybe:
        return _Resolution(certain[0], (certain[0],), (), ())
    if len(certain) > 1:
        missing.append("transition_rule")
    if ctx.lo is None and "signing_date" not in missing:
        missing.insert(0, "signing_date")
    return _Resolution(None, tuple(certain + maybe), tuple(_order_missing(missing)), tuple(uncovered))


_MISSING_ORDER: Final = (
    "signing_date", "recruiter", "signing_month", "signing_day", "legal_status", "transition_rule",
)  # fmt: skip


def _order_missing(items: Iterable[str]) -> list[str]:
    unique = list(dict.fromkeys(items))
    return sorted(
        unique, key=lambda m: _MISSING_ORDER.index(m) if m in _MISSING_ORDER else len(_MISSING_ORDER)
    )


# --- drafts ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Draft:
    kind: str
    label: Text
    sequence: int = 0
    status: LineStatus = LineStatus.UNKNOWN
    due: PartialDate | None = None
    trigger: tuple[str, ...] = ()
    provisions: list[tuple[Regime, ProvisionText, Provision]] = field(default_factory=list)
    amount_due: Decimal | None = None
    amount_delivered: Decimal | None = None
    missing: list[str] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    legal_question: bool = False
    promises: list[Promise] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    marks: set[str] = field(default_factory=set)
    regimes: dict[str, str] = field(default_factory=dict)
    # What the line becomes when a promise of it exists but the law does not apply: beyond_the_law for an
    # excluded offence or a denied payment; not_applicable when a condition simply failed.
    if_promised: LineStatus = LineStatus.NOT_APPLICABLE
    due_lo: date | None = None

    def cite(
        self, regime: Regime, instrument: Instrument | None, article: str, citation: str, confidence: str
    ) -> None:
        key = (regime.id, regime.version, instrument.id if instrument else "", article, citation, confidence)
        cached = _PROVISIONS.get(key)
        if cached is None:
            cached = _provision(regime, instrument, article, citation, confidence)
            _PROVISIONS[key] = cached
        self.provisions.append((regime, cached[0], cached[1]))
        self.marks.add(confidence)
        if instrument is not None:
            self.marks.add(instrument.confidence)
        self.regimes.setdefault(regime.id, regime.version)

    def touch(self, regime: Regime) -> None:
        self.regimes.setdefault(regime.id, regime.version)

    def note(self, code: str, *args: explain.Arg, mark: str | None = None) -> None:
        self.notes.append((code, args))
        if mark:
            self.marks.add(mark)


# Provisions are the same objects for every person: built once per regime version and reused.
_PROVISIONS: dict[tuple[str, ...], tuple[ProvisionText, Provision]] = {}


def _provision(
    regime: Regime, instrument: Instrument | None, article: str, citation: str, confidence: str
) -> tuple[ProvisionText, Provision]:
    inst_ru = instrument.title_ru if instrument else regime.title_ru
    inst_en = instrument.title_en if instrument else regime.title_en
    text = ProvisionText(
        regime.short,
        Text(regime.title_ru, regime.title_en),
        Text(inst_ru, inst_en),
        article,
        citation,
        confidence,
    )
    prov = Provision(
        regime.id, regime.short, instrument.id if instrument else "", inst_ru, inst_en, article, citation,
        confidence, regime.version,
    )  # fmt: skip
    return text, prov


def _outcome_label(outcome: Outcome) -> Text:
    if outcome.label_ru and outcome.label_en:
        return Text(outcome.label_ru, outcome.label_en)
    return explain.kind_label(outcome.kind)


def _mark(confidence: str) -> str:
    return f"[{confidence}]"


# --- outcomes ------------------------------------------------------------------------------------------------


def _judge_outcome(
    ctx: _Ctx,
    regime: Regime,
    outcome: Outcome,
    draft: _Draft,
    *,
    events_from: date | None = None,
) -> None:
    """Fill ``draft`` with the outcome's due date / trigger / applicability (not yet its delivery status)."""
    facts = ctx.facts
    draft.cite(regime, outcome.instrument, outcome.article, outcome.citation, outcome.confidence)
    excluded = regime.excluded_matches(facts.articles)
    if excluded:
        for group in excluded:
            arts = ", ".join(a for a in facts.articles if group.matches(a))
            draft.note(
                "excluded",
                arts,
                Text(group.label_ru, group.label_en),
                _mark(group.confidence),
                mark=group.confidence,
            )
        _caveats(draft, regime, "excluded")
        draft.status = LineStatus.NOT_APPLICABLE
        draft.if_promised = LineStatus.BEYOND_THE_LAW
        return
    if regime.excluded and not facts.articles:
        draft.note("no_articles")
        _caveats(draft, regime, "excluded")
    if ctx.lo is None:
        draft.status, draft.missing = LineStatus.UNKNOWN, ["signing_date"]
        return
    if outcome.trigger == "on_signing":
        draft.due = facts.signed
        draft.note("due_on_signing", facts.signed)
        draft.status = LineStatus.PENDING
        return
    if outcome.trigger == "after_months":
        assert outcome.months is not None
        due = _shift(facts.signed, outcome.months)
        draft.due = due
        draft.note("due_after_months", outcome.months, due)
        end = ctx.service_end
        due_lo, due_hi = _bounds(due) or (ctx.lo, ctx.lo)
        if end is not None and end.hi is not None and end.lo is not None:
            if end.hi < due_lo:
                draft.note("service_ended_before", end.when)
                draft.status = LineStatus.NOT_APPLICABLE
                return
            if end.lo < due_hi:
                draft.note("service_end_uncertain", end.when)
                draft.status, draft.missing = LineStatus.UNKNOWN, ["service_end_date"]
                return
        draft.status = LineStatus.PENDING
        return
    _judge_event_outcome(ctx, regime, outcome, draft, events_from=events_from)


def _judge_event_outcome(
    ctx: _Ctx, regime: Regime, outcome: Outcome, draft: _Draft, *, events_from: date | None
) -> None:
    transition = _later_events_rule(ctx.regimes, regime)
    noted_transition = False
    for ev in ctx.events:
        if events_from is not None and ev.hi is not None and ev.hi < events_from:
            continue
        governing, gov_regime = outcome, regime
        if transition is not None and ev.kind in transition[0].events:
            rule, target, effective = transition
            if ev.lo is not None and ev.lo >= effective:
                replacement = _same_outcome(target, outcome.kind, ctx.facts.legal_status)
                if replacement is not None:
                    governing, gov_regime = replacement, target
                    if not noted_transition:
                        _note_transition(ctx, draft, rule, target, effective)
                        draft.cite(
                            target,
                            replacement.instrument,
                            replacement.article,
                            replacement.citation,
                            replacement.confidence,
                        )
                        noted_transition = True
            elif ev.hi is not None and ev.hi >= effective:
                draft.note("service_end_uncertain", ev.when)
                draft.status, draft.missing = LineStatus.UNKNOWN, ["event_date"]
                return
        if ev.kind in governing.void_on:
            draft.note(
                "void", explain.event_label(ev.kind), ev.when, Text(governing.void_reason_ru, governing.void_reason_en),
                _mark(governing.void_confidence), governing.void_citation, mark=governing.void_confidence,
            )  # fmt: skip
            draft.touch(gov_regime)
            draft.status = LineStatus.NOT_APPLICABLE
            return
        if ev.kind in governing.events:
            if ev.kind == "discharge":
                if not ev.ground:
                    draft.status, draft.missing = LineStatus.UNKNOWN, ["discharge_ground"]
                    return
                if ev.ground not in governing.discharge_grounds:
                    draft.note("discharge_not_listed", ev.when, explain.event_label(ev.ground))
                    draft.status = LineStatus.NOT_APPLICABLE
                    return
            if ev.lo is None:
                draft.status, draft.missing = LineStatus.UNKNOWN, ["event_date"]
                return
            draft.due = ev.when
            draft.note("due_on_event", explain.event_label(ev.kind), ev.when)
            draft.status = LineStatus.PENDING
            return
        if ev.kind == "death":
            draft.note("died_before_trigger", ev.when)
            draft.status = LineStatus.NOT_APPLICABLE
            return
        if ev.kind == "discharge":
            ground = ev.ground or "other"
            draft.note("discharge_not_listed", ev.when, explain.event_label(ground))
            draft.status = LineStatus.NOT_APPLICABLE
            return
    draft.trigger = tuple(sorted(outcome.events))
    draft.note("awaiting", _awaiting_text(outcome.events, outcome.discharge_grounds))
    if transition is not None and not noted_transition:
        _note_transition(ctx, draft, transition[0], transition[1], transition[2])
    draft.status = LineStatus.PENDING


@lru_cache(maxsize=256)
def _awaiting_text(events: frozenset[str], grounds: frozenset[str]) -> Text:
    labels = []
    for event in sorted(events):
        label = explain.event_label(event)
        if event == "discharge" and grounds:
            listed = [explain.event_label(g) for g in sorted(grounds)]
            label = Text(
                f"{label.ru} ({explain.join_texts(listed, 'ru')})",
                f"{label.en} ({explain.join_texts(listed, 'en')})",
            )
        labels.append(label)
    return Text(explain.join_texts(labels, "ru"), explain.join_texts(labels, "en"))


def _note_transition(ctx: _Ctx, draft: _Draft, rule: TransitionRule, target: Regime, effective: date) -> None:
    home = ctx.regimes.rule_sources[rule.id]
    draft.touch(home)
    draft.note(
        "transition", _day(effective), target.short, rule.id, _mark(rule.confidence),
        Text(rule.note_ru or rule.citation, rule.note_en or rule.citation), mark=rule.confidence,
    )  # fmt: skip


def _later_events_rule(regimes: RegimeSet, regime: Regime) -> tuple[TransitionRule, Regime, date] | None:
    for (source, target), rule in regimes.rules.items():
        if source == regime.id and rule.effect is TransitionEffect.LATER_EVENTS:
            to = regimes[target]
            return rule, to, rule.effective or to.window.valid_from or date.min
    return None


def _same_outcome(regime: Regime, kind: str, legal_status: str) -> Outcome | None:
    for o in regime.outcomes_for(legal_status):
        if o.kind == kind:
            return o
    return None


def _caveats(draft: _Draft, regime: Regime, about: str) -> None:
    for c in regime.caveats:
        if c.about == about:
            draft.note("caveat", Text(c.text_ru, c.text_en), _mark(c.confidence), mark=c.confidence)


def _outcome_drafts(ctx: _Ctx, regime: Regime, *, events_from: date | None = None) -> list[_Draft]:
    drafts = []
    for outcome in regime.outcomes_for(ctx.facts.legal_status):
        draft = _Draft(outcome.kind, _outcome_label(outcome))
        _judge_outcome(ctx, regime, outcome, draft, events_from=events_from)
        _attach_promises(ctx, draft, outcome.matches_kind)
        drafts.append(draft)
    return drafts


def _legal_question_drafts(ctx: _Ctx, res: _Resolution) -> list[_Draft]:
    """The at-signing regime did not cover the person's status; a later one does."""
    drafts: list[_Draft] = []
    assert ctx.hi is not None
    for later in ctx.regimes.recruitment:
        applies = later.applies_to
        assert applies is not None
        start = later.window.valid_from
        if start is None or start <= ctx.hi or start > ctx.as_of:
            continue
        if (
            ctx.facts.recruiter not in applies.recruiters
            or ctx.facts.legal_status not in applies.legal_statuses
        ):
            continue
        for at_signing in res.uncovered:
            rule = ctx.regimes.rules.get((at_signing.id, later.id))
            if rule is not None and rule.effect is TransitionEffect.NOT_RETROACTIVE:
                continue
            if rule is not None and rule.effect is TransitionEffect.COVERS_EARLIER_SIGNERS:
                effective = rule.effective or start
                for draft in _outcome_drafts(ctx, later, events_from=effective):
                    _note_transition(ctx, draft, rule, later, effective)
                    drafts.append(draft)
                continue
            drafts.extend(_two_readings(ctx, at_signing, later, start))
    return drafts


def _two_readings(ctx: _Ctx, at_signing: Regime, later: Regime, start: date) -> list[_Draft]:
    drafts = []
    a_applies, l_applies = at_signing.applies_to, later.applies_to
    assert a_applies is not None
    assert l_applies is not None
    for outcome in later.outcomes_for(ctx.facts.legal_status):
        label = _outcome_label(outcome)
        # Reading 1: the law at signing, which did not cover this legal status.
        first = _Draft(outcome.kind, label, status=LineStatus.NOT_APPLICABLE)
        first.cite(at_signing, None, "", a_applies.citation, a_applies.confidence)
        first.note(
            "status_only",
            Text(a_applies.description_ru, a_applies.description_en),
            Text(*_status_words(ctx.facts.legal_status)),
        )
        # Reading 2: the later law, judging events from its first day.
        second = _Draft(outcome.kind, label)
        _judge_outcome(ctx, later, outcome, second, events_from=start)
        _attach_promises(ctx, second, outcome.matches_kind)
        _settle(ctx, second)
        _settle(ctx, first)
        line = _Draft(outcome.kind, label, status=LineStatus.UNKNOWN, legal_question=True)
        line.promises = second.promises
        line.deliveries = second.deliveries
        line.missing = ["transition_rule"]
        line.note(
            "legal_question", at_signing.short, Text(a_applies.description_ru, a_applies.description_en),
            later.short, _day(start), Text(l_applies.description_ru, l_applies.description_en),
        )  # fmt: skip
        for i, reading in enumerate((first, second), start=1):
            regime = reading.provisions[0][0]
            text = Text(_render(reading, "ru"), _render(reading, "en"))
            line.note("reading", i, regime.short, text)
            line.readings.append(Reading(regime.id, reading.status, reading.due, text.ru, text.en))
            for r, ptext, prov in reading.provisions:
                line.provisions.append((r, ptext, prov))
                line.regimes.setdefault(r.id, r.version)
            line.marks |= reading.marks
        drafts.append(line)
    return drafts


_STATUS_WORDS: Final = {
    "convicted": ("осуждённый", "convicted"),
    "suspect": ("подозреваемый", "suspect"),
    "accused": ("обвиняемый", "accused"),
    "on_trial": ("подсудимый (дело в суде)", "defendant on trial"),
    "unknown": ("неизвестно", "unknown"),
}


def _status_words(status: str) -> tuple[str, str]:
    return _STATUS_WORDS.get(status, (status, status))


# --- payments ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Option:
    regime: Regime
    payment: Payment
    tri: Tri
    missing: tuple[str, ...]


def _term_months(ctx: _Ctx, res: _Resolution) -> tuple[Tri, str | None]:
    """Whether the contract term is known, as a Tri for a 12-month minimum, with the missing fact."""
    if ctx.facts.term_months is not None:
        return Tri.YES, None
    regime = res.regime or (res.uncovered[0] if res.uncovered else None)
    if regime is not None and regime.term is not None:
        return Tri.YES, None
    return Tri.MAYBE, "contract_term"


def _payment_option(
    ctx: _Ctx, res: _Resolution, regime: Regime, payment: Payment, when: tuple[date, date] | None, own: bool
) -> _Option:
    missing: list[str] = []
    tris: list[Tri] = []
    facts = ctx.facts
    if own:
        if res.regime is regime:
            tris.append(Tri.YES)
        else:
            tris.append(Tri.MAYBE)
            missing.extend(res.missing)
    elif payment.recruiters is not None:
        if facts.recruiter in payment.recruiters:
            tris.append(Tri.YES)
        elif facts.recruiter == "unknown":
            tris.append(Tri.MAYBE)
            missing.append("recruiter")
        else:
            return _Option(regime, payment, Tri.NO, ())
    if when is None:
        tris.append(Tri.MAYBE)
        missing.append("signing_date" if payment.due != "on_event" else "event_date")
    else:
        win = payment.window.relation(*when)
        if win is Tri.NO:
            return _Option(regime, payment, Tri.NO, ())
        if win is Tri.MAYBE:
            tris.append(Tri.MAYBE)
            missing.append(
                _signing_precision_fact(facts.signed) if payment.due != "on_event" else "event_date"
            )
    if payment.min_term_months is not None:
        term = facts.term_months
        if term is not None:
            if term < payment.min_term_months:
                return _Option(regime, payment, Tri.NO, ())
        else:
            tri, fact = _term_months(ctx, res)
            regime_term = res.regime or (res.uncovered[0] if res.uncovered else None)
            months = regime_term.term.months if regime_term and regime_term.term else None
            if tri is Tri.YES and months is not None and months < payment.min_term_months:
                return _Option(regime, payment, Tri.NO, ())
            if tri is Tri.MAYBE and fact:
                tris.append(Tri.MAYBE)
                missing.append(fact)
    if payment.in_custody is not None:
        if facts.in_custody_on_signing is None:
            tris.append(Tri.MAYBE)
            missing.append("in_custody_on_signing")
        elif facts.in_custody_on_signing != payment.in_custody:
            return _Option(regime, payment, Tri.NO, ())
    tri = Tri.MAYBE if Tri.MAYBE in tris else Tri.YES
    return _Option(regime, payment, tri, tuple(dict.fromkeys(missing)))


def _payment_sources(ctx: _Ctx, res: _Resolution) -> dict[str, list[tuple[Regime, Payment, bool]]]:
    by_kind: dict[str, list[tuple[Regime, Payment, bool]]] = {}
    own_regimes = (res.regime,) if res.regime is not None else res.candidates
    for regime in own_regimes:
        for p in regime.payments:
            by_kind.setdefault(p.kind, []).append((regime, p, True))
    for kind, entries in ctx.regimes.shared_payments.items():
        for regime, p in entries:
            by_kind.setdefault(kind, []).append((regime, p, False))
    return by_kind


def _payment_drafts(ctx: _Ctx, res: _Resolution) -> list[_Draft]:
    drafts: list[_Draft] = []
    signed = (ctx.lo, ctx.hi) if ctx.lo is not None and ctx.hi is not None else None
    for kind, sources in _payment_sources(ctx, res).items():
        due_kind = sources[0][1].due
        promised = ctx.promises_by_kind.get(kind, [])
        if due_kind == "on_event":
            drafts.extend(_event_payment_drafts(ctx, res, kind, sources, promised))
            continue
        options = [
            o
            for o in (_payment_option(ctx, res, r, p, signed, own) for r, p, own in sources)
            if o.tri is not Tri.NO
        ]
        if not options:
            continue
        if not promised and not any(o.payment.line_without_promise for o in options):
            continue
        yes = [o for o in options if o.tri is Tri.YES]
        if len(yes) == 1 and len(options) == 1:
            drafts.extend(_settled_payment(ctx, res, yes[0], kind, promised))
        else:
            drafts.append(_unsettled_payment(ctx, kind, options))
    return drafts


def _event_payment_drafts(
    ctx: _Ctx,
    res: _Resolution,
    kind: str,
    sources: list[tuple[Regime, Payment, bool]],
    promised: list[Promise],
) -> list[_Draft]:
    event_kind = sources[0][1].event
    occurrences = [e for e in ctx.events if e.kind == event_kind]
    if event_kind == "death":
        occurrences = occurrences[:1]
    drafts: list[_Draft] = []
    for seq, ev in enumerate(occurrences, start=1):
        when = (ev.lo, ev.hi) if ev.lo is not None and ev.hi is not None else None
        options = [
            o
            for o in (_payment_option(ctx, res, r, p, when, own) for r, p, own in sources)
            if o.tri is not Tri.NO
        ]
        if not options:
            continue
        yes = [o for o in options if o.tri is Tri.YES]
        if len(yes) == 1 and len(options) == 1:
            draft = _one_payment_draft(ctx, yes[0], kind, promised)
            draft.sequence = seq if event_kind == "wound" else 0
            draft.due = ev.when
            draft.note("due_on_event", explain.event_label(ev.kind), ev.when)
            if draft.status is not LineStatus.NOT_APPLICABLE:
                draft.status = LineStatus.PENDING
            drafts.append(draft)
        else:
            drafts.append(_unsettled_payment(ctx, kind, options))
    if drafts:
        _attach_many(ctx, drafts, kind)
    if not occurrences and promised:
        # Promised but the event has not happened (or is not recorded): say what it waits for, if any
        # regime could provide it; otherwise the promise is judged in _promise_drafts.
        options = [o for o in (_payment_option(ctx, res, r, p, (ctx.as_of, ctx.as_of), own) for r, p, own in sources)
                   if o.tri is not Tri.NO and o.payment.provided]  # fmt: skip
        if options:
            first = options[0]
            draft = _one_payment_draft(ctx, first, kind, promised)
            draft.status = LineStatus.PENDING if first.tri is Tri.YES else LineStatus.UNKNOWN
            draft.missing = list(first.missing) if first.tri is Tri.MAYBE else []
            draft.trigger = (event_kind or "",)
            draft.note("awaiting", explain.event_label(event_kind or ""))
            _attach_promises(ctx, draft, lambda k: k == kind)
            drafts.append(draft)
    return drafts


def _one_payment_draft(ctx: _Ctx, option: _Option, kind: str, promised: list[Promise]) -> _Draft:
    p = option.payment
    draft = _Draft(kind, explain.kind_label(kind))
    draft.cite(option.regime, p.instrument, p.article, p.citation, p.confidence)
    for c in p.caveats:
        draft.note("caveat", Text(c.text_ru, c.text_en), _mark(c.confidence), mark=c.confidence)
    if not p.provided:
        draft.note("denied", Text(p.instrument.title_ru, p.instrument.title_en), _mark(p.confidence))
        draft.status = LineStatus.NOT_APPLICABLE
        draft.if_promised = LineStatus.BEYOND_THE_LAW
    else:
        draft.amount_due = _amount_due(draft, p.amount, promised)
        draft.status = LineStatus.PENDING
    return draft


def _amount_due(draft: _Draft, statutory: Decimal | None, promised: list[Promise]) -> Decimal | None:
    amounts = [pr.amount for pr in promised if pr.amount is not None]
    top = max(amounts) if amounts else None
    if top is not None and statutory is not None and top != statutory:
        draft.note("promised_amount", top, statutory)
    candidates = [a for a in (statutory, top) if a is not None]
    return max(candidates) if candidates else None


def _settled_payment(
    ctx: _Ctx, res: _Resolution, option: _Option, kind: str, promised: list[Promise]
) -> list[_Draft]:
    p = option.payment
    if p.due == "on_signing":
        draft = _one_payment_draft(ctx, option, kind, promised)
        draft.due = ctx.facts.signed
        draft.note("due_on_signing", ctx.facts.signed)
        _attach_promises(ctx, draft, lambda k: k == kind)
        return [draft]
    return _monthly_drafts(ctx, res, option, kind, promised)


def _monthly_drafts(
    ctx: _Ctx, res: _Resolution, option: _Option, kind: str, promised: list[Promise]
) -> list[_Draft]:
    assert ctx.lo is not None
    assert ctx.hi is not None
    regime = res.regime
    term = regime.term if regime is not None else None
    cap = term.months if term is not None and not term.renews else None
    end = ctx.service_end
    drafts: list[_Draft] = []
    stop_note: Note | None = None
    base: _Draft | None = None
    exact = ctx.lo == ctx.hi
    month = 0
    while month < _MAX_MONTHS:
        month += 1
        due_lo = _add_months(ctx.lo, month)
        due_hi = due_lo if exact else _add_months(ctx.hi, month)
        if due_lo > ctx.as_of:
            break
        if cap is not None and month > cap:
            stop_note = ("term_ended", (cap, _shift(ctx.facts.signed, cap)))
            break
        uncertain = False
        if end is not None and end.lo is not None and end.hi is not None:
            if due_lo > end.hi:
                stop_note = ("service_ended", (end.when, explain.event_label(end.kind)))
                break
            uncertain = due_hi > end.lo
        if base is None:
            base = _one_payment_draft(ctx, option, kind, promised)
        draft = _copy(base)
        draft.sequence = month
        draft.due = _day(due_lo) if exact else _shift(ctx.facts.signed, month)
        draft.due_lo = due_lo
        draft.note("monthly", month, draft.due)
        if uncertain:
            draft.note("service_end_uncertain", end.when if end else None)
            draft.status, draft.missing = LineStatus.UNKNOWN, ["service_end_date"]
        drafts.append(draft)
    if stop_note is not None and drafts:
        drafts[-1].notes.append(stop_note)
    _attach_many(ctx, drafts, kind)
    return drafts


def _copy(base: _Draft) -> _Draft:
    return _Draft(
        base.kind,
        base.label,
        status=base.status,
        provisions=list(base.provisions),
        amount_due=base.amount_due,
        notes=list(base.notes),
        marks=set(base.marks),
        regimes=dict(base.regimes),
        if_promised=base.if_promised,
    )


def _unsettled_payment(ctx: _Ctx, kind: str, options: list[_Option]) -> _Draft:
    draft = _Draft(kind, explain.kind_label(kind), status=LineStatus.UNKNOWN)
    missing: list[str] = []
    for o in options:
        missing.extend(o.missing)
        reading = _Draft(kind, draft.label)
        reading.cite(
            o.regime, o.payment.instrument, o.payment.article, o.payment.citation, o.payment.confidence
        )
        if o.payment.provided:
            reading.amount_due = o.payment.amount
            reading.status = LineStatus.PENDING
            reading.note("amounts", o.payment.amount, _ZERO, o.payment.amount)
        else:
            reading.status = LineStatus.NOT_APPLICABLE
            reading.note(
                "denied",
                Text(o.payment.instrument.title_ru, o.payment.instrument.title_en),
                _mark(o.payment.confidence),
            )
        text = Text(_render(reading, "ru"), _render(reading, "en"))
        draft.readings.append(Reading(o.regime.id, reading.status, None, text.ru, text.en))
        summary = (
            Text(
                f"{explain.status_label(reading.status.value, 'ru')}, {explain.money(reading.amount_due, 'ru')}.",
                f"{explain.status_label(reading.status.value, 'en')}, {explain.money(reading.amount_due, 'en')}.",
            )
            if o.payment.provided
            else Text(*(explain.status_label(reading.status.value, lang) + "." for lang in ("ru", "en")))
        )
        draft.note("reading", len(draft.readings), f"{o.regime.short}:{o.payment.id}", summary)
        draft.provisions.extend(reading.provisions)
        draft.marks |= reading.marks
        draft.regimes.setdefault(o.regime.id, o.regime.version)
    draft.missing = _order_missing(missing) or ["transition_rule"]
    _attach_promises(ctx, draft, lambda k: k == kind)
    return draft


# --- promises and deliveries ---------------------------------------------------------------------------------


def _attach_promises(ctx: _Ctx, draft: _Draft, matches: Callable[[str], bool]) -> None:
    for kind, promises in ctx.promises_by_kind.items():
        if not matches(kind):
            continue
        for p in promises:
            if p.id in ctx.used:
                continue
            ctx.used.add(p.id)
            draft.promises.append(p)
            draft.deliveries.extend(ctx.deliveries.get(p.id, ()))
    if len(draft.deliveries) > 1:
        draft.deliveries.sort(key=lambda d: d.date.sort_key())


def _attach_many(ctx: _Ctx, drafts: list[_Draft], kind: str) -> None:
    """Spread a kind's deliveries over its lines: each to the earliest due line with nothing recorded yet."""
    promises = [p for p in ctx.promises_by_kind.get(kind, []) if p.id not in ctx.used]
    deliveries: list[Delivery] = []
    for p in promises:
        ctx.used.add(p.id)
        deliveries.extend(ctx.deliveries.get(p.id, ()))
    for draft in drafts:
        draft.promises = list(promises)
    if not drafts or not deliveries:
        return
    deliveries.sort(key=lambda d: d.date.sort_key())
    for d in deliveries:
        when = d.date.latest() or ctx.as_of
        target = None
        for draft in drafts:
            lo = draft.due_lo
            if lo is None and draft.due is not None:
                lo = draft.due.earliest()
            if lo is not None and lo <= when and not draft.deliveries:
                target = draft
                break
        if target is None:
            target = next((x for x in drafts if not _paid_in_full(x)), drafts[-1])
        target.deliveries.append(d)


def _paid_in_full(draft: _Draft) -> bool:
    if not draft.deliveries:
        return False
    paid = _delivered_sum(draft.deliveries)
    return draft.amount_due is not None and paid is not None and paid >= draft.amount_due


def _delivered_sum(deliveries: Sequence[Delivery]) -> Decimal | None:
    total = _ZERO
    known = False
    for d in deliveries:
        if d.amount is None:
            continue
        known = True
        if d.outcome in ("delivered", "partly_delivered", "partly"):
            total += d.amount
        elif d.outcome == "reversed":
            total -= d.amount
    return total if known else None


def _settle(ctx: _Ctx, draft: _Draft) -> None:
    """Turn the law's verdict plus the recorded deliveries into the line's final status."""
    if draft.status is LineStatus.NOT_APPLICABLE:
        if draft.promises:
            draft.status = draft.if_promised
        if draft.deliveries:
            draft.note("delivered_other_route", draft.deliveries[-1].date)
        return
    if draft.status in (LineStatus.UNKNOWN, LineStatus.BEYOND_THE_LAW):
        if draft.deliveries and draft.status is LineStatus.BEYOND_THE_LAW:
            draft.note("delivered_other_route", draft.deliveries[-1].date)
        if draft.deliveries and draft.amount_due is not None:
            draft.amount_delivered = _delivered_sum(draft.deliveries)
        return
    if draft.deliveries:
        _from_deliveries(draft)
        return
    bounds = _bounds(draft.due)
    if bounds is not None and ctx.as_of > bounds[1]:
        draft.status = LineStatus.OVERDUE
        draft.note("nothing_recorded")
    else:
        draft.status = LineStatus.PENDING
    if draft.amount_due is not None:
        draft.amount_delivered = _ZERO


def _from_deliveries(draft: _Draft) -> None:
    last = draft.deliveries[-1]
    paid = _delivered_sum(draft.deliveries)
    draft.amount_delivered = paid
    due = draft.amount_due
    refused = last.outcome in ("not_delivered", "reversed")
    if due is not None and paid is not None:
        if paid >= due and not refused:
            status = LineStatus.KEPT
        elif refused:
            status = LineStatus.BROKEN
        elif paid > _ZERO or last.outcome in ("partly_delivered", "partly"):
            status = LineStatus.PARTLY_KEPT
        else:
            status = LineStatus.KEPT if last.outcome == "delivered" else LineStatus.PARTLY_KEPT
    else:
        status = {
            "delivered": LineStatus.KEPT,
            "partly_delivered": LineStatus.PARTLY_KEPT,
            "partly": LineStatus.PARTLY_KEPT,
            "not_delivered": LineStatus.BROKEN,
            "reversed": LineStatus.BROKEN,
        }.get(last.outcome, LineStatus.UNKNOWN)
    draft.status = status
    if status is LineStatus.BROKEN:
        draft.note("refused", last.date)
    if status is LineStatus.KEPT and draft.due is not None:
        trigger_day, when = draft.due, last.date
        if trigger_day.precision is Precision.DAY and when.precision is Precision.DAY:
            t, w = trigger_day.earliest(), when.earliest()
            if t is not None and w is not None and w > t:
                draft.note("delivered_late", (w - t).days)
    if due is not None and paid is not None and paid < due:
        draft.note("amounts", due, paid, due - paid)


def _promise_drafts(ctx: _Ctx, res: _Resolution) -> list[_Draft]:
    drafts: list[_Draft] = []
    for p in ctx.facts.promises:
        if p.id in ctx.used:
            continue
        ctx.used.add(p.id)
        draft = _Draft(p.kind, explain.kind_label(p.kind))
        draft.promises.append(p)
        draft.deliveries.extend(ctx.deliveries.get(p.id, ()))
        draft.due = _promise_due(ctx, p)
        if draft.due is not None:
            draft.note("promise_due", draft.due)
        regime = res.regime
        if regime is not None:
            _judge_unmatched(ctx, regime, p, draft)
        elif res.candidates:
            draft.status, draft.missing = LineStatus.UNKNOWN, list(res.missing)
            draft.note("candidates", ", ".join(r.short for r in res.candidates))
            for r in res.candidates:
                draft.cite(r, None, "", r.citation, r.confidence)
        else:
            draft.status = LineStatus.UNKNOWN
            draft.missing = list(res.missing) or ["regime_file"]
            draft.note("no_regime")
        drafts.append(draft)
    return drafts


def _judge_unmatched(ctx: _Ctx, regime: Regime, promise: Promise, draft: _Draft) -> None:
    entry: NotProvided | None = regime.not_provided_for(promise.kind)
    if entry is not None:
        draft.cite(regime, entry.instrument, entry.article, entry.citation, entry.confidence)
        draft.note(
            "not_provided", Text(entry.reason_ru, entry.reason_en), _mark(entry.confidence), entry.citation
        )
        draft.status = LineStatus.BEYOND_THE_LAW
        return
    others = [o for o in regime.outcomes if o.matches_kind(promise.kind)]
    if others:
        statuses = sorted({s for o in others for s in (o.legal_statuses or ())})
        words = [_status_words(s) for s in statuses]
        draft.cite(regime, others[0].instrument, others[0].article, others[0].citation, others[0].confidence)
        draft.note(
            "status_only",
            Text(", ".join(w[0] for w in words), ", ".join(w[1] for w in words)),
            Text(*_status_words(ctx.facts.legal_status)),
        )
        draft.status = LineStatus.BEYOND_THE_LAW
        return
    draft.touch(regime)
    draft.note("no_legal_basis")
    draft.status, draft.missing = LineStatus.UNKNOWN, ["legal_basis"]


def _promise_due(ctx: _Ctx, promise: Promise) -> PartialDate | None:
    if promise.due is not None and promise.due.is_known:
        return promise.due
    if ctx.lo is None:
        return None
    condition = promise.condition
    if condition == "on_signing":
        return ctx.facts.signed
    if condition.startswith("after_") and condition.endswith("_months"):
        number = condition.removeprefix("after_").removesuffix("_months")
        if number.isdigit():
            return _shift(ctx.facts.signed, int(number))
    return None


# --- rendering ------------------------------------------------------------------------------------------------


def _render(draft: _Draft, lang: explain.Lang) -> str:
    return explain.render(
        lang=lang,
        kind=draft.label,
        status=draft.status.value,
        legal_question=draft.legal_question,
        notes=draft.notes,
        provisions=[t for _, t, _ in draft.provisions],
        missing=draft.missing,
    )


def _line(draft: _Draft) -> LedgerLine:
    due_amount = draft.amount_due
    delivered = draft.amount_delivered
    missing_amount = None
    if due_amount is not None and draft.status in (
        LineStatus.KEPT, LineStatus.PARTLY_KEPT, LineStatus.BROKEN, LineStatus.OVERDUE, LineStatus.PENDING,
    ):  # fmt: skip
        missing_amount = max(due_amount - (delivered or _ZERO), _ZERO)
    first = draft.provisions[0][2] if draft.provisions else None
    versions = tuple(sorted(draft.regimes.items()))
    return LedgerLine(
        kind=draft.kind,
        sequence=draft.sequence,
        status=draft.status,
        due=draft.due,
        trigger_pending=draft.trigger if draft.status is LineStatus.PENDING else (),
        provisions=tuple(prov for _, _, prov in draft.provisions),
        amount_due=due_amount,
        amount_delivered=delivered,
        amount_missing=missing_amount,
        missing_facts=tuple(draft.missing),
        readings=tuple(draft.readings),
        legal_question=draft.legal_question,
        promise_ids=tuple(p.id for p in draft.promises),
        confidence=tuple(sorted(draft.marks)),
        regime_id=first.regime_id if first else None,
        regime_version=first.version if first else None,
        versions=versions,
        label=draft.label,
        notes=tuple(draft.notes),
        provision_texts=tuple(t for _, t, _ in draft.provisions),
    )


# --- entry points ---------------------------------------------------------------------------------------------


def evaluate(facts: Facts, *, as_of: date, regimes: RegimeSet) -> Ledger:
    """The person's ledger as of ``as_of`` under ``regimes``."""
    ctx = _context(facts, as_of, regimes)
    res = _resolve(ctx)
    drafts: list[_Draft] = []
    if res.regime is not None:
        drafts.extend(_outcome_drafts(ctx, res.regime))
    elif res.uncovered and not res.candidates and ctx.hi is not None:
        drafts.extend(_legal_question_drafts(ctx, res))
    drafts.extend(_payment_drafts(ctx, res))
    drafts.extend(_promise_drafts(ctx, res))
    for draft in drafts:
        if not draft.legal_question:
            _settle(ctx, draft)
        elif draft.deliveries:
            draft.note("delivered_other_route", draft.deliveries[-1].date)
    return Ledger(
        person_id=facts.person_id,
        as_of=as_of,
        regime_id=res.regime.id if res.regime is not None else None,
        missing_facts=res.missing,
        lines=tuple(_line(d) for d in drafts),
    )


def ledger_diff(
    old: RegimeSet, new: RegimeSet, facts_list: Iterable[Facts], *, as_of: date | None = None
) -> Iterator[LedgerChange]:
    """The ledgers that would read differently under ``new`` than under ``old``."""
    day = as_of or datetime.now(UTC).date()
    for index, facts in enumerate(facts_list):
        before = evaluate(facts, as_of=day, regimes=old)
        after = evaluate(facts, as_of=day, regimes=new)
        if before.substance() != after.substance():
            yield LedgerChange(index, facts.person_id, before, after)
