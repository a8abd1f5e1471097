"""Linkage: persons as clusters (merge, unmerge), candidate pairs, clerical review decisions and labels.

The acceptance line: merge then unmerge leaves the decrypted logical dump of persons and records (every
person with its record ids and coded facts, every record's decrypted fields, coded columns and source)
identical, and the audit chain verifies.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied

from kartoteka.accounts.models import Role, Team
from kartoteka.audit.models import AuditEntry
from kartoteka.audit.services import chain_verify
from kartoteka.casework import services as casework
from kartoteka.core import sealing
from kartoteka.lib.partialdate import parse
from kartoteka.linkage import access as link_access
from kartoteka.linkage import selectors, services
from kartoteka.linkage.models import CandidatePair, EventKind, LinkRun, MergeEvent, PairDecision
from kartoteka.linkage.types import PairScore
from kartoteka.people import services as people
from kartoteka.people.models import Person, Record, StatusEntry
from kartoteka.people.services import PersonInput
from kartoteka.registry.models import Region
from kartoteka.testing.factories import Cast, cast_make, user_make

PARAMS = {"review_threshold": 0.5, "accept_threshold": 0.95}
GAMMA = {"name": 3, "birth_date": 1, "region": 0, "facility": -1}


def _region(code: str) -> Region:
    return Region.objects.get_or_create(
        code=code, defaults={"name_ru": code, "name_en": code, "status": "ru"}
    )[0]


def _person(cast: Cast, name: str, *, team: Team | None = None, **extra: Any) -> Person:
    actor = cast.owner if team is None or team == cast.team else cast.outsider
    return people.person_create(
        actor=actor, team=team or cast.team, data=PersonInput(full_name=name, **extra)
    )


def _record(person: Person) -> Record:
    return Record.objects.filter(person=person).order_by("created_at", "id")[0]


def logical_dump() -> dict[str, Any]:
    """Every person with its record ids and coded facts; every record decrypted, with its source."""
    persons = {
        str(p.id): {
            "team": str(p.team_id),
            "status": p.status,
            "sex": p.sex,
            "home_region": p.home_region_id,
            "records": sorted(str(r) for r in Record.objects.filter(person=p).values_list("id", flat=True)),
            "statuses": sorted(
                (s.status, s.date_edtf, str(s.source_id)) for s in StatusEntry.objects.filter(person=p)
            ),
        }
        for p in Person.objects.all()
    }
    records = list(Record.objects.order_by("id"))
    opened = sealing.rows_open(
        "people.record",
        [
            (
                str(r.id),
                bytes(r.wrapped_key),
                {"full_name": r.full_name_enc, "aliases": r.aliases_enc, "birth_date": r.birth_date_enc,
                 "notes": r.notes_enc},
            )
            for r in records
        ],
    )  # fmt: skip
    dumped = {
        str(r.id): {
            "person": str(r.person_id),
            "team": str(r.team_id),
            "source": str(r.source_id),
            "fields": plain,
            "coded": (r.sex, r.home_region_id, str(r.facility_id), r.articles, r.sentence_months),
            "origin": (r.origin_file, r.origin_row),
        }
        for r, plain in zip(records, opened, strict=True)
    }
    return {"persons": persons, "records": dumped}


def _run(cast: Cast, *, whole: bool = False, actor: Any = None) -> LinkRun:
    """A run for cast.team, or with ``whole`` for the whole database (an admin's)."""
    return services.link_run_create(
        actor=actor or cast.owner, kind="dedupe", engine="duckdb", model_version="test-1", params=PARAMS,
        team=None if whole else cast.team,
    )  # fmt: skip


def _admin(cast: Cast) -> Any:
    return user_make("admin", role=Role.ADMIN, teams=(cast.team, cast.other_team))


# --- merge and unmerge ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_restores_the_exact_dump_and_chain_after_merge_then_unmerge(agent_ready: Path) -> None:
    cast = cast_make()
    source = casework.source_create(actor=cast.owner, team=cast.team, kind="relative")
    other_source = casework.source_create(actor=cast.owner, team=cast.team, kind="media")
    p1 = _person(
        cast, "Иванов Пётр Сергеевич", birth_date=parse("1985-03"), sex="m",
        home_region_code=_region("RU-SVE").code, source_id=source.id, status="in_custody",
    )  # fmt: skip
    people.record_add(
        actor=cast.owner, person=p1,
        data=PersonInput(full_name="Иванов П.С.", aliases=("Petr Ivanov",), source_id=other_source.id),
    )  # fmt: skip
    p2 = _person(
        cast, "Pyotr Ivanov", birth_date=parse("1985-03-14"), home_region_code=_region("RU-PER").code,
        source_id=other_source.id, notes="со слов матери",
    )  # fmt: skip
    p3 = _person(cast, "Petr Iwanow", sex="m")
    bystander = _person(cast, "Сидоров Алексей")
    before = logical_dump()

    event = services.person_merge(
        actor=cast.owner, record_ids=[_record(p2).id, _record(p3).id, _record(p1).id]
    )
    assert event is not None and event.kind == EventKind.MERGE
    merged = logical_dump()
    assert merged != before
    assert len(merged["persons"][str(p1.id)]["records"]) == 4  # the oldest person takes them all
    assert merged["persons"][str(p2.id)]["records"] == [] and merged["persons"][str(p3.id)]["records"] == []
    assert merged["persons"][str(p1.id)]["home_region"] == "RU-PER"  # the newest record that states one
    assert merged["persons"][str(bystander.id)] == before["persons"][str(bystander.id)]
    assert {r["fields"]["full_name"] for r in merged["records"].values()} == {
        r["fields"]["full_name"] for r in before["records"].values()
    }

    undo = services.merge_undo(actor=cast.teammate, event_id=event.id)
    assert undo.kind == EventKind.UNMERGE and undo.undoes_id == event.id
    assert logical_dump() == before
    report = chain_verify()
    assert report.ok, str(report)
    actions = list(AuditEntry.objects.order_by("seq").values_list("action", "object_id"))
    assert ("person.merge", str(event.id)) in actions and ("person.unmerge", str(undo.id)) in actions


@pytest.mark.django_db
def test_it_undoes_merges_one_by_one_and_refuses_to_undo_twice(agent_ready: Path) -> None:
    cast = cast_make()
    p1, p2, p3, p4 = (_person(cast, n) for n in ("Иванов Пётр", "Иванов Петр", "Иванов П.", "Петров Иван"))
    r1, r2, r3, r4 = (_record(p).id for p in (p1, p2, p3, p4))
    first = services.person_merge(actor=cast.owner, record_ids=[r1, r2])
    second = services.person_merge(actor=cast.owner, record_ids=[r4, r2])  # p4 joins p1's cluster
    third = services.person_merge(actor=cast.owner, record_ids=[r3, r1])
    assert first is not None and second is not None and third is not None
    assert {e.to_person_id for e in (first, second, third)} == {p1.id}
    assert services.person_merge(actor=cast.owner, record_ids=[r1, r3]) is None  # already one person
    services.merge_undo(actor=cast.owner, event_id=second.id)  # independent of the third: same target
    with pytest.raises(ValueError, match="already undone"):
        services.merge_undo(actor=cast.owner, event_id=second.id)
    with pytest.raises(ValueError, match="only a merge or a link"):
        services.merge_undo(actor=cast.owner, event_id=second.undone_by.id)
    places = dict(Record.objects.values_list("id", "person_id"))
    assert (places[r1], places[r2], places[r3], places[r4]) == (p1.id, p1.id, p1.id, p4.id)
    services.merge_undo(actor=cast.owner, event_id=first.id)
    services.merge_undo(actor=cast.owner, event_id=third.id)
    places = dict(Record.objects.values_list("id", "person_id"))
    assert (places[r1], places[r2], places[r3], places[r4]) == (p1.id, p2.id, p3.id, p4.id)


@pytest.mark.django_db
def test_it_refuses_an_undo_when_a_later_merge_moved_the_records(agent_ready: Path) -> None:
    cast = cast_make()
    older = _person(cast, "Смирнов Олег")
    a, b = _person(cast, "Смирнов О."), _person(cast, "Smirnov Oleg")
    first = services.person_merge(actor=cast.owner, record_ids=[_record(a).id, _record(b).id])
    assert first is not None and first.to_person_id == a.id
    second = services.person_merge(actor=cast.owner, record_ids=[_record(older).id, _record(a).id])
    assert second is not None and second.to_person_id == older.id
    with pytest.raises(ValueError, match="later merge"):
        services.merge_undo(actor=cast.owner, event_id=first.id)
    services.merge_undo(actor=cast.owner, event_id=second.id)
    services.merge_undo(actor=cast.owner, event_id=first.id)
    assert [Record.objects.filter(person=p).count() for p in (older, a, b)] == [1, 1, 1]


@pytest.mark.django_db
def test_it_lets_only_writers_of_the_team_merge_and_unmerge(agent_ready: Path) -> None:
    cast = cast_make()
    p1, p2 = _person(cast, "Кузнецов Иван"), _person(cast, "Кузнецов И.")
    ids = [_record(p1).id, _record(p2).id]
    for user in (cast.outsider, cast.analyst, cast.lawyer):
        with pytest.raises(link_access.NotFound):
            services.person_merge(actor=user, record_ids=ids)
    event = services.person_merge(actor=cast.teammate, record_ids=ids)
    assert event is not None
    for user in (cast.outsider, cast.analyst, cast.lawyer):
        with pytest.raises(link_access.NotFound):
            services.merge_undo(actor=user, event_id=event.id)
    with pytest.raises(link_access.NotFound):
        services.merge_undo(actor=cast.owner, event_id=uuid.uuid4())
    assert Record.objects.filter(person=p1).count() == 2


@pytest.mark.django_db
def test_it_never_merges_records_of_two_teams(agent_ready: Path) -> None:
    cast = cast_make()
    admin = _admin(cast)
    mine, theirs = _person(cast, "Орлов Сергей"), _person(cast, "Орлов С.", team=cast.other_team)
    with pytest.raises(ValueError, match="two teams"):
        services.person_merge(actor=admin, record_ids=[_record(mine).id, _record(theirs).id])
    run = _run(cast, whole=True, actor=admin)
    assert (
        services.clusters_apply(actor=admin, run=run, clusters=[[_record(mine).id, _record(theirs).id]])
        is None
    )
    assert Record.objects.get(pk=_record(theirs).id).person_id == theirs.id


# --- runs, pairs and clusters -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_stores_pairs_by_threshold_and_applies_clusters_per_team(agent_ready: Path) -> None:
    cast = cast_make()
    admin = _admin(cast)
    a1, a2, a3, a4 = (_person(cast, n) for n in ("Волков Иван", "Волков И.", "Volkov Ivan", "Зайцев Пётр"))
    b1 = _person(cast, "Волков Иван Петрович", team=cast.other_team)
    run = _run(cast, whole=True, actor=admin)
    r = {p: _record(p).id for p in (a1, a2, a3, a4, b1)}
    stored = services.candidate_pairs_store(
        run=run,
        pairs=[
            PairScore(r[a2], r[a1], 0.99, 9.0, GAMMA),  # auto (order is normalised)
            PairScore(r[a1], r[a3], 0.7, 1.2, GAMMA),  # pending
            PairScore(r[a1], r[a4], 0.1, -5.0, GAMMA),  # dropped
            PairScore(r[a1], r[b1], 0.99, 9.0, GAMMA),  # two teams: pending, never auto
        ],
    )
    assert stored == 3
    statuses = {(p.record_a_id, p.record_b_id): (p.status, p.cross_team) for p in CandidatePair.objects.all()}
    assert statuses[tuple(sorted((r[a1], r[a2])))] == ("auto", False)
    assert statuses[tuple(sorted((r[a1], r[a3])))] == ("pending", False)
    assert statuses[tuple(sorted((r[a1], r[b1])))] == ("pending", True)
    last = services.clusters_apply(actor=admin, run=run, clusters=[[r[a1], r[a2], r[b1]], [r[a4]]])
    assert last is not None and last.run_id == run.id
    assert Record.objects.get(pk=r[a2]).person_id == a1.id
    assert Record.objects.get(pk=r[b1]).person_id == b1.id
    assert MergeEvent.objects.filter(run=run).count() == 1
    # The next run does not queue again what is queued already, nor what is already one person.
    again = services.candidate_pairs_store(
        run=_run(cast, whole=True, actor=admin),
        pairs=[PairScore(r[a1], r[a3], 0.8, 2.0, GAMMA), PairScore(r[a1], r[a2], 0.8, 2.0, GAMMA)],
    )
    assert again == 0
    # What an engine's data frame hands over: numpy scalars, ids as text.
    numpy_run = _run(cast, whole=True, actor=admin)
    numpy_pair = PairScore(
        str(r[a4]),
        str(r[a3]),
        np.float64(0.6),
        np.float64(0.4),
        {"name": np.int64(2)},  # type: ignore[arg-type]
    )
    assert services.candidate_pairs_store(run=numpy_run, pairs=[numpy_pair]) == 1
    assert CandidatePair.objects.get(run=numpy_run).gamma == {"name": 2}
    assert chain_verify().ok


@pytest.mark.django_db
def test_it_joins_clusters_that_share_a_person_and_undoes_a_run_exactly(agent_ready: Path) -> None:
    cast = cast_make()
    p1, p2, p3, p4, p5 = (_person(cast, f"Егоров Илья {i}", sex="m") for i in range(5))
    r1, r2, r3, r4, r5 = (_record(p).id for p in (p1, p2, p3, p4, p5))
    Record.objects.filter(pk=r5).update(person=None)  # a record whose person was deleted
    before = logical_dump()
    run = _run(cast)
    last = services.clusters_apply(actor=cast.owner, run=run, clusters=[[r1, r2], [r2, r3], [r4, r5], [r1]])
    assert last is not None
    places = dict(Record.objects.values_list("id", "person_id"))
    assert places[r1] == places[r2] == places[r3] == p1.id and places[r4] == places[r5] == p4.id
    events = list(MergeEvent.objects.filter(run=run).order_by("id"))
    assert len(events) == 2
    assert AuditEntry.objects.filter(action="person.merge").count() == 2
    for event in events:
        services.merge_undo(actor=cast.owner, event_id=event.id)
    assert logical_dump() == before
    assert chain_verify().ok


@pytest.mark.django_db
def test_it_checks_runs_and_pairs(agent_ready: Path) -> None:
    cast = cast_make()
    with pytest.raises(PermissionDenied):
        _run(cast, whole=True)  # only an admin links the whole database
    with pytest.raises(PermissionDenied):
        _run(cast, actor=cast.outsider)
    with pytest.raises(PermissionDenied):
        _run(cast, actor=cast.analyst)
    with pytest.raises(ValueError, match="threshold"):
        services.link_run_create(
            actor=cast.owner, kind="dedupe", engine="duckdb", model_version="m", params={}, team=cast.team
        )
    with pytest.raises(ValueError, match="engine"):
        services.link_run_create(
            actor=cast.owner, kind="dedupe", engine="pandas", model_version="m", params=PARAMS, team=cast.team
        )
    run = _run(cast)
    mine, theirs = _person(cast, "Белов Антон"), _person(cast, "Белов А.", team=cast.other_team)
    with pytest.raises(ValueError, match="that team"):
        services.candidate_pairs_store(
            run=run, pairs=[PairScore(_record(mine).id, _record(theirs).id, 0.9, 3, GAMMA)]
        )
    other = _person(cast, "Белов Антон Ильич")
    for gamma in ({"Иванов": 1}, {"name": "Иванов"}, {"name": 1.5}):
        with pytest.raises(ValueError, match="gamma"):
            services.candidate_pairs_store(
                run=run,
                pairs=[PairScore(_record(mine).id, _record(other).id, 0.9, 3.0, gamma)],  # type: ignore[arg-type]
            )
    with pytest.raises(ValueError, match="unknown record"):
        services.candidate_pairs_store(
            run=run, pairs=[PairScore(_record(mine).id, uuid.uuid4(), 0.9, 3.0, GAMMA)]
        )
    assert CandidatePair.objects.count() == 0


# --- review decisions ----------------------------------------------------------------------------------------


def _pair(cast: Cast, a: Person, b: Person, *, run: LinkRun, p: float = 0.7) -> CandidatePair:
    services.candidate_pairs_store(run=run, pairs=[PairScore(_record(a).id, _record(b).id, p, 1.0, GAMMA)])
    ids = sorted((_record(a).id, _record(b).id))
    return CandidatePair.objects.get(run=run, record_a_id=ids[0], record_b_id=ids[1])


@pytest.mark.django_db
def test_it_merges_on_accept_and_records_every_decision(agent_ready: Path) -> None:
    cast = cast_make()
    run = _run(cast)
    p1, p2, p3 = _person(cast, "Громов Илья"), _person(cast, "Громов И."), _person(cast, "Громова Ирина")
    same, different = _pair(cast, p1, p2, run=run), _pair(cast, p1, p3, run=run)
    services.review_decide(actor=cast.teammate, pair_id=different.id, decision="unsure", note="нужна дата")
    assert CandidatePair.objects.get(pk=different.id).status == "unsure"
    decided = services.review_decide(actor=cast.owner, pair_id=different.id, decision="rejected")
    assert decided.status == "rejected" and decided.decided_by_id == cast.owner.id
    with pytest.raises(ValueError, match="already decided"):
        services.review_decide(actor=cast.owner, pair_id=different.id, decision="accepted")
    with pytest.raises(ValueError, match="decision"):
        services.review_decide(actor=cast.owner, pair_id=same.id, decision="maybe")
    accepted = services.review_decide(actor=cast.owner, pair_id=same.id, decision="accepted")
    assert accepted.status == "accepted"
    assert Record.objects.filter(person=p1).count() == 2
    event = MergeEvent.objects.get(pair=same, kind="merge")
    note = PairDecision.objects.get(pair=different, decision="unsure")
    assert note.note_enc is not None and "нужна".encode() not in bytes(note.note_enc)
    actions = list(AuditEntry.objects.values_list("action", "object_id"))
    assert ("linkage.review_decide", str(same.id)) in actions
    assert ("linkage.review_decide", str(different.id)) in actions
    assert ("person.merge", str(event.id)) in actions
    labels = services.review_labels(team=cast.team)
    assert sorted(labels) == sorted(
        [(same.record_a_id, same.record_b_id, True), (different.record_a_id, different.record_b_id, False)]
    )
    assert services.review_labels(team=cast.other_team) == []
    services.merge_undo(actor=cast.owner, event_id=event.id)
    assert services.review_labels() == [(different.record_a_id, different.record_b_id, False)]
    assert chain_verify().ok


@pytest.mark.django_db
def test_it_gates_same_team_pairs_to_staff_who_see_both_records(agent_ready: Path) -> None:
    cast = cast_make()
    run = _run(cast)
    pair = _pair(cast, _person(cast, "Лебедев Кирилл"), _person(cast, "Лебедев К."), run=run)
    for user in (cast.owner, cast.teammate):
        assert link_access.candidate_pair_get_for_user(user, pair.id).id == pair.id
    for user in (cast.outsider, cast.analyst, cast.lawyer):
        assert not link_access.candidate_pair_list_for_user(user).exists()
        with pytest.raises(link_access.NotFound):
            link_access.candidate_pair_get_for_user(user, pair.id)
        with pytest.raises(link_access.NotFound):
            services.review_decide(actor=user, pair_id=pair.id, decision="accepted")
    with pytest.raises(link_access.NotFound):
        link_access.candidate_pair_get_for_user(cast.owner, uuid.uuid4())
    with pytest.raises(link_access.NotFound):
        link_access.candidate_pair_get_for_user(cast.owner, "not-a-uuid")
    assert CandidatePair.objects.get(pk=pair.id).status == "pending"


@pytest.mark.django_db
def test_it_needs_a_coordinator_of_each_team_for_a_cross_team_pair(agent_ready: Path) -> None:
    cast = cast_make()
    admin = _admin(cast)
    coord_a = user_make("coord_a", role=Role.COORDINATOR, teams=(cast.team,))
    coord_b = user_make("coord_b", role=Role.COORDINATOR, teams=(cast.other_team,))
    mine = _person(cast, "Соколов Дмитрий")
    theirs = _person(cast, "Sokolov Dmitry", team=cast.other_team)
    pair = _pair(cast, mine, theirs, run=_run(cast, whole=True, actor=admin), p=0.99)
    assert pair.cross_team and pair.status == "pending"
    for user in (cast.owner, cast.teammate, cast.outsider, cast.analyst):
        with pytest.raises(link_access.NotFound):
            link_access.candidate_pair_get_for_user(user, pair.id)
    seen_a = link_access.candidate_pair_get_for_user(coord_a, pair.id)
    seen_b = link_access.candidate_pair_get_for_user(coord_b, pair.id)
    mine_is_a = pair.record_a_id == _record(mine).id
    assert link_access.pair_sides(coord_a, seen_a) == (mine_is_a, not mine_is_a)
    assert link_access.pair_sides(coord_b, seen_b) == (not mine_is_a, mine_is_a)
    assert services.review_decide(actor=coord_a, pair_id=pair.id, decision="accepted").status == "pending"
    assert services.review_decide(actor=coord_b, pair_id=pair.id, decision="accepted").status == "accepted"
    link = MergeEvent.objects.get(pair=pair)
    assert link.kind == EventKind.LINK
    # Nothing moved, nothing copied: each record stays with its own team's person.
    assert Record.objects.get(pk=_record(theirs).id).person_id == theirs.id
    assert Record.objects.filter(person=mine).count() == 1
    assert services.review_labels(team=cast.other_team) == [(pair.record_a_id, pair.record_b_id, True)]
    assert selectors.links_active() == [(pair.record_a_id, pair.record_b_id)]
    with pytest.raises(link_access.NotFound):
        services.merge_undo(actor=cast.owner, event_id=link.id)  # a caseworker does not withdraw a link
    unlink = services.merge_undo(actor=coord_b, event_id=link.id)
    assert unlink.kind == EventKind.UNLINK
    assert selectors.links_active() == []
    assert chain_verify().ok


@pytest.mark.django_db
def test_it_rejects_a_cross_team_pair_when_either_coordinator_rejects(agent_ready: Path) -> None:
    cast = cast_make()
    admin = _admin(cast)
    coord_b = user_make("coord_b", role=Role.COORDINATOR, teams=(cast.other_team,))
    pair = _pair(
        cast, _person(cast, "Фролов Гена"), _person(cast, "Фролов Г.", team=cast.other_team),
        run=_run(cast, whole=True, actor=admin),
    )  # fmt: skip
    assert services.review_decide(actor=coord_b, pair_id=pair.id, decision="rejected").status == "rejected"
    assert not MergeEvent.objects.exists()
    decision = PairDecision.objects.get(pair=pair)
    assert decision.team_id == cast.other_team.id and decision.actor_id == coord_b.id
