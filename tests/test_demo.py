"""The synthetic demo data: deterministic by seed, realistic in shape, marked synthetic, and sealed on disk."""

from __future__ import annotations

import csv
import re
import sqlite3
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.db import connection, transaction

from kartoteka.accounts.models import Team, User
from kartoteka.casework.models import (
    Case,
    Delivery,
    Incident,
    Promise,
    Recruitment,
    RecruitmentVisit,
    ServiceEvent,
    Source,
)
from kartoteka.core import sealing
from kartoteka.demo import generate
from kartoteka.people.models import Person, Record, StatusEntry
from kartoteka.registry import selectors as registry_selectors
from kartoteka.registry import services as registry
from kartoteka.registry.models import Facility
from kartoteka.testing import canary

# Written from shared/reference/domain-facts.md §1, independently of the generator's own table.
# Storm-V and pre-trial contracts are open-ended; nothing may lie after the demo's fixed "today".
WINDOWS = {
    "wagner": (date(2022, 7, 1), date(2023, 2, 7)),
    "mod_storm_z": (date(2023, 2, 24), date(2023, 9, 1)),
    "mod_storm_v": (date(2023, 6, 24), generate.DEMO_END),
    "pretrial_contract": (date(2024, 3, 23), generate.DEMO_END),
}
MODELS: tuple[type[Any], ...] = (Team, User, Source, RecruitmentVisit, Person, Record, StatusEntry)
MODELS += (Recruitment, ServiceEvent, Promise, Delivery, Incident, Case)


def _open(table: str, objs: list[Any], fields: tuple[str, ...]) -> list[dict[str, str]]:
    rows = [(str(o.id), bytes(o.wrapped_key), {f: getattr(o, f"{f}_enc") for f in fields}) for o in objs]
    return sealing.rows_open(table, rows)


def _demo_persons_rows() -> dict[Any, int]:
    rows = Record.objects.exclude(origin_file="").values_list("origin_row", "person_id")
    return {pid: row for row, pid in rows if row is not None}


def _snapshot() -> dict[str, Any]:
    """The logical content of the database: decrypted texts and coded facts, keyed by anything but ids."""
    row_of = _demo_persons_rows()
    fkey = dict(Facility.objects.values_list("id", "key"))
    records = list(Record.objects.all())
    opened = _open("people.record", records, ("full_name", "aliases", "birth_date", "notes"))
    snap: dict[str, Any] = {"counts": {m.__name__: m.objects.count() for m in MODELS}}
    snap["records"] = sorted(
        (row_of[r.person_id], r.origin_row is None, o.get("full_name"), o.get("aliases"), o.get("birth_date"),
         o.get("notes"), r.sex, r.home_region_id, fkey.get(r.facility_id), tuple(r.articles), r.sentence_months)
        for r, o in zip(records, opened, strict=True)
    )  # fmt: skip
    snap["status"] = sorted((row_of[s.person_id], s.status, s.date_edtf) for s in StatusEntry.objects.all())
    snap["recruitments"] = sorted(
        (row_of[r.person_id], r.recruiter, r.signed_edtf, fkey.get(r.facility_id), r.legal_status)
        for r in Recruitment.objects.all()
    )
    snap["events"] = sorted(
        (row_of[e.person_id], e.kind, e.date_edtf, e.discharge_ground) for e in ServiceEvent.objects.all()
    )
    promises = list(Promise.objects.all())
    snap["promises"] = sorted(
        (row_of[p.person_id], p.kind, str(p.amount), p.due_edtf, p.condition, o.get("details"))
        for p, o in zip(promises, _open("casework.promise", promises, ("details",)), strict=True)
    )
    snap["deliveries"] = sorted(
        (row_of[d.promise.person_id], d.promise.kind, d.outcome, str(d.amount), d.date_edtf)
        for d in Delivery.objects.select_related("promise")
    )
    incidents = list(Incident.objects.prefetch_related("categories", "victims"))
    snap["incidents"] = sorted(
        (fkey[i.facility_id], i.date_edtf, tuple(sorted(c.code for c in i.categories.all())),
         tuple(sorted(row_of[v.id] for v in i.victims.all())), i.victim_count, i.verification,
         o.get("description"), o.get("officials"))
        for i, o in zip(incidents, _open("casework.incident", incidents, ("description", "officials")), strict=True)
    )  # fmt: skip
    snap["visits"] = sorted(
        (fkey[v.facility_id], v.recruiter, v.date_edtf) for v in RecruitmentVisit.objects.all()
    )
    sources = list(Source.objects.all())
    snap["sources"] = sorted(
        (s.kind, s.consent, o.get("label"), o.get("contact"))
        for s, o in zip(sources, _open("casework.source", sources, ("label", "contact")), strict=True)
    )
    cases = list(Case.objects.all())
    snap["cases"] = sorted(
        (row_of[c.person_id], str(c.deadline), c.status, o.get("notes"))
        for c, o in zip(cases, _open("casework.case", cases, ("notes",)), strict=True)
    )
    return snap


