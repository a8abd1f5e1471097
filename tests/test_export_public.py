"""The public data set end to end: real services, real key agent, real files scanned byte by byte."""

from __future__ import annotations

import csv
import io
import json
import secrets
import uuid
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from kartoteka.accounts.models import Role
from kartoteka.audit.models import AuditEntry
from kartoteka.audit.services import chain_verify
from kartoteka.casework import services as casework
from kartoteka.exports import public, services
from kartoteka.exports.models import FacilityRelease
from kartoteka.exports.selectors import VictimEvent
from kartoteka.lib import disclosure
from kartoteka.lib.partialdate import parse as pdate
from kartoteka.people.models import Person
from kartoteka.people.services import PersonInput, person_bulk_create
from kartoteka.registry.models import Facility
from kartoteka.testing.factories import Cast, cast_make, user_make

K = 5
YEAR = ["2024Q1", "2024Q2", "2024Q3", "2024Q4"]


@dataclass
class World:
    cast: Cast
    canaries: list[str]
    ids: list[str]
    f1: Facility
    f2: Facility


def _facilities(region: str) -> tuple[Facility, Facility]:
    found = list(Facility.objects.filter(region_id=region).order_by("key")[:2])
    assert len(found) == 2, f"reference data should hold two facilities in {region}"
    return found[0], found[1]


def _persons(cast: Cast, n: int, canaries: list[str]) -> list[uuid.UUID]:
    rows = []
    for i in range(n):
        surname = f"Канарейкин{secrets.token_hex(4)}"
        birth = date(1960 + i % 30, 1 + i % 12, 1 + i % 27)
        note = f"заметка-{secrets.token_hex(6)}"
        canaries += [surname, note, birth.isoformat(), birth.strftime("%d.%m.%Y")]
        rows.append(
            PersonInput(
                full_name=f"{surname} Иван Петрович",
                birth_date=pdate(birth.isoformat()),
                notes=note,
                origin_file="test-public",
                origin_row=len(Person.objects.all()) * 1000 + i,
            )
        )
    before = set(Person.objects.values_list("id", flat=True))
    person_bulk_create(actor=cast.owner, team=cast.team, rows=rows)
    return sorted(set(Person.objects.values_list("id", flat=True)) - before)


def _incident(
    w: World,
    victims: list[uuid.UUID],
    when: str,
    *,
    source: uuid.UUID,
    facility: Facility | None = None,
    region: str | None = None,
    categories: tuple[str, ...] = ("beating",),
    verification: str = "unverified",
) -> None:
    description = f"описание-{secrets.token_hex(6)}"
    official = f"Начальников{secrets.token_hex(4)}"
    w.canaries += [description, official]
    incident = casework.incident_create(
        actor=w.cast.owner,
        team=w.cast.team,
        facility_id=facility.id if facility else None,
        region_code=None if facility else region,
        date=pdate(when),
        categories=list(categories),
        victim_ids=victims,
        officials=[official],
        description=description,
        verification=verification,
        source_ids=[source],
    )
    w.ids.append(str(incident.id))


