"""The synthetic demo data set, deterministic by seed.

Everything here is invented: people are drawn from common given names, patronymics and surname stems
(never a public figure of name-variants.csv), incidents attach only to facilities marked "synthetic" in
facilities.csv (a "reported" facility is a real place, and a made-up incident there would read as a claim
about it), every free text starts with «[демо]», and each team cites a source labelled «СИНТЕТИЧЕСКИЕ
ДАННЫЕ (демо)». Dates follow the regimes of shared/reference/domain-facts.md §1: Wagner Jul 2022 – Feb 2023,
Storm-Z Feb – Sep 2023, Storm-V from Jun 2023, pre-trial contracts from Mar 2024.

The content depends on ``random.Random(seed)`` and the reference data only, never on the clock; ids are
random (UUIDv7) and differ between loads. Every write goes through the services, so the demo exercises
the same sealing, blind indexes, gates and audit chain as real use.

The plan (what to write) is built first, in memory; then it is written. A person plan refers to
facilities by key and to teams and sources by index, so the plan is the same for the same seed whatever
ids the database hands out.
"""

from __future__ import annotations

import csv
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction

from kartoteka.accounts import services as accounts
from kartoteka.accounts.models import Role, Team, User
from kartoteka.casework import services as casework
from kartoteka.lib import names
from kartoteka.lib.facilities import load_regions
from kartoteka.lib.partialdate import PartialDate
from kartoteka.people import services as people
from kartoteka.people.models import Person, Record
from kartoteka.registry import selectors as registry_selectors
from kartoteka.registry import services as registry
from kartoteka.registry.selectors import FacilityView

DEMO_MARK = "[демо]"
SYNTHETIC_LABEL = "СИНТЕТИЧЕСКИЕ ДАННЫЕ (демо)"
# The demo's "today": nothing generated lies after it, whatever the clock says.
DEMO_END = date(2025, 6, 30)
ORIGIN_PREFIX = "demo-seed-"
CHUNK = 100  # persons whose casework shares one transaction (one fsync of the audit head file)
# Recruited persons with a full dossier (dated history, service events, promises, deliveries, cases); the
# others stand as a list reports them: a recruitment and a current status. Like real data (long lists, few
# documented cases), and it keeps 2,000 persons within ~30 s: every dossier write passes the gates.
# Families come to an organisation when something went wrong, so deaths, disappearances, re-arrests and
# broken pardons are documented more often.
DOSSIER_SHARE = 0.05
DOSSIER_SHARE_TROUBLE = 0.2


@dataclass(frozen=True, slots=True)
class Wave:
    recruiter: str
    start: date
    end: date
    term_months: int
    regime: str  # the stated regime code, after domain-facts §1 (W-2022, Z-2023, V-2023, A-2024)
    promised_by: str
    unit: str


WAVES: dict[str, Wave] = {
    "wagner": Wave("wagner", date(2022, 7, 1), date(2023, 2, 7), 6, "w_2022", "recruiter_wagner", "ЧВК"),
    "mod_storm_z": Wave(
        "mod_storm_z", date(2023, 2, 24), date(2023, 9, 1), 6, "z_2023", "recruiter_mod", "Шторм Z"
    ),
    "mod_storm_v": Wave(
        "mod_storm_v", date(2023, 6, 24), date(2025, 3, 31), 12, "v_2023", "recruiter_mod", "Шторм V"
    ),
    "pretrial_contract": Wave(
        "pretrial_contract", date(2024, 3, 23), date(2025, 3, 31), 12, "a_2024", "recruiter_mod", "контракт"
    ),
}
# Share of persons per fate; the rest were never recruited and stay in custody.
_RECRUITER_WEIGHTS = (("wagner", 24), ("mod_storm_z", 14), ("mod_storm_v", 20), ("pretrial_contract", 7))
_NOT_RECRUITED = 45

TEAM_NAMES = (
    "Правозащитный центр — Екатеринбург (демо)",
    "Правозащитный центр — Санкт-Петербург (демо)",
    "Правозащитный центр — Нижний Новгород (демо)",
)
# Which team documents which federal districts (occupied regions go to the last team).
_TEAM_OF_DISTRICT = {
    "Ural": 0,
    "Siberian": 0,
    "Far Eastern": 0,
    "Northwestern": 1,
    "Central": 1,
}
USERS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("demo-admin", Role.ADMIN, (0, 1, 2)),
    ("demo-coordinator", Role.COORDINATOR, (0, 1, 2)),
    ("demo-caseworker", Role.CASEWORKER, (0,)),
    ("demo-caseworker-2", Role.CASEWORKER, (1,)),
    ("demo-lawyer", Role.LAWYER, ()),
    ("demo-analyst", Role.ANALYST, (0,)),
)
# Who writes each team's records.
_TEAM_ACTORS = ("demo-caseworker", "demo-caseworker-2", "demo-coordinator")

# --- invented people ---------------------------------------------------------------------------------------