def _load_and_snapshot(persons: int, seed: int) -> dict[str, Any]:
    with transaction.atomic():
        generate.demo_load(persons=persons, seed=seed)
        snap = _snapshot()
        transaction.set_rollback(True)  # the next load starts from the same empty database
    return snap


@pytest.mark.django_db
def test_it_loads_the_same_content_for_the_same_seed_and_other_content_for_another(agent_ready: Path) -> None:
    first = _load_and_snapshot(120, seed=7)
    again = _load_and_snapshot(120, seed=7)
    other = _load_and_snapshot(120, seed=8)
    assert first == again
    assert first["counts"]["Person"] == 120
    differing = [k for k in first if first[k] != other[k]]
    assert {"records", "recruitments", "incidents"} <= set(differing)


@pytest.mark.django_db
def test_it_builds_the_same_plan_from_the_same_seed() -> None:
    registry.reference_load()
    facilities = registry_selectors.facility_list(confidence="synthetic")
    districts = {r.code: r.federal_district for r in registry_selectors.region_list()}
    a = generate.plan_build(persons=300, seed=11, facilities=facilities, district_of=districts)
    b = generate.plan_build(persons=300, seed=11, facilities=facilities, district_of=districts)
    c = generate.plan_build(persons=300, seed=12, facilities=facilities, district_of=districts)
    assert a == b
    assert [p.full_name for p in a.persons] != [p.full_name for p in c.persons]
    assert generate.demo_password(11) == generate.demo_password(11) != generate.demo_password(12)


def _public_figures(reference_dir: Path) -> tuple[set[str], set[str]]:
    """Canonical names and surnames (ё folded) of the real public figures in name-variants.csv."""
    with (reference_dir / "name-variants.csv").open(encoding="utf-8", newline="") as handle:
        full = {r["cyrillic"] for r in csv.DictReader(handle) if r["group_id"].startswith("P")}
    surnames = set()
    for name in full:
        words = name.split()
        # "Given Patronymic Surname" when the middle word is a patronymic, else "Surname Given Patronymic".
        surname = words[2] if words[1].endswith(("вич", "вна", "ич", "чна")) else words[0]
        surnames.add(surname.replace("ё", "е"))
    return full, surnames