@pytest.fixture
def world(agent_ready: Path) -> World:
    cast = cast_make()
    f1, f2 = _facilities("RU-SVE")
    w = World(cast, [], [], f1, f2)
    contact, label = f"+7999{secrets.randbelow(10**7):07d}", f"мать-{secrets.token_hex(4)}"
    w.canaries += [contact, label]
    pub = casework.source_create(
        actor=cast.owner,
        team=cast.team,
        kind="relative",
        consent="anonymised_publication",
        label=label,
        contact=contact,
    )
    internal = casework.source_create(
        actor=cast.owner,
        team=cast.team,
        kind="relative",
        consent="internal_only",
        label=label,
        contact=contact,
    )
    people = _persons(cast, 45, w.canaries)
    w.ids += [str(p) for p in people]
    # 2024Q1: 8 at facility 1, 5 more in the region without a facility; 3 in Moscow (small); 6 in Tver.
    _incident(w, people[0:8], "2024-02-10", source=pub.id, facility=f1)
    _incident(w, people[8:13], "2024-03-01", source=pub.id, region="RU-SVE", categories=("heating_cut",))
    _incident(w, people[13:16], "2024-01-20", source=pub.id, region="RU-MOS", categories=("punishment_cell",))
    _incident(
        w,
        people[16:22],
        "2024-03-03",
        source=pub.id,
        region="RU-TVE",
        categories=("beating", "medical_care_denied"),
    )
    # 2024Q2: 6 at facility 1, 4 at facility 2 (not approved); 7 in Tver; 1 in Moscow.
    _incident(w, people[22:28], "2024-05", source=pub.id, facility=f1)
    _incident(w, people[28:32], "2024-05-05", source=pub.id, facility=f2)
    _incident(w, people[32:39], "2024-06-30", source=pub.id, region="RU-TVE")
    _incident(w, people[39:40], "2024-04-01", source=pub.id, region="RU-MOS")
    # 2024Q3: the same 8 people as Q1 at facility 1 again (counted once per quarter).
    _incident(w, people[0:8], "2024-08-14", source=pub.id, facility=f1)
    _incident(w, people[0:8], "2024-09-01", source=pub.id, facility=f1, categories=("food_water_deprived",))
    # Left out: internal-only consent (Kemerovo), disputed, and a date that spans quarters.
    _incident(w, people[0:7], "2024-02-02", source=internal.id, region="RU-KEM")
    _incident(w, people[32:39], "2024-02-02", source=pub.id, region="RU-KEM", verification="disputed")
    _incident(w, people[32:39], "2024", source=pub.id, region="RU-KEM")
    coordinator = user_make("coordinator", role=Role.COORDINATOR, teams=(cast.team,))
    proposal = services.facility_release_propose(actor=cast.owner, facility_key=f1.key)
    services.facility_release_approve(actor=coordinator, release_id=proposal.id)
    return w


def _export(w: World, out: Path, start: str, end: str) -> dict[str, bytes]:
    quarters = services.public_period(
        date.fromisoformat(start), date.fromisoformat(end), today=date(2026, 1, 1)
    )
    result = services.public_export(actor=w.cast.owner, out=out, quarters=quarters, k=K)
    return {p.name: p.read_bytes() for p in result.files}


def _all_bytes(files: dict[str, bytes]) -> list[tuple[str, bytes]]:
    """Every file's bytes, and every member of the XLSX decompressed (a zip hides text from a raw scan)."""
    out = list(files.items())
    for name, data in files.items():
        if name.endswith(".xlsx"):
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                out += [(f"{name}:{m}", z.read(m)) for m in z.namelist()]
    return out


def _table(doc: dict[str, object], name: str) -> disclosure.ProtectedTable:
    """What an attacker has: the release as published, rebuilt from release.json."""
    t = doc["tables"][name]  # type: ignore[index]
    rows, cols = t["rows"], t["columns"]
    published = {(r, c): t["cells"][i][j] for i, r in enumerate(rows) for j, c in enumerate(cols)}
    totals = t["row_totals"] is not None
    return disclosure.ProtectedTable(
        rows,
        cols,
        int(doc["k"]),  # type: ignore[call-overload]
        published,
        dict(zip(rows, t["row_totals"], strict=True)) if totals else {},
        dict(zip(cols, t["column_totals"], strict=True)) if totals else {},
        t["grand_total"],
        by_column=True,
        totals=totals,
    )


@pytest.mark.django_db
def test_it_publishes_no_identifier_and_no_small_cell(world: World, tmp_path: Path) -> None:
    files = _export(world, tmp_path / "release", "2024-01-01", "2024-12-31")
    assert set(files) == set(public.FILES)
    for name, data in _all_bytes(files):
        for canary in world.canaries + world.ids:
            assert canary.encode() not in data, f"{canary} leaked into {name}"
            assert canary.encode("utf-16-le") not in data, f"{canary} leaked into {name} (UTF-16)"
    doc = json.loads(files["release.json"])
    for name in ("regions", "categories", "facilities"):
        table = _table(doc, name)
        assert not [v for v in table.values() if disclosure.is_small(v, K)], name
        assert disclosure.audit_failures(table) == [], name
    for name in ("victims_by_region.csv", "victims_by_category.csv", "victims_by_facility.csv"):
        reader = csv.reader(io.StringIO(files[name].decode("utf-8-sig")))
        numbers = [int(cell) for row in reader for cell in row if cell.isdigit()]
        assert numbers and not [n for n in numbers if 1 <= n < K], name