_MALE_GIVEN = (
    "Александр", "Алексей", "Андрей", "Антон", "Артём", "Василий", "Виктор", "Виталий", "Владимир",
    "Вячеслав", "Геннадий", "Денис", "Дмитрий", "Евгений", "Егор", "Иван", "Игорь", "Илья", "Кирилл",
    "Константин", "Максим", "Михаил", "Никита", "Николай", "Олег", "Павел", "Пётр", "Роман", "Руслан",
    "Семён", "Сергей", "Степан", "Фёдор", "Юрий",
)  # fmt: skip
_FEMALE_GIVEN = (
    "Анастасия", "Анна", "Дарья", "Екатерина", "Елена", "Ирина", "Ксения", "Мария", "Наталья", "Ольга",
    "Светлана", "Татьяна", "Юлия",
)  # fmt: skip
# Father's name → (male patronymic, female patronymic)
_PATRONYMICS = {
    "Александр": ("Александрович", "Александровна"),
    "Алексей": ("Алексеевич", "Алексеевна"),
    "Анатолий": ("Анатольевич", "Анатольевна"),
    "Андрей": ("Андреевич", "Андреевна"),
    "Борис": ("Борисович", "Борисовна"),
    "Василий": ("Васильевич", "Васильевна"),
    "Виктор": ("Викторович", "Викторовна"),
    "Владимир": ("Владимирович", "Владимировна"),
    "Геннадий": ("Геннадьевич", "Геннадьевна"),
    "Дмитрий": ("Дмитриевич", "Дмитриевна"),
    "Евгений": ("Евгеньевич", "Евгеньевна"),
    "Иван": ("Иванович", "Ивановна"),
    "Игорь": ("Игоревич", "Игоревна"),
    "Михаил": ("Михайлович", "Михайловна"),
    "Николай": ("Николаевич", "Николаевна"),
    "Олег": ("Олегович", "Олеговна"),
    "Павел": ("Павлович", "Павловна"),
    "Пётр": ("Петрович", "Петровна"),
    "Сергей": ("Сергеевич", "Сергеевна"),
    "Фёдор": ("Фёдорович", "Фёдоровна"),
    "Юрий": ("Юрьевич", "Юрьевна"),
}
# Surname stems in their masculine form; the feminine adds «а» (-ов/-ев/-ин) or turns -ий into -ая.
_SURNAMES = (
    "Абрамов", "Белов", "Беляев", "Борисов", "Быков", "Васильев", "Власов", "Воробьёв", "Гаврилов",
    "Голубев", "Горшков", "Громов", "Гусев", "Давыдов", "Дьячков", "Ефимов", "Жуков", "Зайцев", "Зуев",
    "Ильин", "Казаков", "Калинин", "Карпов", "Ковалёв", "Комаров", "Кондратьев", "Копылов", "Корнилов",
    "Котов", "Крылов", "Кудрявцев", "Кузьмин", "Лаптев", "Лебедев", "Логинов", "Лукин", "Мартынов",
    "Масленников", "Мельников", "Миронов", "Морозов", "Муравьёв", "Назаров", "Никитин",
    "Новиков", "Осипов", "Панов", "Пестов", "Покровский", "Поляков", "Пономарёв", "Прохоров",
    "Родионов", "Рябов", "Савельев", "Сазонов", "Селезнёв", "Семёнов", "Сидоров", "Соболев", "Соловьёв",
    "Сорокин", "Субботин", "Суханов", "Тарасов", "Тимофеев", "Третьяков", "Уваров", "Устинов", "Фадеев",
    "Филатов", "Фомин", "Харитонов", "Цветков", "Чернов", "Шаров", "Шестаков", "Широков", "Щукин",
    "Юдин", "Яковлев",
)  # fmt: skip
_LATIN_SCHEMES = ("icao_9303", "ru_passport_1997", "bgn_pcgn", "wp_rus", "gost_7_79_b", "scientific")
_ARTICLES: tuple[tuple[str, int], ...] = (
    ("158.3", 14),
    ("161.2", 8),
    ("228.2", 18),
    ("105.1", 12),
    ("111.4", 10),
    ("162.2", 8),
    ("159.4", 5),
    ("264.1", 4),
    ("166.2", 4),
    ("318.1", 3),
)


def feminine(surname: str) -> str:
    if surname.endswith("ий"):
        return surname[:-2] + "ая"
    return surname + "а"


def _diminutives() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    with names.DIMINUTIVES_CSV.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(line for line in handle if not line.startswith("#")):
            if row["diminutive"]:
                out.setdefault(row["full"], []).append(row["diminutive"])
    return {k: tuple(v) for k, v in out.items()}


# --- the plan ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class DeliveryPlan:
    outcome: str
    amount: Decimal | None
    when: PartialDate | None


@dataclass(slots=True)
class PromisePlan:
    kind: str
    amount: Decimal | None
    due: PartialDate | None
    condition: str
    promised_by: str
    details: str
    deliveries: list[DeliveryPlan] = field(default_factory=list)


@dataclass(slots=True)
class PersonPlan:
    row: int
    team: int
    surname: str
    given: str
    patronymic: str
    sex: str
    full_name: str  # as this record spells it
    aliases: tuple[str, ...]
    birth: PartialDate | None
    home_region: str
    facility_key: str
    articles: tuple[str, ...]
    sentence_months: int | None
    notes: str
    source: int  # index into the team's sources
    status: str  # the current status
    dossier: bool = False
    wave: str | None = None
    visit: int | None = None
    signed: PartialDate | None = None
    legal_status: str = "convicted"
    history: list[tuple[str, PartialDate]] = field(default_factory=list)
    events: list[tuple[str, PartialDate, str]] = field(default_factory=list)
    promises: list[PromisePlan] = field(default_factory=list)
    second_record: tuple[str, tuple[str, ...], int] | None = None  # spelling, aliases, source index
    case: tuple[date, str, str] | None = None  # deadline, status, notes

    @property
    def canonical(self) -> str:
        return f"{self.surname} {self.given} {self.patronymic}"


@dataclass(frozen=True, slots=True)
class VisitPlan:
    team: int
    facility_key: str
    recruiter: str
    when: date


@dataclass(frozen=True, slots=True)
class SourcePlan:
    team: int
    kind: str
    reliability: str
    consent: str
    label: str
    contact: str


@dataclass(frozen=True, slots=True)
class IncidentPlan:
    team: int
    facility_key: str
    when: PartialDate
    categories: tuple[str, ...]
    victims: tuple[int, ...]  # person rows
    victim_count: int | None
    roles: tuple[str, ...]
    officials: tuple[str, ...]
    description: str
    verification: str
    sources: tuple[int, ...]  # indexes into the team's sources


@dataclass(slots=True)
class DemoPlan:
    seed: int
    sources: list[SourcePlan]
    visits: list[VisitPlan]
    persons: list[PersonPlan]
    incidents: list[IncidentPlan]
    lawyer_cases: list[int]  # person rows whose case is shared with the lawyer


