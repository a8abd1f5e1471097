"""Plain-language explanations of ledger lines, in Russian and English.

The evaluator records *what* it found as notes (a code and its arguments); this module says it in words.
Every explanation names the provision it rests on with its confidence mark — [C] stated in the source,
[R] reported second-hand, [U] uncertain — because no statute text was reachable and a reader must know how
far to trust each sentence. Dates are written as ISO 8601 (2024-03-23) in both languages: unambiguous, and
the same string a caseworker searches for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Final, Literal

from kartoteka.lib import vocab
from kartoteka.lib.partialdate import PartialDate

__all__ = [
    "MARK_LEGEND",
    "Note",
    "ProvisionText",
    "Text",
    "event_label",
    "kind_label",
    "missing_label",
    "money",
    "render",
    "status_label",
]

Lang = Literal["ru", "en"]


@dataclass(frozen=True, slots=True)
class Text:
    """A phrase in both languages, used as a template argument."""

    ru: str
    en: str

    def get(self, lang: Lang) -> str:
        return self.ru if lang == "ru" else self.en


Arg = Text | str | int | Decimal | PartialDate | None
Note = tuple[str, tuple[Arg, ...]]


@dataclass(frozen=True, slots=True)
class ProvisionText:
    """What an explanation needs to cite one provision."""

    regime_short: str
    regime_title: Text
    instrument: Text
    article: str
    citation: str
    confidence: str


_TEMPLATES: Final[dict[str, tuple[str, str]]] = {
    "due_on_signing": ("Возникает в день подписания: {0}.", "Due on the signing day: {0}."),
    "due_after_months": (
        "Срок — {0} мес. после подписания: {1}.",
        "Due {0} months after signing: {1}.",
    ),
    "due_on_event": ("Основание наступило: {0}, {1}.", "Triggered by: {0} on {1}."),
    "awaiting": (
        "Основание ещё не записано: ожидается {0}.",
        "Trigger not yet recorded: awaiting {0}.",
    ),
    "monthly": (
        "{0}-й месяц службы; выплата к месячной годовщине подписания: {1}.",
        "Month {0} of service, due on the monthly anniversary of signing: {1}.",
    ),
    "service_ended": (
        "Служба окончена {0} ({1}); за последующие месяцы выплата не причитается.",
        "Service ended on {0} ({1}); no pay is due for later months.",
    ),
    "service_end_uncertain": (
        "Дата окончания службы ({0}) известна неточно: неясно, был ли этот месяц отслужен.",
        "The end of service ({0}) is known only roughly: it is unclear whether this month was served.",
    ),
    "term_ended": (
        "Срок службы по режиму — {0} мес. (до {1}); выплаты после него не предусмотрены.",
        "The regime's term of service is {0} months (to {1}); nothing is due after it.",
    ),
    "service_ended_before": (
        "Служба окончилась {0}, раньше срока: основание не наступило.",
        "Service ended on {0}, before the due date: the condition was not met.",
    ),
    "died_before_trigger": (
        "Гибель {0} до наступления основания.",
        "Death on {0}, before the trigger occurred.",
    ),
    "discharge_not_listed": (
        "Увольнение {0} по основанию «{1}», которое закон не называет.",
        'Discharge on {0} on the ground "{1}", which the law does not list.',
    ),
    "delivered_late": (
        "Исполнение записано через {0} дн. после наступления основания.",
        "Recorded as delivered {0} days after the trigger.",
    ),
    "delivered_other_route": (
        "Тем не менее исполнение записано ({0}) — иным путём, не по этому режиму.",
        "It was nevertheless recorded as delivered ({0}) — by some other route than this regime.",
    ),
    "refused": (
        "Записан отказ или отмена ({0}).",
        "A refusal or reversal is recorded ({0}).",
    ),
    "nothing_recorded": (
        "Исполнение не записано. «Просрочено» не значит «нарушено»: нарушенным обещание становится только "
        "при записанном отказе или отмене.",
        "Nothing is recorded as delivered. Overdue is not broken: only a recorded refusal or reversal "
        "makes a line broken.",
    ),
    "amounts": ("Причитается {0}, записано {1}, недостаёт {2}.", "Due {0}, recorded {1}, missing {2}."),
    "promised_amount": (
        "Обещано {0}; по положению — {1}; учитывается большая сумма.",
        "Promised {0}; the provision gives {1}; the larger sum is counted.",
    ),
    "excluded": (
        "Статья {0} относится к исключённым преступлениям ({1}) {2}.",
        "Article {0} falls under the excluded offences ({1}) {2}.",
    ),
    "no_articles": (
        "Статьи УК не записаны, поэтому исключённые преступления не проверены.",
        "No Criminal Code articles are recorded, so excluded offences were not checked.",
    ),
    "void": (
        "После события «{0}» {1}: {2} {3} (источник: {4}).",
        'After the event "{0}" on {1}: {2} {3} (source: {4}).',
    ),
    "not_provided": (
        "Режим этого не предусматривал: {0} {1} (источник: {2}).",
        "The regime never provided this: {0} {1} (source: {2}).",
    ),
    "status_only": (
        "Положение применяется только к категориям: {0}; записанный статус — {1}.",
        "The provision applies only to: {0}; the recorded status is {1}.",
    ),
    "denied": ("Выплата не положена: {0} {1}.", "No payment is due: {0} {1}."),
    "no_legal_basis": (
        "Ни один файл режима не говорит о таком обещании.",
        "No regime file addresses this kind of promise.",
    ),
    "no_regime": (
        "Ни один файл режима не охватывает этого вербовщика и дату подписания.",
        "No regime file covers this recruiter and signing date.",
    ),
    "candidates": ("Возможные режимы: {0}.", "Possible regimes: {0}."),
    "transition": (
        "События с {0} оцениваются по режиму {1} (переходное правило «{2}») {3}: {4}",
        'Events from {0} on are judged under {1} (transition rule "{2}") {3}: {4}',
    ),
    "legal_question": (
        "Правовой вопрос: на день подписания действовал режим {0}, охватывавший: {1}; позднее режим {2} "
        "(с {3}) распространил это на: {4}. Переходного правила нет, поэтому показаны оба прочтения, "
        "ни одно не выбрано.",
        "Legal question: on the signing day {0} was in force and covered {1}; later {2} (from {3}) extended "
        "this to {4}. No transition rule is recorded, so both readings are shown and neither is chosen.",
    ),
    "reading": ("Прочтение {0} ({1}): {2}", "Reading {0} ({1}): {2}"),
    "caveat": ("Оговорка: {0} {1}.", "Caveat: {0} {1}."),
    "promise_due": ("Обещанный срок: {0}.", "Promised date: {0}."),
}

_STATUS: Final[dict[str, tuple[str, str]]] = {
    "kept": ("выполнено", "kept"),
    "partly_kept": ("выполнено частично", "partly kept"),
    "broken": ("нарушено", "broken"),
    "overdue": ("просрочено", "overdue"),
    "pending": ("срок не наступил", "pending"),
    "beyond_the_law": ("сверх закона", "beyond the law"),
    "not_applicable": ("не применяется", "not applicable"),
    "unknown": ("неизвестно", "unknown"),
}

_MISSING: Final[dict[str, tuple[str, str]]] = {
    "signing_date": ("дата подписания", "the signing date"),
    "signing_month": ("месяц подписания", "the signing month"),
    "signing_day": ("точный день подписания", "the exact signing day"),
    "recruiter": ("кто вербовал (вербовщик)", "who recruited (the recruiter)"),
    "legal_status": (
        "правовое положение на день подписания (осуждённый / подозреваемый / обвиняемый / подсудимый)",
        "the legal status on the signing day (convicted / suspect / accused / on trial)",
    ),
    "in_custody_on_signing": (
        "находился ли человек под стражей в день подписания",
        "whether the person was in custody on the signing day",
    ),
    "contract_term": ("срок контракта", "the contract term"),
    "service_end_date": ("точная дата окончания службы", "the exact date service ended"),
    "discharge_ground": ("основание увольнения", "the ground of discharge"),
    "event_date": ("точная дата события", "the exact date of the event"),
    "regime_file": (
        "файл режима для этого вербовщика и даты",
        "a regime file covering this recruiter and date",
    ),
    "legal_basis": (
        "правовое основание такого обещания в файлах режимов",
        "a legal basis for this kind of promise in the regime files",
    ),
    "transition_rule": (
        "переходное правило (правовой вопрос, решает юрист)",
        "a transition rule (a legal question for a lawyer)",
    ),
}

_EVENT_LABELS: Final[dict[str, tuple[str, str]]] = {
    "on_signing": ("подписание", "signing"),
    "service_end": ("окончание службы", "end of service"),
    "killed": ("гибель", "killed"),
    "returned": ("возвращение", "returned"),
    "reimprisoned": ("повторное заключение", "reimprisoned"),
}

MARK_LEGEND: Final = Text(
    "Отметки: [C] — указано в источнике, [R] — по сообщениям, [U] — не подтверждено. "
    "Сверьте с действующей редакцией.",
    "Marks: [C] stated in the source, [R] reported, [U] uncertain. Verify against the consolidated text.",
)


@lru_cache(maxsize=512)
def kind_label(kind: str) -> Text:
    if vocab.has_code("promise_kind", kind):
        return Text(vocab.label("promise_kind", kind, "ru"), vocab.label("promise_kind", kind, "en"))
    return Text(kind, kind)


@lru_cache(maxsize=512)
def event_label(code: str) -> Text:
    if code in _EVENT_LABELS:
        ru, en = _EVENT_LABELS[code]
        return Text(ru, en)
    for vocabulary in ("service_event_kind", "discharge_ground", "person_status"):
        if vocab.has_code(vocabulary, code):
            return Text(vocab.label(vocabulary, code, "ru"), vocab.label(vocabulary, code, "en"))
    return Text(code, code)


def status_label(status: str, lang: Lang, *, legal_question: bool = False) -> str:
    ru, en = _STATUS[status]
    if legal_question:
        return f"{ru} — правовой вопрос" if lang == "ru" else f"{en} — legal question"
    return ru if lang == "ru" else en


def missing_label(code: str, lang: Lang) -> str:
    ru, en = _MISSING.get(code, (code, code))
    return ru if lang == "ru" else en


def money(amount: Decimal | None, lang: Lang) -> str:
    if amount is None:
        return "сумма неизвестна" if lang == "ru" else "amount unknown"
    whole = amount.quantize(Decimal(1)) if amount == amount.to_integral_value() else amount
    text = f"{whole:,}"
    if lang == "ru":
        return text.replace(",", "\u00a0").replace(".", ",") + "\u00a0руб."
    return f"{text} RUB"


def join_texts(items: Iterable[Text], lang: Lang) -> str:
    parts = [t.get(lang) for t in items]
    word = " или " if lang == "ru" else " or "
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + word + parts[-1]


def _arg(value: Arg, lang: Lang) -> str:
    if isinstance(value, Text):
        return value.get(lang)
    if isinstance(value, Decimal):
        return money(value, lang)
    if isinstance(value, PartialDate):
        return value.to_edtf() if value.is_known else ("дата неизвестна" if lang == "ru" else "date unknown")
    if value is None:
        return "—"
    return str(value)


@lru_cache(maxsize=4096)
def note_text(note: Note, lang: Lang) -> str:
    code, args = note
    ru, en = _TEMPLATES[code]
    return (ru if lang == "ru" else en).format(*(_arg(a, lang) for a in args))


@lru_cache(maxsize=1024)
def provision_text(p: ProvisionText, lang: Lang) -> str:
    article = f", {p.article}" if p.article else ""
    head = "Положение" if lang == "ru" else "Provision"
    source = "источник" if lang == "ru" else "source"
    return (
        f"{head}: {p.regime_short} — {p.regime_title.get(lang)}; {p.instrument.get(lang)}{article} "
        f"[{p.confidence}] ({source}: {p.citation})."
    )


def render(
    *,
    lang: Lang,
    kind: Text,
    status: str,
    legal_question: bool,
    notes: Sequence[Note],
    provisions: Sequence[ProvisionText],
    missing: Sequence[str],
) -> str:
    """One line's explanation: what, status, why (notes), what is missing, on which provisions."""
    parts = [f"{kind.get(lang)} — {status_label(status, lang, legal_question=legal_question)}."]
    parts.extend(note_text(n, lang) for n in notes)
    if missing:
        head = "Не хватает сведений" if lang == "ru" else "Missing facts"
        parts.append(f"{head}: {'; '.join(missing_label(m, lang) for m in missing)}.")
    parts.extend(provision_text(p, lang) for p in provisions)
    parts.append(MARK_LEGEND.get(lang))
    return " ".join(parts)