@pytest.mark.django_db
def test_it_counts_what_it_should_and_hides_the_rest(world: World, tmp_path: Path) -> None:
    doc = json.loads(_export(world, tmp_path / "r", "2024-02-15", "2024-11-01")["release.json"])
    assert doc["period"] == ["2024Q1", "2024Q4"] and doc["tables"]["regions"]["columns"] == YEAR
    regions = _table(doc, "regions")
    assert regions.published[("RU-SVE", "2024Q1")] == 13
    # Moscow's 3 are hidden, and with them the smallest other non-zero cell (Tver's 6), else 22 − 13 − 6.
    assert regions.published[("RU-MOS", "2024Q1")] is None
    assert regions.published[("RU-TVE", "2024Q1")] is None
    assert regions.published[("RU-SVE", "2024Q3")] == 8  # two incidents, the same 8 people
    assert regions.published[("RU-MOS", "2024Q2")] is None  # 1 victim
    assert all(regions.published[("RU-KEM", q)] == 0 for q in YEAR)  # internal-only, disputed, imprecise
    hidden_q1 = [r for r in regions.row_labels if regions.published[(r, "2024Q1")] is None]
    assert hidden_q1 == ["RU-MOS", "RU-TVE"]
    assert regions.col_totals["2024Q1"] == 22
    intervals = disclosure.audit_intervals(regions)
    assert intervals[("RU-MOS", "2024Q1")][1] >= K  # an attacker cannot tell the cell is small
    facilities = _table(doc, "facilities")
    assert facilities.row_labels == [world.f1.key]  # facility 2 was never approved
    assert facilities.published[(world.f1.key, "2024Q1")] == 8
    # Q2: facility 1 has 6 of the region's 10; the 4 others would be a small residual, so it is hidden.
    assert regions.published[("RU-SVE", "2024Q2")] == 10
    assert facilities.published[(world.f1.key, "2024Q2")] is None
    categories = _table(doc, "categories")
    assert categories.published[("medical_care_denied", "2024Q1")] == 6
    assert categories.published[("heating_cut", "2024Q1")] == 5
    assert categories.published[("punishment_cell", "2024Q1")] is None
    assert categories.published[("food_water_deprived", "2024Q3")] == 8
    methodology = _export(world, tmp_path / "m", "2024-01-01", "2024-03-31")["methodology.md"].decode()
    assert "## Русский" in methodology and "## English" in methodology and f"k = {K}" in methodology


@pytest.mark.django_db
def test_it_cannot_be_differenced_across_overlapping_releases(world: World, tmp_path: Path) -> None:
    a = json.loads(_export(world, tmp_path / "a", "2024-01-01", "2024-09-30")["release.json"])
    b = json.loads(_export(world, tmp_path / "b", "2024-04-01", "2024-12-31")["release.json"])
    ra, rb = _table(a, "regions"), _table(b, "regions")
    shared = sorted(set(ra.col_labels) & set(rb.col_labels))
    assert shared == ["2024Q2", "2024Q3"]
    for q in shared:
        assert all(ra.published[(r, q)] == rb.published[(r, q)] for r in ra.row_labels)
    joint = disclosure.audit_intervals(ra, rb)
    assert ("RU-MOS", "2024Q1") in joint
    assert [key for key, iv in joint.items() if not disclosure.interval_safe(iv, K)] == []
    # What an attacker would try: release A's period total minus release B's, row by row.
    for r in ra.row_labels:
        if ra.row_totals[r] is not None and rb.row_totals[r] is not None:
            assert ra.published[(r, "2024Q1")] is not None