def _source_plans(rng: random.Random) -> list[SourcePlan]:
    kinds = (
        ("relative", "[демо] мать осуждённого", "usually_reliable"),
        ("relative", "[демо] супруга завербованного", "usually_reliable"),
        ("prisoner", "[демо] осуждённый, освободившийся в 2024 году", "unknown"),
        ("lawyer", "[демо] адвокат по соглашению", "reliable"),
        ("media", "[демо] региональное издание", "usually_reliable"),
        ("social_media", "[демо] публикация в телеграм-канале", "unreliable"),
        ("open_letter", "[демо] коллективное обращение родственников", "unknown"),
        ("official_document", "[демо] ответ ФСИН на запрос", "reliable"),
    )
    plans: list[SourcePlan] = []
    for team in range(len(TEAM_NAMES)):
        plans.append(SourcePlan(team, "ngo_report", "reliable", "internal_only", SYNTHETIC_LABEL, ""))
        for kind, label, reliability in kinds:
            n = rng.randint(100, 999)
            contact = (
                f"demo-source-{team}-{n}@example.org" if kind in ("relative", "prisoner", "lawyer") else ""
            )
            consent = rng.choice(("internal_only", "internal_only", "anonymised_publication"))
            plans.append(SourcePlan(team, kind, reliability, consent, label, contact))
    return plans


def _between(rng: random.Random, lo: date, hi: date) -> date:
    return lo + timedelta(days=rng.randint(0, max(0, (hi - lo).days)))