@pytest.mark.django_db
def test_it_creates_every_object_type_with_dates_that_fit_the_regimes(
    agent_ready: Path, reference_dir: Path
) -> None:
    summary = generate.demo_load(persons=400, seed=1)
    for model in MODELS:
        assert model.objects.count() > 0, model.__name__
    assert summary.persons == Person.objects.count() == 400
    assert summary.recruitments == Recruitment.objects.count()
    assert summary.incidents == Incident.objects.count()
    assert summary.shares > 0

    # Recruitment dates lie inside their recruiter's window; visits precede waves at the facility.
    by_recruiter = Counter(Recruitment.objects.values_list("recruiter", flat=True))
    assert set(by_recruiter) == set(WINDOWS)
    for r in Recruitment.objects.all():
        lo, hi = WINDOWS[r.recruiter]
        assert r.signed_start is not None
        assert r.signed_end is not None
        assert lo <= r.signed_start <= r.signed_end <= hi, (r.recruiter, r.signed_edtf)
        assert r.facility_id is not None
        visits = RecruitmentVisit.objects.filter(
            facility_id=r.facility_id, recruiter=r.recruiter, date_start__lte=r.signed_end
        )
        assert visits.exists(), (r.recruiter, r.signed_edtf)

    # Only synthetic facilities: a made-up incident at a real ("reported") place would be a false claim.
    reported = set(Facility.objects.filter(confidence="reported").values_list("id", flat=True))
    assert reported
    assert not Incident.objects.filter(facility_id__in=reported).exists()
    assert not Recruitment.objects.filter(facility_id__in=reported).exists()
    assert not Record.objects.filter(facility_id__in=reported).exists()
    assert not RecruitmentVisit.objects.filter(facility_id__in=reported).exists()

    # Seasons: heating is cut in the cold months only.
    heating = Incident.objects.filter(categories__code="heating_cut")
    assert heating.exists()
    assert all(i.date_start is not None and i.date_start.month in (12, 1, 2) for i in heating)

    # Status histories and outcomes.
    statuses = set(Person.objects.values_list("status", flat=True))
    assert {"killed", "wounded", "missing", "returned", "reimprisoned", "in_custody"} <= statuses
    outcomes = Counter(Delivery.objects.values_list("promise__kind", "outcome"))
    assert outcomes[("monthly_pay", "partly_delivered")] > 0
    assert outcomes[("pardon", "not_delivered")] > 0
    overdue = Promise.objects.filter(kind="death_compensation", due_end__lt=generate.DEMO_END).exclude(
        deliveries__outcome__in=("delivered", "partly_delivered")
    )
    assert overdue.exists()
    assert Case.objects.exclude(deadline=None).count() == Case.objects.count()
    assert len(set(Source.objects.values_list("kind", flat=True))) >= 6

    # Marked synthetic: every free text starts «[демо]», every team cites the synthetic-data source.
    incidents = list(Incident.objects.all())
    for opened in _open("casework.incident", incidents, ("description",)):
        assert opened["description"].startswith(generate.DEMO_MARK)
    promises = [p for p in Promise.objects.all() if p.details_enc is not None]
    assert promises
    assert all(
        o["details"].startswith(generate.DEMO_MARK) for o in _open("casework.promise", promises, ("details",))
    )
    labels = Counter(o.get("label") for o in _open("casework.source", list(Source.objects.all()), ("label",)))
    assert labels[generate.SYNTHETIC_LABEL] == Team.objects.count() == 3

    # Names: spelling variants of the reference conventions, and never a public figure.
    names_ = [o["full_name"] for o in _open("people.record", list(Record.objects.all()), ("full_name",))]
    assert any(re.fullmatch(r"[A-Za-zËë'ʹ` -]+", n) for n in names_)  # Latin transliterations
    assert any(re.search(r"\b[А-ЯЁ]\. [А-ЯЁ]\.$", n) for n in names_)  # surname with initials
    assert any(
        re.fullmatch(r"[А-ЯЁ][а-яё]+(ов|ев|ин)а? [А-ЯЁ][а-яё]+ [А-ЯЁ][а-яё]+(ич|на)", n) for n in names_
    )
    full, surnames = _public_figures(reference_dir)
    assert len(surnames) > 10
    cyrillic = [n for n in names_ if re.search("[а-я]", n)]
    assert not set(cyrillic) & full
    words = {w.replace("ё", "е") for n in cyrillic for w in n.split()}
    assert not words & surnames

    # The demo logins work with the password derived from the seed.
    for username, role in summary.usernames:
        user = authenticate(username=username, password=generate.demo_password(1))
        assert user is not None
        assert isinstance(user, User)
        assert user.role == role
    with pytest.raises(generate.DemoAlreadyLoaded):
        generate.demo_load(persons=10, seed=1)


