"""`python -m bench ledger [--persons N] [--sample S] [--database-url URL]`: the promise ledger at scale.

1. The pure engine: ``evaluate`` over N synthetic persons of mixed regimes (Wagner, Storm-Z, Storm-V,
   64-FZ, 340-FZ; promises, deliveries, wounds, deaths, discharges). Target: N = 100,000 in ≤ 60 s.
2. The application path on a throw-away database: S of the same persons written as rows (persons,
   records, recruitments, service events, status history, promises, deliveries), then
   ``law.facts.facts_for_persons`` (reading the facts back) and ``law.services.ledger_recompute`` (facts
   + evaluation + replacing the stored lines + one audit entry per batch), each timed, and extrapolated
   to N.

Everything is synthetic; nothing is sealed (rows carry a placeholder key: nothing here decrypts).
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from bench.people_common import actor_and_team, environment
from bench.util import peak_rss_mb, row

AS_OF = date(2025, 6, 1)


@dataclass
class Spec:
    """One synthetic person's facts, in a form both the engine and the database rows are built from."""

    recruiter: str
    legal_status: str
    signed: date
    articles: tuple[str, ...]
    term: int | None
    in_facility: bool
    events: list[tuple[str, date, str]] = field(default_factory=list)
    statuses: list[tuple[str, date]] = field(default_factory=list)
    promises: list[tuple[str, str, Decimal | None, str]] = field(default_factory=list)  # key, kind, amt, cond
    deliveries: list[tuple[str, str, Decimal | None, date]] = field(default_factory=list)


_REGIMES = (
    # recruiter, legal status, first and last signing day, term, share
    ("wagner", "convicted", date(2022, 7, 1), date(2023, 2, 7), 6, 0.25),
    ("mod_storm_z", "convicted", date(2023, 2, 24), date(2023, 9, 1), 6, 0.15),
    ("mod_storm_v", "convicted", date(2023, 6, 24), date(2024, 3, 22), 12, 0.25),
    ("mod_storm_v", "convicted", date(2024, 3, 23), date(2025, 5, 1), 12, 0.2),
    ("pretrial_contract", "accused", date(2024, 3, 23), date(2025, 5, 1), 12, 0.1),
    ("pretrial_contract", "on_trial", date(2024, 10, 2), date(2025, 5, 1), 12, 0.05),
)
_ARTICLES = ("105.1", "111.4", "158.3", "161.2", "162.2", "228.1", "228.2", "131.1", "205", "134.2")


def spec_make(rng: random.Random) -> Spec:
    recruiter, status, lo, hi, term, _ = rng.choices(_REGIMES, weights=[r[5] for r in _REGIMES])[0]
    signed = lo + timedelta(days=rng.randint(0, (hi - lo).days))
    spec = Spec(
        recruiter, status, signed, tuple(rng.sample(_ARTICLES, rng.randint(0, 2))), term, rng.random() < 0.7
    )
    monthly = Decimal(100_000) if recruiter in ("wagner", "mod_storm_z") else Decimal(204_000)
    spec.promises.append(("pay", "monthly_pay", monthly, "monthly"))
    release = "pardon" if recruiter in ("wagner", "mod_storm_z") else "conditional_release"
    spec.promises.append(
        ("release", release, None, "after_6_months" if release == "pardon" else "on_signing")
    )
    if rng.random() < 0.5:
        spec.promises.append(("signup", "signup_bonus", Decimal(195_000), "on_signing"))
    if rng.random() < 0.3:
        spec.promises.append(("death", "death_compensation", Decimal(5_000_000), "on_death"))
    months = rng.randint(1, 14)
    for m in range(1, months):
        if rng.random() < 0.6:
            outcome = "delivered" if rng.random() < 0.8 else "partly_delivered"
            amount = monthly if outcome == "delivered" else monthly / 2
            spec.deliveries.append(("pay", outcome, amount, signed + timedelta(days=30 * m + 4)))
    end = signed + timedelta(days=30 * months + rng.randint(0, 20))
    fate = rng.random()
    if end < AS_OF:
        if fate < 0.2:
            spec.events.append(("death", end, ""))
            spec.statuses.append(("killed", end))
        elif fate < 0.35:
            spec.events.append(("missing", end, ""))
        elif fate < 0.6:
            ground = rng.choice(("health", "age_limit", "prison_sentence", ""))
            spec.events.append(("discharge", end, ground))
            spec.statuses.append(("returned", end))
    if rng.random() < 0.25:
        spec.events.append(("wound", signed + timedelta(days=rng.randint(10, 200)), ""))
    if rng.random() < 0.1:
        spec.events.append(("state_award", signed + timedelta(days=rng.randint(30, 300)), ""))
    if rng.random() < 0.2:
        spec.deliveries.append(
            ("release", rng.choice(("delivered", "not_delivered")), None, signed + timedelta(190))
        )
    return spec


def specs(n: int, seed: int) -> list[Spec]:
    rng = random.Random(seed)
    return [spec_make(rng) for _ in range(n)]


def facts_of(spec: Spec, index: int) -> Any:
    from kartoteka.law import Delivery, Facts, Promise, ServiceEvent, StatusEntry
    from kartoteka.lib.partialdate import PartialDate

    day = PartialDate.from_date
    return Facts(
        signed=day(spec.signed),
        legal_status=spec.legal_status,
        recruiter=spec.recruiter,
        articles=spec.articles,
        in_custody_on_signing=True if spec.in_facility else None,
        term_months=spec.term,
        events=tuple(ServiceEvent(k, day(d), g) for k, d, g in spec.events),
        status_history=tuple(StatusEntry(s, day(d)) for s, d in spec.statuses),
        promises=tuple(Promise(k, kind, amount, cond) for k, kind, amount, cond in spec.promises),
        deliveries=tuple(Delivery(k, o, a, day(d)) for k, o, a, d in spec.deliveries),
        person_id=str(index),
    )