def _month_add(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    return date(d.year + y, m + 1, min(d.day, 28))


def _visit_plans(
    rng: random.Random, facilities: Sequence[FacilityView], team_of: Callable[[str], int]
) -> list[VisitPlan]:
    visits: list[VisitPlan] = []
    for f in facilities:
        for wave in WAVES.values():
            if (wave.recruiter == "pretrial_contract") != (f.type == "СИЗО"):
                continue
            if f.type not in ("ИК", "СИЗО", "КП", "ЛИУ"):
                continue
            latest = min(wave.end, DEMO_END) - timedelta(days=20)
            for _ in range(rng.randint(1, 3 if wave.end - wave.start > timedelta(days=300) else 2)):
                visits.append(
                    VisitPlan(
                        team_of(f.region_code), f.key, wave.recruiter, _between(rng, wave.start, latest)
                    )
                )
    visits.sort(key=lambda v: (v.facility_key, v.recruiter, v.when))
    return visits


def _name_spelling(rng: random.Random, p: PersonPlan) -> str:
    """One record's spelling, in the conventions of name-variants.csv."""
    style = rng.choices(
        ("surname_first", "given_first", "initials", "no_patronymic", "latin", "latin_short"),
        weights=(40, 18, 14, 8, 12, 8),
    )[0]
    given_first = f"{p.given} {p.patronymic} {p.surname}"
    if style == "surname_first":
        text = p.canonical
    elif style == "given_first":
        text = given_first
    elif style == "initials":
        text = f"{p.surname} {p.given[0]}. {p.patronymic[0]}."
    elif style == "no_patronymic":
        text = f"{p.given} {p.surname}"
    else:
        source = given_first if style == "latin" else f"{p.given} {p.surname}"
        return names.display_forms(source)[rng.choice(_LATIN_SCHEMES)]
    # Russian lists often drop the dots over ё (cyrillic_yo_as_e).
    return text.replace("ё", "е").replace("Ё", "Е") if rng.random() < 0.35 else text


def _aliases(rng: random.Random, p: PersonPlan, diminutives: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    roll = rng.random()
    if roll < 0.10 and p.given in diminutives:
        return (f"{rng.choice(diminutives[p.given])} {p.surname}",)
    if roll < 0.22:
        return (names.display_forms(f"{p.given} {p.surname}")[rng.choice(_LATIN_SCHEMES)],)
    return ()


def _birth(rng: random.Random) -> PartialDate | None:
    year = rng.randint(1964, 2003)
    roll = rng.random()
    if roll < 0.65:
        return PartialDate.from_date(_between(rng, date(year, 1, 1), date(year, 12, 31)))
    if roll < 0.75:
        return PartialDate.of(year, rng.randint(1, 12))
    if roll < 0.93:
        return PartialDate.of(year)
    return None


def _signed(rng: random.Random, wave: Wave, visit: date) -> PartialDate:
    day = min(visit + timedelta(days=rng.randint(0, 20)), wave.end, DEMO_END)
    month_start = day.replace(day=1)
    month_end = _month_add(month_start, 1) - timedelta(days=1)
    # A source that remembers only the month: used when the whole month lies inside the wave.
    if rng.random() < 0.15 and month_start >= wave.start and month_end <= wave.end:
        return PartialDate.of(day.year, day.month)
    return PartialDate.from_date(day)


def _money(value: int) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def _day(d: date) -> PartialDate:
    return PartialDate.from_date(d)


def _fate(rng: random.Random, p: PersonPlan, wave: Wave, signed: date) -> date:
    """Fill the status history and service events; returns the last day of service (or DEMO_END)."""
    front = signed + timedelta(days=rng.randint(10, 45))
    p.history.append(("recruited", _day(signed)))
    if front > DEMO_END:
        p.status = "recruited"
        return DEMO_END
    p.history.append(("at_front", _day(front)))
    p.status = "at_front"
    term_end = _month_add(signed, wave.term_months)
    killed, missing, wounded = {
        "wagner": (0.36, 0.08, 0.22),
        "mod_storm_z": (0.34, 0.12, 0.24),
        "mod_storm_v": (0.22, 0.10, 0.22),
        "pretrial_contract": (0.15, 0.10, 0.18),
    }[wave.recruiter]
    horizon = min(term_end, DEMO_END)
    if rng.random() < wounded and front + timedelta(days=7) <= horizon:
        when = _between(rng, front + timedelta(days=7), horizon)
        p.history.append(("wounded", _day(when)))
        p.events.append(("wound", _day(when), ""))
        p.status = "wounded"
    roll = rng.random()
    last = max(d.latest() or front for _, d in p.history)
    if roll < killed and last + timedelta(days=3) <= horizon:
        when = _between(rng, last + timedelta(days=3), horizon)
        if when > last:
            p.history.append(("killed", _day(when)))
            p.events.append(("death", _day(when), ""))
            p.status = "killed"
            return when
    elif killed <= roll < killed + missing and last + timedelta(days=3) <= horizon:
        when = _between(rng, last + timedelta(days=3), horizon)
        if when > last:
            # Relatives often know only the month contact stopped.
            p.history.append(("missing", PartialDate.of(when.year, when.month)))
            p.events.append(("missing", _day(when), ""))
            p.status = "missing"
            return when
    if rng.random() < 0.12 and front + timedelta(days=30) <= horizon:
        award = _between(rng, front + timedelta(days=30), horizon)
        p.events.append(("state_award", _day(award), ""))
    if wave.recruiter in ("mod_storm_v", "pretrial_contract"):
        # Contracts roll over: most are still serving; a few go home on health grounds.
        if term_end <= DEMO_END and rng.random() < 0.7:
            p.events.append(("contract_extension", _day(term_end), ""))
        if p.status == "wounded" and rng.random() < 0.4 and last + timedelta(days=30) <= DEMO_END:
            home = _between(rng, last + timedelta(days=30), DEMO_END)
            if home > last:
                p.events.append(("discharge", _day(home), "health"))
                p.history.append(("returned", _day(home)))
                p.status = "returned"
                return home
        return DEMO_END
    home = term_end + timedelta(days=rng.randint(3, 40))
    if home > DEMO_END:
        return DEMO_END
    p.events.append(("discharge", _day(home), "other"))
    p.history.append(("returned", _day(home)))
    p.status = "returned"
    if rng.random() < 0.12 and home + timedelta(days=60) <= DEMO_END:
        again = _between(rng, home + timedelta(days=60), DEMO_END)
        if again > home:
            p.events.append(("new_offence", _day(again), ""))
            p.history.append(("reimprisoned", _day(again)))
            p.status = "reimprisoned"
    return home


def _promises(rng: random.Random, p: PersonPlan, wave: Wave, signed: date, served_until: date) -> None:
    """What recruiters promised, and how little of it arrived (domain-facts §1-2)."""
    by = wave.promised_by
    months = max(1, (served_until - signed).days // 30)
    monthly = {"wagner": 100_000, "mod_storm_z": 200_000}.get(
        wave.recruiter, rng.choice((195_000, 204_000, 210_000))
    )
    pay = PromisePlan(
        "monthly_pay", _money(monthly), None, "monthly", by, "[демо] обещано устно при вербовке"
    )
    share = rng.choice((0.3, 0.45, 0.6, 0.8, 1.0))
    outcome = "delivered" if share == 1.0 else "partly_delivered"
    pay.deliveries.append(DeliveryPlan(outcome, _money(int(monthly * months * share)), _day(served_until)))
    p.promises.append(pay)

    if wave.recruiter in ("wagner", "mod_storm_z"):
        due = _month_add(signed, 6)
        pardon = PromisePlan(
            "pardon", None, _day(due), "after_6_months", by, "[демо] помилование через полгода службы"
        )
        if p.status in ("returned", "reimprisoned"):
            if wave.recruiter == "wagner":
                pardon.deliveries.append(DeliveryPlan("delivered", None, _day(min(due, DEMO_END))))
            else:
                # Storm-Z: the promised pardon came as conditional release, or not at all.
                pardon.deliveries.append(DeliveryPlan("not_delivered", None, _day(min(due, DEMO_END))))
                pardon.details = "[демо] вместо помилования — условное освобождение"
        p.promises.append(pardon)
    else:
        bonus_amount = 400_000 if date(2024, 8, 1) <= signed <= date(2024, 12, 31) else 195_000
        bonus = PromisePlan("signup_bonus", _money(bonus_amount), _day(signed), "on_signing", by, "")
        roll = rng.random()
        if roll < 0.7:
            bonus.deliveries.append(
                DeliveryPlan(
                    "delivered", _money(bonus_amount), _day(signed + timedelta(days=rng.randint(5, 40)))
                )
            )
        elif roll < 0.85:
            bonus.deliveries.append(DeliveryPlan("partly_delivered", _money(bonus_amount // 2), None))
        else:
            bonus.deliveries.append(DeliveryPlan("not_delivered", None, None))
        p.promises.append(bonus)
        kind = "release_from_liability" if wave.recruiter == "pretrial_contract" else "conditional_release"
        p.promises.append(
            PromisePlan(kind, None, None, "on_award_or_discharge", by, "[демо] освобождение после службы")
        )
    if p.status == "killed":
        died = served_until
        due = died + timedelta(days=90)
        comp = PromisePlan(
            "death_compensation", _money(5_000_000), _day(due), "on_death", by, "[демо] выплата семье"
        )
        roll = rng.random()
        if wave.recruiter == "mod_storm_z" or roll < 0.45:
            # Overdue: Storm-Z had no insurance; elsewhere families wait past the due date.
            if due <= DEMO_END and rng.random() < 0.5:
                comp.deliveries.append(
                    DeliveryPlan("not_delivered", None, _day(min(due + timedelta(days=60), DEMO_END)))
                )
        elif roll < 0.75 and due <= DEMO_END:
            comp.deliveries.append(
                DeliveryPlan("partly_delivered", _money(rng.choice((1_000_000, 2_500_000))), _day(due))
            )
        elif due <= DEMO_END:
            comp.deliveries.append(DeliveryPlan("delivered", _money(5_000_000), _day(due)))
        p.promises.append(comp)
    if any(s == "wounded" for s, _ in p.history) and wave.recruiter in ("mod_storm_v", "pretrial_contract"):
        injury = PromisePlan("injury_payment", _money(3_000_000), None, "on_injury", by, "")
        outcome = rng.choice(("not_delivered", "not_delivered", "partly_delivered", "delivered"))
        amount = {
            "not_delivered": None,
            "partly_delivered": _money(1_000_000),
            "delivered": _money(3_000_000),
        }[outcome]
        injury.deliveries.append(DeliveryPlan(outcome, amount, None))
        p.promises.append(injury)


_INCIDENT_TEXTS: dict[str, tuple[str, ...]] = {
    "heating_cut": (
        "[демо] В отрядах отключили отопление; в бараке изо рта шёл пар, спали в одежде.",
        "[демо] Батареи холодные больше недели, на жалобы отвечали, что «котельная на ремонте».",
    ),
    "warm_clothes_confiscated": ("[демо] Перед холодами изъяли тёплые вещи, переданные родственниками.",),
    "parcels_blocked": (
        "[демо] Передачи от родственников перестали принимать на время приезда вербовщиков.",
        "[демо] Посылки возвращали без объяснения причин.",
    ),
    "family_contact_cut": ("[демо] Отключили телефоны и видеосвязь; длительные свидания отменили.",),
    "recruitment_pressure": (
        "[демо] Осуждённых собрали в клубе, выступал вербовщик; отказавшимся обещали проблемы.",
        "[демо] Отказавшихся подписывать перевели в худшие условия.",
    ),
    "threat_new_charges": ("[демо] Отказавшимся грозили новым уголовным делом.",),
    "threat_extremism_charges": ("[демо] Осуждённым из других стран угрожали делом об экстремизме.",),
    "beating": ("[демо] Сообщается об избиении осуждённых сотрудниками спецназа ФСИН.",),
    "punishment_cell": ("[демо] Несколько человек поместили в ШИЗО, почти без еды и воды.",),
    "lawyer_contact_denied": ("[демо] Адвоката не допустили к подзащитному под предлогом карантина.",),
    "medical_care_denied": ("[демо] Больному осуждённому отказали в осмотре врачом.",),
    "deception_by_officials": ("[демо] Следователь обещал прекратить дело в обмен на контракт.",),
    "forced_to_sign": ("[демо] Бумаги давали подписать, не позволив прочитать.",),
    "food_water_deprived": ("[демо] В карцере выдавали воду один раз в сутки.",),
}
_OFFICIAL_SURNAMES = ("Орлов", "Гришин", "Данилов", "Ершов", "Кравцов", "Лосев", "Рыбаков", "Тихонов")


type _AddIncident = Callable[[FacilityView, PartialDate, tuple[str, ...], tuple[str, ...]], None]


def _incident_plans(
    rng: random.Random,
    facilities: Sequence[FacilityView],
    visits: Sequence[VisitPlan],
    persons: Sequence[PersonPlan],
    team_of: Callable[[str], int],
    sources_per_team: int,
) -> list[IncidentPlan]:
    at: dict[str, list[int]] = {}
    for p in persons:
        at.setdefault(p.facility_key, []).append(p.row)
    plans: list[IncidentPlan] = []

    def add(f: FacilityView, when: PartialDate, categories: tuple[str, ...], roles: tuple[str, ...]) -> None:
        plans.append(
            _incident_plan(
                rng,
                f,
                when,
                categories,
                roles,
                held=at.get(f.key, []),
                team=team_of(f.region_code),
                sources_per_team=sources_per_team,
            )
        )

    for visit in visits:
        _pressure_around_visit(rng, visit, facilities, add)
    for f in facilities:
        _incidents_at(rng, f, add)
    return plans


def _incident_plan(
    rng: random.Random,
    f: FacilityView,
    when: PartialDate,
    categories: tuple[str, ...],
    roles: tuple[str, ...],
    *,
    held: list[int],
    team: int,
    sources_per_team: int,
) -> IncidentPlan:
    """One incident at ``f``: named victims among the persons ``held`` there (rows) or only a head count,
    sometimes a named official, a description per category, a verification level and its sources."""
    victims = (
        tuple(rng.sample(held, k=min(len(held), rng.randint(1, 3)))) if held and rng.random() < 0.5 else ()
    )
    count = None if victims else rng.randint(2, 60)
    officials: tuple[str, ...] = ()
    if rng.random() < 0.2:
        initials = f"{rng.choice('АВДЕКМНОПС')}. {rng.choice('АВГДИНПС')}."
        officials = (f"[демо] {rng.choice(_OFFICIAL_SURNAMES)} {initials}, начальник отряда",)
    text = " ".join(rng.choice(_INCIDENT_TEXTS[c]) for c in categories)
    verification = rng.choices(
        ("unverified", "corroborated", "verified", "disputed"), weights=(50, 25, 15, 10)
    )[0]
    sources = tuple(sorted(rng.sample(range(sources_per_team), k=rng.randint(1, 2))))
    return IncidentPlan(
        team,
        f.key,
        when,
        categories,
        tuple(sorted(victims)),
        count,
        roles,
        officials,
        text,
        verification,
        sources,
    )


def _pressure_around_visit(
    rng: random.Random, visit: VisitPlan, facilities: Sequence[FacilityView], add: _AddIncident
) -> None:
    """Every other recruiter's visit: pressure at its facility within ten days of it."""
    f = next(x for x in facilities if x.key == visit.facility_key)
    if rng.random() < 0.5:
        # Pressure clusters around recruiters' visits: parcels and calls cut, refusers threatened.
        when = visit.when + timedelta(days=rng.randint(-10, 10))
        pressure = rng.choice(
            (
                ("parcels_blocked", "family_contact_cut"),
                ("recruitment_pressure",),
                ("recruitment_pressure", "threat_new_charges"),
                ("parcels_blocked",),
            )
        )
        role = "recruiter_wagner" if visit.recruiter == "wagner" else "recruiter_mod"
        add(
            f,
            _day(min(when, DEMO_END)),
            pressure,
            ("colony_staff", role) if "recruitment_pressure" in pressure else ("colony_staff",),
        )


def _incidents_at(rng: random.Random, f: FacilityView, add: _AddIncident) -> None:
    """A facility's own incidents: cold winters, warm clothes taken in autumn, and a few others."""
    for winter in (2022, 2023, 2024):
        if f.type != "СИЗО" and rng.random() < 0.3:
            # Heating goes off in the cold months: December to February.
            month = rng.choice((12, 1, 2))
            year = winter if month == 12 else winter + 1
            add(f, PartialDate.of(year, month), ("heating_cut",), ("colony_head",))
        if rng.random() < 0.2:
            add(
                f,
                PartialDate.of(winter, rng.choice((10, 11))),
                ("warm_clothes_confiscated",),
                ("colony_staff",),
            )
    for _ in range(rng.randint(0, 3)):
        category = rng.choice(
            (
                "beating",
                "punishment_cell",
                "lawyer_contact_denied",
                "medical_care_denied",
                "deception_by_officials",
                "forced_to_sign",
                "food_water_deprived",
                "threat_extremism_charges",
            )
        )
        role = {"beating": "fsin_special_forces", "deception_by_officials": "investigator"}.get(
            category, "colony_staff"
        )
        add(f, _day(_between(rng, date(2022, 7, 1), DEMO_END)), (category,), (role,))


def _weighted(rng: random.Random, pairs: Sequence[tuple[str, int]]) -> str:
    return rng.choices([k for k, _ in pairs], weights=[w for _, w in pairs])[0]


@dataclass(frozen=True, slots=True)
class _Planning:
    """What every person's plan draws on: the facilities, the visits, and the choices fixed per plan."""

    facilities: Sequence[FacilityView]
    visits: Sequence[VisitPlan]
    visits_of: dict[tuple[str, str], list[int]]  # (facility key, recruiter) -> indexes into visits
    colonies: list[FacilityView]  # where some recruiter visited
    jails: list[FacilityView]  # where pre-trial contracts were offered
    home_regions: list[str]
    team_of: Callable[[str], int]
    sources_per_team: int
    diminutives: dict[str, tuple[str, ...]]


def plan_build(
    *, persons: int, seed: int, facilities: Sequence[FacilityView], district_of: dict[str, str]
) -> DemoPlan:
    """The whole demo data set as plain data: same arguments, same plan."""
    # Demo content, not secrets: a seeded PRNG is the point (same seed, same data set).
    rng = random.Random(seed)  # noqa: S311
    diminutives = _diminutives()

    def team_of(region_code: str) -> int:
        return _TEAM_OF_DISTRICT.get(district_of.get(region_code, ""), 2)

    sources = _source_plans(rng)
    sources_per_team = len(sources) // len(TEAM_NAMES)
    visits = _visit_plans(rng, facilities, team_of)
    visits_of: dict[tuple[str, str], list[int]] = {}
    for i, v in enumerate(visits):
        visits_of.setdefault((v.facility_key, v.recruiter), []).append(i)
    planning = _Planning(
        facilities=facilities,
        visits=visits,
        visits_of=visits_of,
        colonies=[
            f
            for f in facilities
            if any((f.key, r) in visits_of for r in ("wagner", "mod_storm_z", "mod_storm_v"))
        ],
        jails=[f for f in facilities if (f.key, "pretrial_contract") in visits_of],
        home_regions=sorted(district_of),
        team_of=team_of,
        sources_per_team=sources_per_team,
        diminutives=diminutives,
    )
    used: set[str] = set()
    people_plans = [_person_plan(rng, row, planning, used) for row in range(persons)]
    incidents = _incident_plans(rng, facilities, visits, people_plans, team_of, sources_per_team)
    with_cases = [p.row for p in people_plans if p.case is not None]
    lawyer_cases = sorted(rng.sample(with_cases, k=min(3, len(with_cases))))
    return DemoPlan(seed, sources, visits, people_plans, incidents, lawyer_cases)


def _unique_name(rng: random.Random, sex: str, used: set[str]) -> tuple[str, str, str]:
    """Surname, given name and patronymic no earlier person of the plan has; added to ``used``."""
    while True:
        given = rng.choice(_MALE_GIVEN if sex == "m" else _FEMALE_GIVEN)
        father = rng.choice(sorted(_PATRONYMICS))
        patronymic = _PATRONYMICS[father][0 if sex == "m" else 1]
        stem = rng.choice(_SURNAMES)
        surname = stem if sex == "m" else feminine(stem)
        if f"{surname} {given} {patronymic}" not in used:
            break
    used.add(f"{surname} {given} {patronymic}")
    return surname, given, patronymic


def _person_plan(rng: random.Random, row: int, planning: _Planning, used: set[str]) -> PersonPlan:
    """One person: who they are, where they are held and, if recruited, by whom and what became of them."""
    fate = _weighted(rng, (*_RECRUITER_WEIGHTS, ("", _NOT_RECRUITED)))
    sex = "f" if fate in ("", "mod_storm_v") and rng.random() < 0.06 else "m"
    surname, given, patronymic = _unique_name(rng, sex, used)
    held = planning.colonies if fate else list(planning.facilities)
    pool = planning.jails if fate == "pretrial_contract" else held
    facility = rng.choice(pool)
    p = PersonPlan(
        row=row,
        team=planning.team_of(facility.region_code),
        surname=surname,
        given=given,
        patronymic=patronymic,
        sex=sex,
        full_name="",
        aliases=(),
        birth=_birth(rng),
        home_region=facility.region_code if rng.random() < 0.7 else rng.choice(planning.home_regions),
        facility_key=facility.key,
        articles=(_weighted(rng, _ARTICLES),) + ((_weighted(rng, _ARTICLES),) if rng.random() < 0.2 else ()),
        sentence_months=None if fate == "pretrial_contract" else rng.randint(24, 240),
        notes="[демо] сведения из списка родственников" if rng.random() < 0.3 else "",
        source=rng.randrange(planning.sources_per_team),
        status="in_custody",
    )
    p.full_name = _name_spelling(rng, p)
    p.aliases = _aliases(rng, p, planning.diminutives)
    if fate:
        _recruitment_plan(rng, p, fate, facility, planning)
    if rng.random() < 0.08:
        spelling = _name_spelling(rng, p)
        p.second_record = (spelling, (), rng.randrange(planning.sources_per_team))
    return p


def _recruitment_plan(
    rng: random.Random, p: PersonPlan, fate: str, facility: FacilityView, planning: _Planning
) -> None:
    """Fill in ``p``'s recruitment: the visit and signing, what became of them (status, history, promises),
    and whether a team keeps a dossier, with a case for the worst outcomes."""
    wave = WAVES[fate]
    p.wave = fate
    p.visit = rng.choice(planning.visits_of[(facility.key, fate)])
    p.signed = _signed(rng, wave, planning.visits[p.visit].when)
    p.legal_status = rng.choice(("accused", "suspect")) if fate == "pretrial_contract" else "convicted"
    signed_day = p.signed.earliest() or wave.start
    served_until = _fate(rng, p, wave, signed_day)
    _promises(rng, p, wave, signed_day, served_until)
    trouble = p.status in ("killed", "missing", "reimprisoned") or (
        fate == "mod_storm_z" and p.status == "returned"
    )
    p.dossier = rng.random() < (DOSSIER_SHARE_TROUBLE if trouble else DOSSIER_SHARE)
    if p.dossier and p.status in ("killed", "missing", "wounded") and rng.random() < 0.5:
        deadline = DEMO_END + timedelta(days=rng.randint(7, 120))
        notes = {
            "killed": "[демо] добиться выплаты компенсации семье",
            "missing": "[демо] запросы о судьбе пропавшего",
            "wounded": "[демо] выплата за ранение и лечение",
        }[p.status]
        p.case = (deadline, rng.choice(("open", "open", "on_hold")), notes)


# --- writing it --------------------------------------------------------------------------------------------


class DemoAlreadyLoaded(RuntimeError):
    """The demo teams exist already: load the demo into an empty database only."""


@dataclass(frozen=True, slots=True)
class DemoSummary:
    seed: int
    password: str  # the same for every demo login; synthetic, derived from the seed
    usernames: tuple[tuple[str, str], ...]  # (username, role)
    teams: int
    sources: int
    visits: int
    persons: int
    records: int
    recruitments: int
    status_entries: int
    service_events: int
    promises: int
    deliveries: int
    incidents: int
    cases: int
    shares: int


def demo_password(seed: int) -> str:
    """The demo logins' shared password: synthetic, printed by the demo command, derived from the seed."""
    # Synthetic logins to a synthetic data set; printed by the demo command anyway.
    rng = random.Random(f"kartoteka-demo-password:{seed}")  # noqa: S311
    words = ("липа", "ворон", "река", "полка", "гроза", "ключ", "сосна", "берег", "лампа", "тропа", "камень")
    return "-".join(rng.choice(words) for _ in range(3)) + f"-{rng.randint(100, 999)}"


def origin_file(seed: int) -> str:
    return f"{ORIGIN_PREFIX}{seed}"


def region_districts() -> dict[str, str]:
    return {r.code: r.federal_district for r in load_regions()}


def _persons_by_row(tag: str) -> dict[int, Person]:
    # person_bulk_create returns a count; the origin row is how the demo finds its persons again.
    pairs = dict(Record.objects.filter(origin_file=tag).values_list("origin_row", "person_id"))
    persons = Person.objects.in_bulk(list(pairs.values()))
    return {row: persons[pid] for row, pid in pairs.items() if row is not None}


@dataclass(slots=True)
class _Counts:
    records: int = 0
    recruitments: int = 0
    status_entries: int = 0
    service_events: int = 0
    promises: int = 0
    deliveries: int = 0
    incidents: int = 0
    cases: int = 0
    shares: int = 0


def _write_dossier(
    p: PersonPlan,
    person: Person,
    actor: User,
    recruitment_id: uuid.UUID | None,
    source: uuid.UUID,
    counts: _Counts,
) -> None:
    """Dated status history, service events, promises and what was delivered of them.

    The recruitment, promises and deliveries cite the source; the history and events leave it out, as
    each citation costs a gate check and the load must stay fast.
    """
    for status, when in p.history:
        people.status_add(actor=actor, person=person, status=status, date=when)
        counts.status_entries += 1
    for kind, when, ground in p.events:
        casework.service_event_create(
            actor=actor,
            person=person,
            kind=kind,
            date=when,
            recruitment_id=recruitment_id,
            discharge_ground=ground,
        )
        counts.service_events += 1
    for plan in p.promises:
        promise = casework.promise_create(
            actor=actor,
            person=person,
            kind=plan.kind,
            amount=plan.amount,
            due=plan.due,
            condition=plan.condition,
            promised_by=plan.promised_by,
            details=plan.details,
            recruitment_id=recruitment_id,
            source_id=source,
        )
        counts.promises += 1
        for d in plan.deliveries:
            casework.delivery_create(
                actor=actor,
                promise=promise,
                outcome=d.outcome,
                amount=d.amount,
                date=d.when,
                source_id=source,
            )
            counts.deliveries += 1


def _write_person(
    p: PersonPlan,
    person: Person,
    team: Team,
    actor: User,
    facility_ids: dict[str, uuid.UUID],
    source_ids: list[uuid.UUID],
    counts: _Counts,
) -> uuid.UUID | None:
    """Casework of one person; returns the id of the case, if one was opened."""
    source = source_ids[p.source]
    recruitment_id = None
    if p.wave is not None:
        wave = WAVES[p.wave]
        recruitment = casework.recruitment_create(
            actor=actor,
            person=person,
            recruiter=wave.recruiter,
            signed=p.signed,
            facility_id=facility_ids[p.facility_key],
            legal_status=p.legal_status,
            stated_term_months=wave.term_months,
            unit=wave.unit,
            stated_regime=wave.regime,
            source_id=source if p.dossier else None,
        )
        recruitment_id = recruitment.id
        counts.recruitments += 1
    if p.dossier:
        _write_dossier(p, person, actor, recruitment_id, source, counts)
    if p.second_record is not None:
        spelling, aliases, other = p.second_record
        people.record_add(
            actor=actor,
            person=person,
            data=people.PersonInput(
                full_name=spelling, aliases=aliases, sex=p.sex, source_id=source_ids[other]
            ),
        )
        counts.records += 1
    if p.case is not None:
        deadline, status, notes = p.case
        case = casework.case_create(
            actor=actor,
            team=team,
            person=person,
            assignee=actor,
            deadline=deadline,
            notes=notes,
            status=status,
        )
        counts.cases += 1
        case_id: uuid.UUID = case.id
        return case_id
    return None


def demo_loaded() -> bool:
    return Team.objects.filter(name__in=TEAM_NAMES).exists()


@dataclass(frozen=True, slots=True)
class _Writers:
    """Who writes the demo: its teams, its users, and per team the user who acts for it."""

    teams: list[Team]
    users: dict[str, User]
    actors: list[User]  # by team index


def demo_load(
    *, persons: int = 2000, seed: int = 0, progress: Callable[[int, int], None] | None = None
) -> DemoSummary:
    """Load the synthetic demo into an empty database; ``progress(done, total)`` counts persons.

    Needs the key agent (sealing, blind indexes, audit signatures). Raises DemoAlreadyLoaded when the
    demo teams exist.
    """
    if persons < 1:
        raise ValueError("persons: must be at least 1")
    registry.reference_load()
    if demo_loaded():
        raise DemoAlreadyLoaded("the demo data is already loaded")
    facilities = registry_selectors.facility_list(confidence="synthetic")
    plan = plan_build(persons=persons, seed=seed, facilities=facilities, district_of=region_districts())
    facility_ids = {f.key: f.id for f in facilities}
    password = demo_password(seed)
    writers = _writers_create(password)
    source_ids = _sources_and_visits_create(plan, writers, facility_ids)
    tag = origin_file(seed)
    _persons_create(plan, writers, facility_ids, source_ids, tag)
    by_row = _persons_by_row(tag)
    counts = _Counts(records=len(by_row))
    case_ids = _casework_create(plan, writers, by_row, facility_ids, source_ids, counts, progress)
    _incidents_and_shares_create(plan, writers, by_row, facility_ids, source_ids, case_ids, counts)
    return _summary(plan, seed, password, writers, by_row, counts)


def _writers_create(password: str) -> _Writers:
    with transaction.atomic():
        teams = [accounts.team_create(actor=None, name=name) for name in TEAM_NAMES]
        users = {
            username: accounts.user_create(
                actor=None, username=username, password=password, role=role, teams=[teams[t] for t in team_ix]
            )
            for username, role, team_ix in USERS
        }
    return _Writers(teams, users, [users[name] for name in _TEAM_ACTORS])


def _sources_and_visits_create(
    plan: DemoPlan, writers: _Writers, facility_ids: dict[str, uuid.UUID]
) -> list[list[uuid.UUID]]:
    """The sources and recruiters' visits; returns each team's source ids, in plan order."""
    teams, actors = writers.teams, writers.actors
    source_ids: list[list[uuid.UUID]] = [[] for _ in teams]
    with transaction.atomic():
        for s in plan.sources:
            source = casework.source_create(
                actor=actors[s.team],
                team=teams[s.team],
                kind=s.kind,
                reliability=s.reliability,
                language="ru",
                consent=s.consent,
                label=s.label,
                contact=s.contact,
            )
            source_ids[s.team].append(source.id)
        for v in plan.visits:
            casework.visit_create(
                actor=actors[v.team],
                team=teams[v.team],
                facility_id=facility_ids[v.facility_key],
                recruiter=v.recruiter,
                date=_day(v.when),
                source_id=source_ids[v.team][0],
            )
    return source_ids


def _persons_create(
    plan: DemoPlan,
    writers: _Writers,
    facility_ids: dict[str, uuid.UUID],
    source_ids: list[list[uuid.UUID]],
    tag: str,
) -> None:
    """Every person's first record, per team through the bulk import path, tagged with ``tag``."""
    for t, team in enumerate(writers.teams):
        rows = [
            people.PersonInput(
                full_name=p.full_name,
                aliases=p.aliases,
                birth_date=p.birth,
                sex=p.sex,
                home_region_code=p.home_region,
                facility_id=facility_ids[p.facility_key],
                articles=p.articles,
                sentence_months=p.sentence_months,
                # A dossier's dated history decides its status; a list entry states it, undated.
                status="unknown" if p.dossier else p.status,
                notes=p.notes,
                source_id=source_ids[t][p.source],
                origin_file=tag,
                origin_row=p.row,
            )
            for p in plan.persons
            if p.team == t
        ]
        if rows:
            people.person_bulk_create(actor=writers.actors[t], team=team, rows=rows)


def _casework_create(
    plan: DemoPlan,
    writers: _Writers,
    by_row: dict[int, Person],
    facility_ids: dict[str, uuid.UUID],
    source_ids: list[list[uuid.UUID]],
    counts: _Counts,
    progress: Callable[[int, int], None] | None,
) -> dict[int, uuid.UUID]:
    """Each person's casework, CHUNK persons per transaction; returns the ids of the cases opened, by row."""
    teams, actors = writers.teams, writers.actors
    total = len(plan.persons)
    case_ids: dict[int, uuid.UUID] = {}
    for start in range(0, total, CHUNK):
        with transaction.atomic():
            for p in plan.persons[start : start + CHUNK]:
                case_id = _write_person(
                    p, by_row[p.row], teams[p.team], actors[p.team], facility_ids, source_ids[p.team], counts
                )
                if case_id is not None:
                    case_ids[p.row] = case_id
        if progress is not None:
            progress(min(total, start + CHUNK), total)
    return case_ids


def _incidents_and_shares_create(
    plan: DemoPlan,
    writers: _Writers,
    by_row: dict[int, Person],
    facility_ids: dict[str, uuid.UUID],
    source_ids: list[list[uuid.UUID]],
    case_ids: dict[int, uuid.UUID],
    counts: _Counts,
) -> None:
    """The incidents, and the few cases shared with the demo lawyer (who belongs to no team)."""
    teams, actors = writers.teams, writers.actors
    with transaction.atomic():
        for i in plan.incidents:
            casework.incident_create(
                actor=actors[i.team],
                team=teams[i.team],
                facility_id=facility_ids[i.facility_key],
                date=i.when,
                categories=i.categories,
                victim_ids=[by_row[r].id for r in i.victims],
                victim_count=i.victim_count,
                perpetrator_roles=i.roles,
                officials=i.officials,
                description=i.description,
                verification=i.verification,
                source_ids=[source_ids[i.team][s] for s in i.sources],
            )
            counts.incidents += 1
        for row in plan.lawyer_cases:
            p = plan.persons[row]
            accounts.share_grant(
                actor=actors[p.team],
                object_type="case",
                object_id=case_ids[row],
                user=writers.users["demo-lawyer"],
            )
            counts.shares += 1


def _summary(
    plan: DemoPlan, seed: int, password: str, writers: _Writers, by_row: dict[int, Person], counts: _Counts
) -> DemoSummary:
    return DemoSummary(
        seed=seed,
        password=password,
        usernames=tuple((u, str(r)) for u, r, _ in USERS),
        teams=len(writers.teams),
        sources=len(plan.sources),
        visits=len(plan.visits),
        persons=len(by_row),
        records=counts.records,
        recruitments=counts.recruitments,
        status_entries=counts.status_entries,
        service_events=counts.service_events,
        promises=counts.promises,
        deliveries=counts.deliveries,
        incidents=counts.incidents,
        cases=counts.cases,
        shares=counts.shares,
    )
