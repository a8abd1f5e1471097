"""People: services (single and bulk), selectors (search, get, list), access, and the canary.

Search is checked against the reference spellings (kartoteka/data/reference/name-variants.csv): every
canonical name is stored through ``person_create`` and every standard-convention spelling must find its
person through the blind index. Run with ``-s`` to see the per-convention rates and diminutive hits.
"""

from __future__ import annotations

import csv
import json
import secrets
import uuid
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection

from kartoteka.accounts import access
from kartoteka.accounts.models import Share
from kartoteka.audit.models import AuditEntry
from kartoteka.casework.models import Case
from kartoteka.lib import names
from kartoteka.lib.partialdate import PartialDate
from kartoteka.people import selectors, services
from kartoteka.people.models import NameTerm, Person, Record, StatusEntry
from kartoteka.people.services import PersonInput
from kartoteka.registry.models import Region
from kartoteka.testing import canary
from kartoteka.testing.factories import Cast, cast_make

INFORMAL = {"diminutive"}


def _rows(reference_dir: Path, name: str) -> list[dict[str, str]]:
    with (reference_dir / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _region(code: str = "RU-SVE") -> Region:
    return Region.objects.get_or_create(
        code=code, defaults={"name_ru": code, "name_en": code, "status": "ru"}
    )[0]


def _person(cast: Cast, name: str = "Иванов Пётр Сергеевич", **extra: Any) -> Person:
    return services.person_create(actor=cast.owner, team=cast.team, data=PersonInput(full_name=name, **extra))


# --- search over the reference spellings ------------------------------------------------------------------


@pytest.mark.django_db
def test_it_finds_every_variant_group_by_name(agent_ready: Path, reference_dir: Path) -> None:
    cast = cast_make()
    variants = _rows(reference_dir, "name-variants.csv")
    group_person: dict[str, uuid.UUID] = {}
    for row in variants:
        if row["group_id"] not in group_person:
            group_person[row["group_id"]] = _person(cast, row["cyrillic"]).id
    assert len(group_person) == 54
    person_group = {v: k for k, v in group_person.items()}
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    misses: dict[str, list[str]] = defaultdict(list)
    wrong = 0
    for row in variants:
        hits = {h.person_id for h in selectors.person_find(user=cast.owner, query=row["variant"])}
        wrong += len({person_group[p] for p in hits} - {row["group_id"]})
        for convention in row["convention"].split("; "):
            total[convention] += 1
            if group_person[row["group_id"]] in hits:
                found[convention] += 1
            else:
                misses[convention].append(row["group_id"])
    print("\nperson_find hit rate by convention")
    for convention in sorted(total, key=lambda c: (c in INFORMAL, c)):
        print(f"  {convention:<28} {found[convention]:>3}/{total[convention]}")
    assert {c: m for c, m in misses.items() if c not in INFORMAL} == {}
    assert wrong == 0, "a spelling reached a different person"


@pytest.mark.django_db
def test_it_keeps_hard_negatives_apart(agent_ready: Path, reference_dir: Path) -> None:
    cast = cast_make()
    reached = []
    for i, row in enumerate(_rows(reference_dir, "hard-negatives.csv")):
        b_year = int(row["b_birth_year"]) if row["b_birth_year"] else None
        a_year = int(row["a_birth_year"]) if row["a_birth_year"] else None
        b = _person(cast, row["b"], birth_date=PartialDate.of(b_year) if b_year else None)
        hits = selectors.person_find(user=cast.owner, query=row["a"], birth_year=a_year, limit=100)
        if b.id in {h.person_id for h in hits}:
            reached.append(i)
    assert reached == []


@pytest.mark.django_db
def test_it_finds_by_alias_and_filters_by_birth_year(agent_ready: Path) -> None:
    cast = cast_make()
    person = _person(
        cast, "Смирнов Андрей Андреевич", aliases=("Андрей Кузьмин",), birth_date=PartialDate.of(1978, 5)
    )
    assert [h.person_id for h in selectors.person_find(user=cast.owner, query="Andrei Kuzmin")] == [person.id]
    assert (
        selectors.person_find(user=cast.owner, query="Smirnov Andrey", birth_year=1978)[0].birth_date
        == "1978-05"
    )
    assert selectors.person_find(user=cast.owner, query="Smirnov Andrey", birth_year=1951) == []


@pytest.mark.django_db
def test_it_returns_at_most_limit_hits_in_a_stable_order(agent_ready: Path) -> None:
    cast = cast_make()
    ids = [_person(cast, f"Петров Иван {p}").id for p in ("Ильич", "Олегович", "Игоревич", "Павлович")]
    first = selectors.person_find(user=cast.owner, query="Петров Иван", limit=3)
    assert len(first) == 3
    assert first == selectors.person_find(user=cast.owner, query="Петров Иван", limit=3)
    assert {h.person_id for h in selectors.person_find(user=cast.owner, query="Petrov Ivan")} == set(ids)


@pytest.mark.django_db
def test_it_finds_the_one_visible_record_behind_many_hidden_ones(agent_ready: Path) -> None:
    cast = cast_make()
    rows = [PersonInput(full_name="Иванов Пётр Сергеевич") for _ in range(2 * selectors.DECRYPT_CAP // 5)]
    services.person_bulk_create(actor=cast.owner, team=cast.team, rows=rows)
    visible = [Record.objects.order_by("id")[n] for n in (45, len(rows) - 1)]  # past the first page
    for record in visible:
        _share(cast, "record", record.id)
    found = selectors.person_find(user=cast.lawyer, query="Ivanov Pyotr Sergeevich")
    assert [h.person_id for h in found] == [r.person_id for r in visible]
    assert len(selectors.person_find(user=cast.owner, query="Ivanov Pyotr", limit=50)) == 50


@pytest.mark.django_db
def test_it_finds_the_same_hits_merging_posting_lists_as_probing_them(
    agent_ready: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cast = cast_make()
    parts = [("Петров", "Петрова"), ("Иван", "Анна"), ("Сергеевич", "Сергеевна"), ("Олегович", "Олеговна")]
    rows = [
        PersonInput(full_name=f"{s} {g} {p}", aliases=(f"{s} {p}",) if i % 5 == 0 else ())
        for i in range(48)
        for s, g, p in [
            (
                parts[0][i % 4 == 3] if i % 3 else "Сидоров",
                parts[1][i % 4 == 3] if i % 5 else "Олег",
                (parts[2] if i % 2 else parts[3])[i % 4 == 3],
            )
        ]
    ]
    services.person_bulk_create(actor=cast.owner, team=cast.team, rows=rows)
    queries = ["Петров Иван Сергеевич", "Petrov Ivan", "Петров Олегович", "Петрова Анна Олеговна"]

    def hits(limit: int) -> list[list[uuid.UUID]]:
        return [
            [h.person_id for h in selectors.person_find(user=cast.owner, query=q, limit=limit)]
            for q in queries
        ]

    probed = {limit: hits(limit) for limit in (2, 5, 50)}
    merges = []
    merged_ids = selectors._merged_ids

    def spy(*args: Any, **kwargs: Any) -> list[object]:
        merges.append(args)
        return merged_ids(*args, **kwargs)

    monkeypatch.setattr(selectors, "_merged_ids", spy)
    monkeypatch.setattr(selectors, "RAREST_PROBE", 2)  # every group "reaches" the probe: spans decide
    monkeypatch.setattr(selectors, "MERGE_DENSER", 10**9)  # and every pair of single terms merges
    assert {limit: hits(limit) for limit in (2, 5, 50)} == probed
    # Several batches' worth for the first three (limit 2 and 5 stop mid-way), no common record for the last.
    assert [len(h) > 5 for h in probed[50]] == [True, True, True, False]
    # The candidate stream itself, page by page, not only what refinement keeps of it.
    index = selectors.BLIND_INDEX
    for query in queries:
        groups = names.search_terms(query)
        flat = index.values([t for group in groups for t in group])
        plan = selectors._rarest_first(index, [flat[i : i + 1] for i in range(len(flat))])
        if plan is None:
            continue
        for size in (1, 3, 50):
            pages: dict[bool, list[uuid.UUID]] = {}
            for merge in (False, True):
                after, ids = None, pages.setdefault(merge, [])
                while page := selectors._term_ids(index, replace(plan, merge=merge), after=after, size=size):
                    ids += page
                    after = page[-1]
            assert pages[True] == pages[False], (query, size)
            assert len(set(pages[True])) == len(pages[True])
    assert merges or connection.vendor != "sqlite"  # the merge is SQLite's own plan


# --- services -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_creates_a_person_with_record_terms_status_and_audit(agent_ready: Path) -> None:
    cast = cast_make()
    region = _region()
    before = AuditEntry.objects.count()
    person = _person(
        cast, sex="m", home_region_code=region.code, status="recruited", aliases=("Петя Иванов",)
    )
    person.refresh_from_db()
    assert (person.status, person.sex, person.home_region_id) == ("recruited", "m", region.code)
    record = Record.objects.get(person=person)
    assert record.full_name_enc is not None
    assert "Иванов".encode() not in bytes(record.full_name_enc)
    # Иванов, Пётр, Сергеевич, Петя; initials terms Иванов+П+С and the alias's Иванов+П+(none)
    assert NameTerm.objects.filter(record=record).count() == 6
    assert StatusEntry.objects.filter(person=person, status="recruited").count() == 1
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry is not None
    assert (entry.action, entry.object_id) == ("person.create", str(person.id))
    assert AuditEntry.objects.count() == before + 1


@pytest.mark.django_db
def test_it_updates_the_best_view_from_records_and_status_history(agent_ready: Path) -> None:
    cast = cast_make()
    region = _region("RU-KEM")
    person = _person(cast, status="in_custody")
    services.record_add(
        actor=cast.teammate,
        person=person,
        data=PersonInput(full_name="Ivanov Petr", sex="m", home_region_code="RU-KEM"),
    )
    services.status_add(actor=cast.owner, person=person, status="killed", date=PartialDate.of(2023, 5))
    services.status_add(actor=cast.owner, person=person, status="recruited", date=PartialDate.of(2022, 11))
    person.refresh_from_db()
    assert (person.status, person.sex, person.home_region_id) == ("killed", "m", region.code)
    actions = list(AuditEntry.objects.order_by("-seq").values_list("action", flat=True)[:3])
    assert actions == ["status.add", "status.add", "record.add"]


@pytest.mark.django_db
def test_it_keeps_sex_and_region_when_a_newer_record_leaves_them_blank(agent_ready: Path) -> None:
    cast = cast_make()
    region = _region("RU-KEM")
    person = _person(cast, sex="f", home_region_code=region.code)
    services.record_add(actor=cast.owner, person=person, data=PersonInput(full_name="Ivanova Anna"))
    person.refresh_from_db()
    assert (person.sex, person.home_region_id) == ("f", region.code)
    services.record_add(actor=cast.owner, person=person, data=PersonInput(full_name="Anna", sex="m"))
    assert services.stated_sex_region([person.id]) == {person.id: ("m", region.code)}


@pytest.mark.django_db
def test_it_rejects_bad_codes_naming_the_field_without_the_value(agent_ready: Path) -> None:
    cast = cast_make()
    with pytest.raises(ValueError, match="status") as info:
        _person(cast, "Секретов Тайный", status="vanished")
    assert "Секретов" not in str(info.value)
    with pytest.raises(ValueError, match="home_region_code"):
        _person(cast, home_region_code="RU-XXX")
    with pytest.raises(ValueError, match="sex"):
        _person(cast, sex="x")
    assert Person.objects.count() == 0


@pytest.mark.django_db
def test_it_refuses_writes_outside_ones_teams(agent_ready: Path) -> None:
    cast = cast_make()
    with pytest.raises(PermissionDenied):
        services.person_create(actor=cast.outsider, team=cast.team, data=PersonInput(full_name="Иванов Пётр"))
    with pytest.raises(PermissionDenied):
        services.person_create(actor=cast.analyst, team=cast.team, data=PersonInput(full_name="Иванов Пётр"))
    with pytest.raises(PermissionDenied):
        services.person_bulk_create(
            actor=cast.outsider, team=cast.team, rows=[PersonInput(full_name="Иванов")]
        )
    person = _person(cast)
    with pytest.raises(access.NotFound):
        services.record_add(actor=cast.outsider, person=person, data=PersonInput(full_name="Иванов"))
    with pytest.raises(access.NotFound):
        services.status_add(actor=cast.analyst, person=person, status="killed", date=None)


def _inputs() -> list[PersonInput]:
    return [
        PersonInput(
            full_name=("Кузнецова Ольга Петровна" if i % 2 else "Кузнецов Сергей Петрович")
            + f" {i}" * (i > 8),
            aliases=(f"Kuznetsov {i}",) if i % 3 == 0 else (),
            birth_date=PartialDate.of(1970 + i, 1 + i % 12) if i % 4 else None,
            sex="f" if i % 2 else "m",
            home_region_code="RU-SVE" if i % 2 else None,
            articles=("105.1", "228.4") if i % 5 == 0 else (),
            sentence_months=12 * i if i % 3 else None,
            status="recruited" if i % 2 else "unknown",
            notes="заметка" if i == 3 else "",
            origin_file="a" * 64 if i < 4 else "",
            origin_row=i if i < 4 else None,
        )
        for i in range(11)
    ]


def _snapshot(user: Any, person: Person) -> tuple[Any, ...]:
    view = selectors.person_get(user=user, person_id=person.id)
    record = Record.objects.get(person=person)
    columns = Record.objects.filter(pk=record.pk).values(
        "team_id", "source_id", "sex", "home_region_id", "facility_id", "articles", "sentence_months",
        "origin_row", "review_flags", "created_by_id",
    )[0]  # fmt: skip
    nulls = tuple(
        getattr(record, f) is None for f in ("full_name_enc", "aliases_enc", "birth_date_enc", "notes_enc")
    )
    terms = sorted(NameTerm.objects.filter(record=record).values_list("term", flat=True))
    statuses = list(
        StatusEntry.objects.filter(person=person).values_list("status", "date_edtf", "date_start", "source")
    )
    r = view.records[0]
    plain = (
        r.full_name,
        r.aliases,
        r.birth_date,
        r.notes,
        r.sex,
        r.home_region,
        r.articles,
        r.sentence_months,
    )
    return (view.status, view.sex, view.home_region, view.team, plain, columns, nulls, terms, statuses)


@pytest.mark.django_db
@pytest.mark.parametrize("helper_after", [None, 0], ids=["in-thread", "helper-process"])
def test_it_writes_the_same_rows_in_bulk_as_one_by_one(
    agent_ready: Path, helper_after: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also with the sealing half in its helper process (a large import: here from the second batch on)."""
    if helper_after is not None:
        monkeypatch.setattr(services, "HELPER_AFTER_ROWS", helper_after)
    cast = cast_make()
    _region()
    inputs = _inputs()
    singles = [services.person_create(actor=cast.owner, team=cast.team, data=d) for d in inputs]
    Record.objects.update(origin_file="")  # let the bulk path import the same origins again
    before = AuditEntry.objects.count()
    assert (
        services.person_bulk_create(actor=cast.owner, team=cast.team, rows=iter(inputs), batch_size=4) == 11
    )
    assert AuditEntry.objects.count() == before + 3  # one entry per batch of 4, 4 and 3
    batch = AuditEntry.objects.order_by("-seq").first()
    assert batch is not None
    assert (batch.action, batch.object_type, json.loads(batch.details)) == (
        "person.bulk_create",
        "batch",
        {"count": 3},
    )
    bulk = Person.objects.exclude(pk__in=[p.pk for p in singles])
    # Batch rows share one created_at and ids are random within a millisecond: compare as multisets.
    expected = sorted(repr(_snapshot(cast.owner, p)) for p in singles)
    assert sorted(repr(_snapshot(cast.owner, p)) for p in bulk) == expected


@pytest.mark.django_db
def test_it_starts_a_bulk_import_with_small_batches_that_double(
    agent_ready: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first batch is FIRST_BATCH rows and each next one twice the last, up to the batch size: the
    importer waits only for a small first batch to be sealed."""
    monkeypatch.setattr(services, "FIRST_BATCH", 2)
    cast = cast_make()
    _region()
    before = AuditEntry.objects.filter(action="person.bulk_create").count()
    rows = [PersonInput(full_name=f"Иванов Пётр {i}") for i in range(15)]
    assert services.person_bulk_create(actor=cast.owner, team=cast.team, rows=iter(rows), batch_size=5) == 15
    batches = AuditEntry.objects.filter(action="person.bulk_create").order_by("seq")[before:]
    assert [json.loads(b.details)["count"] for b in batches] == [2, 4, 5, 4]
    assert Record.objects.count() == 15 == Person.objects.count()


@pytest.mark.django_db
def test_it_skips_rows_already_imported_from_the_same_origin(agent_ready: Path) -> None:
    cast = cast_make()
    _region()
    rows = _inputs()[:4]
    assert services.person_bulk_create(actor=cast.owner, team=cast.team, rows=rows, batch_size=3) == 4
    assert services.person_bulk_create(actor=cast.owner, team=cast.team, rows=rows + rows, batch_size=3) == 0
    assert Record.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_it_refuses_a_bulk_batch_that_refers_to_a_missing_row(agent_ready: Path) -> None:
    """Outside a caller's transaction the bulk path writes with SQLite's foreign-key look-ups off and checks
    each batch's references itself: a missing facility fails its batch (nothing of it written) and the
    earlier batch stays."""
    cast = cast_make()
    good = [PersonInput(full_name=f"Иванов Пётр {i}") for i in range(3)]
    bad = PersonInput(full_name="Петров Иван", facility_id=uuid.uuid4())
    # The audit chain is append-only (its rows outlive a transactional test's flush on PostgreSQL): count
    # what this test adds.
    audited = AuditEntry.objects.filter(action="person.bulk_create").count()
    with pytest.raises(IntegrityError, match="facility"):
        services.person_bulk_create(actor=cast.owner, team=cast.team, rows=[*good, bad], batch_size=3)
    assert Record.objects.count() == 3 == Person.objects.count()
    assert AuditEntry.objects.filter(action="person.bulk_create").count() == audited + 1
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            assert cursor.execute("PRAGMA foreign_keys").fetchone()[0] == 1  # back on


# --- access -------------------------------------------------------------------------------------------------


def _share(cast: Cast, object_type: str, object_id: uuid.UUID) -> None:
    Share.objects.create(
        object_type=object_type, object_id=object_id, user=cast.lawyer, granted_by=cast.owner
    )


@pytest.mark.django_db
def test_it_lets_owner_and_teammate_read_a_person_and_hides_it_from_outsiders(agent_ready: Path) -> None:
    cast = cast_make()
    person = _person(cast, notes="записка")
    for user in (cast.owner, cast.teammate):
        view = selectors.person_get(user=user, person_id=person.id)
        assert view.full_name == "Иванов Пётр Сергеевич"
        assert view.records[0].notes == "записка"
    for user in (cast.outsider, cast.lawyer):
        with pytest.raises(access.NotFound):
            selectors.person_get(user=user, person_id=person.id)
        assert selectors.person_find(user=user, query="Иванов Пётр") == []
        assert selectors.person_list(user=user).total == 0


@pytest.mark.django_db
def test_it_gives_analysts_no_identity_field(agent_ready: Path) -> None:
    cast = cast_make()
    person = _person(cast, aliases=("Петя",), birth_date=PartialDate.of(1980), status="missing")
    view = selectors.person_get(user=cast.analyst, person_id=person.id)
    assert view.status == "missing"
    assert view.full_name is None
    record = view.records[0]
    assert (record.full_name, record.aliases, record.birth_date, record.notes) == (None, None, None, None)
    assert selectors.record_get(user=cast.analyst, record_id=record.id).full_name is None
    assert selectors.person_list(user=cast.analyst).items[0].full_name is None
    with pytest.raises(PermissionDenied):
        selectors.person_find(user=cast.analyst, query="Иванов")


@pytest.mark.django_db
def test_it_shows_a_lawyer_only_the_shared_record(agent_ready: Path) -> None:
    cast = cast_make()
    person = _person(cast)
    shared = services.record_add(actor=cast.owner, person=person, data=PersonInput(full_name="Ivanov Pyotr"))
    other = Record.objects.exclude(pk=shared.pk).get(person=person)
    _share(cast, "record", shared.id)
    assert selectors.record_get(user=cast.lawyer, record_id=shared.id).full_name == "Ivanov Pyotr"
    with pytest.raises(access.NotFound):
        selectors.record_get(user=cast.lawyer, record_id=other.id)
    with pytest.raises(access.NotFound):
        selectors.person_get(user=cast.lawyer, person_id=person.id)
    with pytest.raises(access.NotFound):
        selectors.record_get(user=cast.outsider, record_id=shared.id)
    assert selectors.record_get(user=cast.teammate, record_id=other.id).full_name == "Иванов Пётр Сергеевич"


@pytest.mark.django_db
def test_it_shows_a_shared_status_entry_only_with_its_person(agent_ready: Path) -> None:
    cast = cast_make()
    person, other = _person(cast), _person(cast, "Сидоров Павел")
    entry = services.status_add(actor=cast.owner, person=person, status="wounded", date=PartialDate.of(2023))
    hidden = services.status_add(actor=cast.owner, person=other, status="killed", date=None)
    assert selectors.status_entry_get(user=cast.teammate, entry_id=entry.id).status == "wounded"
    with pytest.raises(access.NotFound):
        selectors.status_entry_get(user=cast.outsider, entry_id=entry.id)
    _share(cast, "person", person.id)
    assert selectors.status_entry_get(user=cast.lawyer, entry_id=entry.id).date == "2023"
    with pytest.raises(access.NotFound):
        selectors.status_entry_get(user=cast.lawyer, entry_id=hidden.id)
    assert [h.person_id for h in selectors.person_find(user=cast.lawyer, query="Ivanov")] == [person.id]


@pytest.mark.django_db
def test_it_shows_a_lawyer_with_a_shared_case_that_person_and_no_other(agent_ready: Path) -> None:
    cast = cast_make()
    person, other = _person(cast), _person(cast, "Иванов Пётр Семёнович")
    case = Case.objects.create(team=cast.team, person=person, wrapped_key=b"")
    _share(cast, "case", case.id)
    assert selectors.person_get(user=cast.lawyer, person_id=person.id).full_name == "Иванов Пётр Сергеевич"
    with pytest.raises(access.NotFound):
        selectors.person_get(user=cast.lawyer, person_id=other.id)
    assert [h.person_id for h in selectors.person_find(user=cast.lawyer, query="Иванов Пётр")] == [person.id]
    assert [p.id for p in selectors.person_list(user=cast.lawyer).items] == [person.id]


@pytest.mark.django_db
def test_it_lists_persons_with_filters_and_pages(agent_ready: Path) -> None:
    cast = cast_make()
    _region()
    made = [_person(cast, f"Орлов Роман {p}", home_region_code="RU-SVE" if i % 2 else None) for i, p in
            enumerate(("Ильич", "Олегович", "Игоревич", "Павлович", "Петрович"))]  # fmt: skip
    services.status_add(actor=cast.owner, person=made[0], status="killed", date=None)
    first = selectors.person_list(user=cast.owner, per_page=2)
    assert (first.total, len(first.items), first.has_next) == (5, 2, True)
    third = selectors.person_list(user=cast.owner, per_page=2, page=3)
    assert (len(third.items), third.has_next) == (1, False)
    seen = [p.id for n in (1, 2, 3) for p in selectors.person_list(user=cast.owner, per_page=2, page=n).items]
    assert sorted(seen) == sorted(p.id for p in made)
    assert selectors.person_list(user=cast.owner, region="RU-SVE").total == 2
    assert [p.id for p in selectors.person_list(user=cast.owner, status="killed").items] == [made[0].id]
    assert selectors.person_list(user=cast.owner, team=cast.other_team.id).total == 0
    assert str(first.items[0].full_name).startswith("Орлов Роман")


# --- canary ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_it_leaves_no_planted_name_alias_or_note_in_plaintext(agent_ready: Path) -> None:
    cast = cast_make()
    markers = [f"Канарейкин{secrets.token_hex(8)}" for _ in range(6)]
    person = _person(cast, f"{markers[0]} Пётр", aliases=(markers[1],), notes=markers[2])
    services.record_add(
        actor=cast.owner, person=person, data=PersonInput(full_name=markers[3], notes=markers[4])
    )
    services.person_bulk_create(actor=cast.owner, team=cast.team, rows=[PersonInput(full_name=markers[5])])
    assert selectors.person_get(user=cast.owner, person_id=person.id).records[0].notes == markers[2]
    data_dir = Path(settings.DATA_DIR)
    paths = [data_dir]
    dsn = None
    if connection.vendor == "sqlite":
        name = Path(str(connection.settings_dict["NAME"]))
        paths += [p for p in (name, Path(f"{name}-wal")) if p.exists()]
        paths.append(canary.sqlite_copy(data_dir / "people-canary-copy.sqlite3"))
    else:
        s = connection.settings_dict
        dsn = f"postgresql://{s['USER']}@{s['HOST']}:{s['PORT'] or 5432}/{s['NAME']}"
    try:
        canary.assert_clean(markers, paths, postgres_dsn=dsn, include_tmpdir=False)
    finally:
        (data_dir / "people-canary-copy.sqlite3").unlink(missing_ok=True)


def test_it_hands_a_batchs_term_rows_over_in_key_order(agent_ready: Path) -> None:
    """The sealing half returns a batch's term rows sorted by value, then row: each row's distinct values
    once, the same for a name it has seen before in the import as for a new one."""
    from array import array

    from kartoteka.lib import crypto, names
    from kartoteka.lib.agent import AgentClient
    from kartoteka.people import bulkseal

    full = ("Иванов Пётр Сергеевич", "Петрова Анна Ивановна", "Иванов Пётр Сергеевич", "Сидоров Иван")
    rows: list[bulkseal.Row] = [
        (rid, name, ("Петя Иванов",) if k == 1 else (), "", "")
        for k, (rid, name) in enumerate(zip(crypto.record_id_ints(4, ascending=True), full, strict=True))
    ]
    with AgentClient(settings.AGENT_SOCKET) as agent:
        sealer = bulkseal.Sealer(agent)
        sealer.seal(rows[:1])  # the first name is then known to the import
        _, values_bytes, owners_bytes = sealer.seal(rows)
        expected = sorted(
            (value, j)
            for j, (_, name, aliases, _, _) in enumerate(rows)
            for value in set(agent.blind_index(bulkseal.NAME_PURPOSE, names.record_terms(name, aliases)))
        )
    values, owners = array("q"), array("q")
    values.frombytes(values_bytes)
    owners.frombytes(owners_bytes)
    assert list(zip(values, owners, strict=True)) == expected


def test_it_seals_a_batch_in_the_helper_process_as_in_the_importing_thread(agent_ready: Path) -> None:
    from kartoteka.lib import crypto, keys
    from kartoteka.lib.agent import AgentClient
    from kartoteka.people import bulkseal

    rows: list[bulkseal.Row] = [
        (i, f"Иванов Пётр {name}", aliases, edtf, notes)
        for i, name, aliases, edtf, notes in zip(
            crypto.record_id_ints(3, ascending=True),
            ("Сергеевич", "Олегович", "Ильич"),
            ((), ("Петя Иванов",), ()),
            ("1980", "", "1991-05"),
            ("", "заметка", ""),
            strict=True,
        )
    ]
    agent = AgentClient(settings.AGENT_SOCKET)
    helper = bulkseal.Helper(settings.AGENT_SOCKET)
    try:
        here, (sealed, counts, values) = bulkseal.Sealer(agent).seal(rows), helper.seal(rows)
        assert (counts, values) == here[1:]  # the same blind-index values per row
        assert [tuple(x is None for x in s) for s in sealed] == [tuple(x is None for x in s) for s in here[0]]
        items = [
            keys.SealedRecord(
                bulkseal.RECORD_TABLE,
                str(uuid.UUID(int=rid)),
                s[0],
                {
                    f: c
                    for f, c in zip(("full_name", "aliases", "birth_date", "notes"), s[1:], strict=True)
                    if c
                },
            )
            for (rid, *_), s in zip(rows, sealed, strict=True)
        ]
        opened = agent.open_records(items)
        assert [o["full_name"].decode() for o in opened] == [r[1] for r in rows]
        assert json.loads(opened[1]["aliases"]) == ["Петя Иванов"]
        assert opened[2]["birth_date"] == b"1991-05"
    finally:
        helper.close()
        agent.close()
    assert helper.proc.returncode == 0