def pure(all_specs: list[Spec]) -> tuple[float, int, float]:
    from kartoteka.law import RegimeSet, evaluate

    regimes = RegimeSet.load()
    facts = [facts_of(s, i) for i, s in enumerate(all_specs)]
    t0 = time.perf_counter()
    lines = 0
    for f in facts:
        lines += len(evaluate(f, as_of=AS_OF, regimes=regimes).lines)
    elapsed = time.perf_counter() - t0
    return elapsed, lines, elapsed / len(facts) * 1e6


def rows_write(all_specs: list[Spec], team: Any) -> list[Any]:
    """The sample as database rows, by bulk insert (the services' sealing is priced by the import bench)."""
    from django.db import transaction

    from kartoteka.casework.models import Delivery, Promise, Recruitment, ServiceEvent
    from kartoteka.core.fields import new_id, partial_date_columns
    from kartoteka.lib.partialdate import PartialDate
    from kartoteka.people.models import Person, Record, StatusEntry
    from kartoteka.registry.models import Facility

    facility = Facility.objects.first()
    cols = partial_date_columns
    day = PartialDate.from_date
    persons: list[Any] = []
    records: list[Any] = []
    recs: list[Any] = []
    events: list[Any] = []
    statuses: list[Any] = []
    promises: list[Any] = []
    deliveries: list[Any] = []
    for spec in all_specs:
        person = Person(id=new_id(), team=team, status="unknown")
        persons.append(person)
        records.append(Record(team=team, person=person, wrapped_key=b"\0", articles=list(spec.articles)))
        rec = Recruitment(
            id=new_id(), person=person, recruiter=spec.recruiter, legal_status=spec.legal_status,
            stated_term_months=spec.term, facility=facility if spec.in_facility else None,
            **cols("signed", day(spec.signed)),
        )  # fmt: skip
        recs.append(rec)
        for kind, when, ground in spec.events:
            events.append(
                ServiceEvent(
                    person=person,
                    recruitment=rec,
                    kind=kind,
                    discharge_ground=ground,
                    **cols("date", day(when)),
                )
            )
        for status, when in spec.statuses:
            statuses.append(StatusEntry(person=person, status=status, **cols("date", day(when))))
        keyed = {}
        for key, kind, amount, cond in spec.promises:
            p = Promise(
                id=new_id(),
                person=person,
                recruitment=rec,
                kind=kind,
                amount=amount,
                condition=cond,
                wrapped_key=b"\0",
            )
            keyed[key] = p
            promises.append(p)
        for key, outcome, amount, when in spec.deliveries:
            if key in keyed:
                deliveries.append(
                    Delivery(promise=keyed[key], outcome=outcome, amount=amount, **cols("date", day(when)))
                )
    batches: list[tuple[Any, list[Any]]] = [
        (Person, persons), (Record, records), (Recruitment, recs), (ServiceEvent, events),
        (StatusEntry, statuses), (Promise, promises), (Delivery, deliveries),
    ]  # fmt: skip
    with transaction.atomic():
        for model, items in batches:
            model.objects.bulk_create(items, batch_size=2000)
    return [p.id for p in persons]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ledger")
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server (default: SQLite)")
    args = parser.parse_args(argv)

    all_specs = specs(args.persons, args.seed)
    with environment(args.database_url) as _env:
        from django.db import connection

        from kartoteka.law import facts as facts_module
        from kartoteka.law.models import LedgerLine
        from kartoteka.law.services import ledger_recompute

        elapsed, lines, per = pure(all_specs)
        print(f"pure engine: {args.persons:,} persons as of {AS_OF}")
        row("evaluate, all persons", elapsed, "s", "target ≤ 60 s")
        row("per person", per, "µs")
        row("lines per person", lines / args.persons, "lines")

        _actor, team = actor_and_team()
        sample = all_specs[: args.sample]
        t0 = time.perf_counter()
        ids = rows_write(sample, team)
        print(
            f"database ({connection.vendor}): {len(ids):,} persons written in {time.perf_counter() - t0:.1f} s"
        )
        facts_module._date.cache_clear()
        t0 = time.perf_counter()
        bundles = facts_module.facts_for_persons(ids)
        facts_s = time.perf_counter() - t0
        assert sum(len(b) for b in bundles.values()) == len(ids)
        row("facts_for_persons, sample", facts_s, "s")
        row("  per person", facts_s / len(ids) * 1e6, "µs")
        t0 = time.perf_counter()
        done = ledger_recompute(actor=None, person_ids=ids, as_of=AS_OF)
        recompute_s = time.perf_counter() - t0
        stored = LedgerLine.objects.count()
        row(
            "ledger_recompute (facts+evaluate+store), sample",
            recompute_s,
            "s",
            f"{done:,} persons, {stored:,} lines",
        )
        row("  per person", recompute_s / len(ids) * 1e6, "µs")
        row(f"  extrapolated to {args.persons:,} persons", recompute_s / len(ids) * args.persons, "s")
        row("peak RSS", peak_rss_mb(), "MB")
    return 0