@pytest.mark.django_db
def test_it_requires_a_second_person_to_approve_a_facility_row(agent_ready: Path) -> None:
    cast = cast_make()
    facility = Facility.objects.order_by("key").first()
    assert facility is not None
    coordinator = user_make("coordinator", role=Role.COORDINATOR, teams=(cast.team,))
    with pytest.raises(PermissionError):
        services.facility_release_propose(actor=cast.analyst, facility_key=facility.key)
    proposal = services.facility_release_propose(actor=coordinator, facility_key=facility.key)
    with pytest.raises(PermissionError, match="second person"):
        services.facility_release_approve(actor=coordinator, release_id=proposal.id)
    with pytest.raises(PermissionError):
        services.facility_release_approve(actor=cast.owner, release_id=proposal.id)  # a caseworker
    admin = user_make("admin", role=Role.ADMIN)
    approved = services.facility_release_approve(actor=admin, release_id=proposal.id)
    assert approved.status == FacilityRelease.Status.APPROVED and approved.decided_by == admin
    actions = list(AuditEntry.objects.filter(object_id=str(proposal.id)).values_list("action", flat=True))
    assert actions == ["facility_release.propose", "facility_release.approve"]
    services.facility_release_withdraw(actor=admin, release_id=proposal.id)
    assert not FacilityRelease.objects.filter(status="approved").exists()
    assert chain_verify().ok


def test_it_refuses_a_period_ending_in_the_running_quarter() -> None:
    today = date(2025, 5, 20)
    assert services.public_period(None, None, today=today)[-1] == "2025Q1"
    assert services.public_period(date(2024, 2, 1), date(2024, 5, 1), today=today) == ["2024Q1", "2024Q2"]
    with pytest.raises(services.ExportError, match="current quarter"):
        services.public_period(date(2025, 1, 1), date(2025, 4, 2), today=today)


def test_it_hides_a_facility_whose_region_cell_is_a_complement() -> None:
    # Region B's 8 victims are all at facility FB; B's cell is hidden as the complement of A's 3, so
    # showing FB = 8 would bound B from below and A from above: FB is hidden too.
    fb = public.FacilityLabel(uuid.uuid4(), "FB", "ИК-1", "RU-B")
    events = [
        VictimEvent(uuid.uuid4(), uuid.uuid4(), "2024Q1", date(2024, 1, 5), "RU-A", None, ("beating",))
        for _ in range(3)
    ] + [
        VictimEvent(uuid.uuid4(), uuid.uuid4(), "2024Q1", date(2024, 2, 5), "RU-B", fb.id, ("beating",))
        for _ in range(8)
    ]
    labels = [public.RegionLabel("RU-A", "А", "A"), public.RegionLabel("RU-B", "Б", "B")]
    release = public.release_build(
        events, quarters=["2024Q1"], k=K, regions=labels, facilities=[fb], generated_on=date(2025, 1, 1)
    )
    assert release.regions.published[("RU-A", "2024Q1")] is None
    assert release.regions.published[("RU-B", "2024Q1")] is None
    assert release.regions.col_totals["2024Q1"] == 11
    assert release.facilities.published[("FB", "2024Q1")] is None
    assert release.categories.published[("beating", "2024Q1")] == 11


@pytest.mark.django_db
def test_it_publishes_only_approved_estimates_with_method_and_interval(world: World, tmp_path: Path) -> None:
    from kartoteka.estimation import report, tables
    from kartoteka.estimation import services as estimation

    def saved(population: str, counts: dict[tuple[int, int], int]):
        table = tables.build_table(["A", "B"], counts, population=population, period="2024")
        return estimation.estimate_save(
            actor=world.cast.owner, team=world.cast.team, result=report.estimate(table)
        )

    approved = saved("recruits", {(1, 0): 60, (0, 1): 50, (1, 1): 20})
    saved("dead", {(1, 0): 70, (0, 1): 40, (1, 1): 10})  # never approved
    tiny = saved("wounded", {(1, 0): 2, (0, 1): 1, (1, 1): 1})  # approved, but fewer than k documented
    coordinator = user_make("approver", role=Role.COORDINATOR, teams=(world.cast.team,))
    for e in (approved, tiny):
        estimation.estimate_approve(actor=coordinator, estimate_id=str(e.id))
    files = _export(world, tmp_path / "r", "2024-01-01", "2024-12-31")
    rows = list(csv.DictReader(io.StringIO(files["estimates.csv"].decode("utf-8-sig"))))
    assert [r["population"] for r in rows] == ["recruits"]
    assert rows[0]["method"] == "chapman" and rows[0]["documented"] == "130"
    assert int(rows[0]["lower_95"]) <= int(rows[0]["estimate"]) <= int(rows[0]["upper_95"])
    assert json.loads(files["release.json"])["estimates"][0]["estimate"] == int(rows[0]["estimate"])
    assert "estimates.csv" in files["methodology.md"].decode()