def _sqlite_copy(target: Path) -> Path:
    """The test database lives in memory: write its pages, as SQLite would write them to disk, to a file."""
    raw = connection.connection
    assert isinstance(raw, sqlite3.Connection)
    target.write_bytes(raw.serialize())
    return target


def _plan_texts(plan: generate.DemoPlan) -> tuple[set[str], set[str]]:
    """(names, other free texts) the demo will seal, predicted from its plan."""
    people = {p.full_name for p in plan.persons} | {a for p in plan.persons for a in p.aliases}
    people |= {p.second_record[0] for p in plan.persons if p.second_record}
    texts = {p.notes for p in plan.persons} | {p.case[2] for p in plan.persons if p.case}
    texts |= {d.details for p in plan.persons for d in p.promises}
    texts |= {s.label for s in plan.sources} | {s.contact for s in plan.sources}
    for i in plan.incidents:
        texts |= set(i.description.split("[демо] ")[1:]) | set(i.officials)
    return {n for n in people if len(n.encode()) >= 12}, {
        t.strip() for t in texts if len(t.strip().encode()) >= 12
    }


@pytest.mark.django_db
def test_it_leaves_no_demo_name_or_description_in_plaintext_on_disk(agent_ready: Path) -> None:
    registry.reference_load()
    synthetic = registry_selectors.facility_list(confidence="synthetic")
    plan = generate.plan_build(
        persons=200, seed=3, facilities=synthetic, district_of=generate.region_districts()
    )
    people, texts = _plan_texts(plan)
    data_dir = Path(settings.DATA_DIR)
    dsn = None
    if connection.vendor != "sqlite":
        db = connection.settings_dict
        dsn = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    # Common names may already lie in plaintext on a shared server (other suites' fixtures, benchmarks):
    # such a name proves nothing about the demo, so it is not a marker. Sampled to keep the scans short.
    sample = sorted(people)[::4]
    before = canary.scan(sample, [data_dir], include_processes=False, postgres_dsn=dsn, include_tmpdir=False)
    taken = {f.marker for f in before}
    markers: list[str | bytes] = [n for i, n in enumerate(sample) if i not in taken]
    markers += sorted(texts)
    assert len(markers) > 60

    generate.demo_load(persons=200, seed=3)
    records = list(Record.objects.exclude(origin_file=""))
    stored = {o["full_name"] for o in _open("people.record", records, ("full_name",))}
    assert stored == {p.full_name for p in plan.persons}  # the plan is what was loaded

    paths = [data_dir]
    if connection.vendor == "sqlite":
        copy = _sqlite_copy(data_dir / "demo-canary-copy.sqlite3")
        with sqlite3.connect(copy) as check:  # the copy really holds the demo's rows
            assert check.execute("SELECT count(*) FROM people_record").fetchone()[0] >= len(records)
        check.close()
        paths.append(copy)
    # One scan: the demo's texts must be nowhere, while a team name, stored in plaintext by design, is
    # found (proof that the scan does read the database).
    team_marker = len(markers)
    try:
        findings = canary.scan(
            [*markers, generate.TEAM_NAMES[0]],
            paths,
            postgres_dsn=dsn,
            include_tmpdir=False,
        )
        assert any(f.marker == team_marker for f in findings)
        leaks = [str(f) for f in findings if f.marker != team_marker]
        assert leaks == []
    finally:
        if connection.vendor == "sqlite":
            (data_dir / "demo-canary-copy.sqlite3").unlink(missing_ok=True)
