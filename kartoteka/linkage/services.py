"""Writes for linkage: runs, candidate pairs, merges and their undo, clerical review decisions.

Each write runs in its own transaction and appends to the audit chain. A merge moves records (only their
``person`` foreign key) into the oldest of the persons involved; the persons left empty stay, with their
status history and casework, and a :class:`MergeEvent` remembers where every record came from, so
:func:`merge_undo` restores the previous clusters exactly. Records of two teams are never merged (whoever
may see a person sees its records): an accepted cross-team pair becomes a ``link`` event between the two
records, after a coordinator of EACH team accepted it (docs/linkage.md, "Review and merges").
"""

from __future__ import annotations

import math
import numbers
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Case, Q, UUIDField, Value, When
from django.utils import timezone

from kartoteka.accounts import access
from kartoteka.accounts.models import Role, Team, User
from kartoteka.audit.services import entries_append, entry_append
from kartoteka.core import sealing
from kartoteka.core.fields import new_id
from kartoteka.law.tasks import ledger_recompute_task
from kartoteka.lib import audit
from kartoteka.linkage import access as link_access
from kartoteka.linkage.models import (
    CandidatePair,
    Decision,
    Engine,
    EventKind,
    LinkRun,
    MergeEvent,
    PairDecision,
    PairStatus,
    RunKind,
)
from kartoteka.linkage.types import PairScore
from kartoteka.people.models import Person, Record
from kartoteka.people.services import stated_sex_region

DECISION_TABLE = "linkage.pairdecision"
NOTE_MAX = 2000
_GAMMA_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_OPEN = (PairStatus.PENDING, PairStatus.UNSURE)


def _actor_id(actor: User | None) -> str:
    return str(actor.id) if actor is not None else "system"


# --- runs and pairs ----------------------------------------------------------------------------------------


def _thresholds(params: Mapping[str, Any]) -> tuple[float, float]:
    """(review, accept) thresholds from a run's params: 0 ≤ review ≤ accept ≤ 1."""
    try:
        review, accept = float(params["review_threshold"]), float(params["accept_threshold"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError("params: review_threshold and accept_threshold (numbers) are required") from exc
    if not (0.0 <= review <= accept <= 1.0):
        raise ValueError("params: need 0 ≤ review_threshold ≤ accept_threshold ≤ 1")
    return review, accept


def link_run_create(
    *,
    actor: User,
    kind: str,
    engine: str,
    model_version: str,
    params: Mapping[str, Any],
    team: Team | None,
) -> LinkRun:
    """A scoring run for ``team``'s records, or (``team`` None, admins only) for the whole database."""
    if kind not in RunKind.values:
        raise ValueError("kind: must be 'dedupe' or 'list'")
    if engine not in Engine.values:
        raise ValueError("engine: must be 'duckdb' or 'spark'")
    if not model_version or len(model_version) > 120:
        raise ValueError("model_version: required, at most 120 characters")
    _thresholds(params)
    if team is None:
        if not (actor.is_active and actor.role == Role.ADMIN):
            raise PermissionDenied("only an admin may link the whole database")
    elif not access.team_writable(actor, team):
        raise PermissionDenied("you may not link this team's records")
    with transaction.atomic():
        run = LinkRun.objects.create(
            kind=kind, engine=engine, model_version=model_version, params=dict(params), team=team,
            created_by=actor,
        )  # fmt: skip
        entry_append(
            actor=_actor_id(actor),
            action="linkage.run_create",
            object_type="link_run",
            object_id=str(run.id),
            details={"kind": kind, "engine": engine, "model_version": model_version},
        )
    return run


def _chunks[T](items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _gamma_check(gamma: Mapping[str, object]) -> dict[str, int]:
    """Comparison levels only: short code names and small integers, so no value can carry a name.

    Typed loosely on purpose: the values come from an engine's data frame, whatever the annotation says.
    """
    out: dict[str, int] = {}
    for key, level in gamma.items():
        if not isinstance(key, str) or not _GAMMA_KEY.match(key):
            raise ValueError("gamma: keys must be comparison names like 'birth_date'")
        # numbers.Integral: the engine hands over numpy integers.
        if isinstance(level, bool) or not isinstance(level, numbers.Integral) or not -1 <= int(level) <= 20:
            raise ValueError("gamma: levels must be integers from -1 to 20")
        out[key] = int(level)
    return out


def _score_check(value: float, name: str) -> float:
    number = float(value)
    if math.isnan(number):
        raise ValueError(f"{name}: not a number")
    return number


def _settled_pairs(keys: list[tuple[uuid.UUID, uuid.UUID]]) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """Of these record pairs, those already queued or decided by a person in any run."""
    if not keys:
        return set()
    a_ids = {a for a, _ in keys}
    rows = CandidatePair.objects.filter(
        record_a_id__in=a_ids,
        status__in=[PairStatus.PENDING, PairStatus.UNSURE, PairStatus.ACCEPTED, PairStatus.REJECTED],
    ).values_list("record_a_id", "record_b_id")
    wanted = set(keys)
    return {(a, b) for a, b in rows if (a, b) in wanted}


def candidate_pairs_store(*, run: LinkRun, pairs: Iterable[PairScore], batch_size: int = 5000) -> int:
    """Store a run's scored pairs; returns how many were stored.

    Probability ≥ accept_threshold: ``auto`` (merged by :func:`clusters_apply`), between review and
    accept: ``pending`` (the review queue), below: dropped. A pair spanning two teams is never ``auto``:
    it waits for a coordinator of each team. Pending pairs already in one person, or already queued or
    decided by a reviewer in an earlier run, are not queued again. A run for one team accepts only that
    team's records.
    """
    review, accept = _thresholds(run.params)
    stored = 0
    for chunk in _chunks(pairs, batch_size):
        stored += _pairs_chunk_store(run, chunk, review=review, accept=accept)
    with transaction.atomic():
        entry_append(
            actor=_actor_id(run.created_by),
            action="linkage.pairs_store",
            object_type="link_run",
            object_id=str(run.id),
            details={"count": stored},
        )
    return stored


def _pairs_chunk_store(run: LinkRun, chunk: list[PairScore], *, review: float, accept: float) -> int:
    scored: dict[tuple[uuid.UUID, uuid.UUID], PairScore] = {}
    for p in chunk:
        a, b = uuid.UUID(str(p.record_a_id)), uuid.UUID(str(p.record_b_id))
        if a == b:
            raise ValueError("pairs: a record cannot pair with itself")
        key = (a, b) if a < b else (b, a)
        if _score_check(p.match_probability, "match_probability") >= review:
            scored[key] = p
    if not scored:
        return 0
    ids = {i for key in scored for i in key}
    facts = {rid: (team, person) for rid, team, person in Record.objects.filter(pk__in=ids).values_list(
        "id", "team_id", "person_id"
    )}  # fmt: skip
    if len(facts) != len(ids):
        raise ValueError("pairs: unknown record id")
    if run.team_id is not None and any(team != run.team_id for team, _ in facts.values()):
        raise ValueError("pairs: a run for one team may only pair that team's records")
    settled = _settled_pairs(list(scored))
    rows = []
    for (a, b), p in scored.items():
        cross = facts[a][0] != facts[b][0]
        status = PairStatus.AUTO if p.match_probability >= accept and not cross else PairStatus.PENDING
        if status == PairStatus.PENDING:
            same_person = facts[a][1] is not None and facts[a][1] == facts[b][1]
            if same_person or (a, b) in settled:
                continue
        rows.append(
            CandidatePair(
                run=run, record_a_id=a, record_b_id=b, cross_team=cross,
                match_probability=float(p.match_probability),
                match_weight=_score_check(p.match_weight, "match_weight"),
                gamma=_gamma_check(p.gamma), status=status,
            )
        )  # fmt: skip
    with transaction.atomic():
        CandidatePair.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


# --- merges --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Merged:
    event: MergeEvent
    draft: audit.Draft
    involved: frozenset[uuid.UUID] = frozenset()


class _Groups:
    """Union-find over persons and person-less records: groups that share a person become one merge."""

    def __init__(self) -> None:
        self.parent: dict[tuple[str, uuid.UUID], tuple[str, uuid.UUID]] = {}

    def find(self, node: tuple[str, uuid.UUID]) -> tuple[str, uuid.UUID]:
        root = self.parent.setdefault(node, node)
        while root != self.parent[root]:
            root = self.parent[root]
        while node != root:  # path compression
            node, self.parent[node] = self.parent[node], root
        return root

    def union(self, nodes: Sequence[tuple[str, uuid.UUID]]) -> None:
        roots = [self.find(n) for n in nodes]
        for other in roots[1:]:
            self.parent[other] = roots[0]

    def components(self) -> list[list[tuple[str, uuid.UUID]]]:
        out: dict[tuple[str, uuid.UUID], list[tuple[str, uuid.UUID]]] = {}
        for node in list(self.parent):
            out.setdefault(self.find(node), []).append(node)
        return list(out.values())


@dataclass(slots=True)
class _Plan:
    target: uuid.UUID
    team_id: uuid.UUID
    moves: dict[uuid.UUID, uuid.UUID | None]  # record → the person it leaves
    involved: set[uuid.UUID]
    fresh: bool  # the target is a new person (only records without one were grouped)


def _plans(groups: Sequence[Sequence[uuid.UUID]]) -> list[_Plan]:
    """What to move where, with every record and person involved locked (caller holds the transaction)."""
    all_ids = list({r for g in groups for r in g})
    facts = {
        rid: (team, person)
        for rid, team, person in Record.objects.select_for_update()
        .filter(pk__in=all_ids)
        .values_list("id", "team_id", "person_id")
    }
    if len(facts) != len(all_ids):
        raise ValueError("record_ids: unknown record")
    union = _Groups()
    for group in groups:
        # A record joins its group through its person (so groups sharing a person meet), or alone.
        union.union([("r", rid) if facts[rid][1] is None else ("p", facts[rid][1]) for rid in group])
    person_ids = {p for _, p in facts.values() if p is not None}
    persons = {
        pid: (team, created)
        for pid, team, created in Person.objects.select_for_update()
        .filter(pk__in=person_ids)
        .values_list("id", "team_id", "created_at")
    }
    holdings: dict[uuid.UUID, list[uuid.UUID]] = {}
    held = Record.objects.select_for_update().filter(person_id__in=person_ids).values_list("id", "person_id")
    for rid, pid in held:
        holdings.setdefault(pid, []).append(rid)
    plans = []
    for component in union.components():
        members = sorted(n[1] for n in component if n[0] == "p")
        loose = sorted(n[1] for n in component if n[0] == "r")
        if len(members) + len(loose) < 2:
            continue  # already one person
        teams = {persons[p][0] for p in members} | {facts[r][0] for r in loose}
        if len(teams) != 1:
            raise ValueError(
                "record_ids: records of two teams are never merged; a cross-team match is linked"
            )
        target = min(members, key=lambda p: (persons[p][1], p)) if members else new_id()
        moves: dict[uuid.UUID, uuid.UUID | None] = {r: p for p in members if p != target for r in holdings[p]}
        moves.update(dict.fromkeys(loose))
        plans.append(_Plan(target, teams.pop(), moves, set(members) | {target}, fresh=not members))
    return plans


def _merge_batch(
    *,
    actor: User | None,
    groups: Sequence[Sequence[uuid.UUID]],
    run: LinkRun | None = None,
    pair: CandidatePair | None = None,
) -> list[_Merged]:
    """Merge each group's persons (all of their records) into the oldest of them, in a constant number of
    queries for the whole batch. Groups that share a person are merged together. Caller holds the
    transaction and has checked access; a group spanning two teams is refused (ValueError)."""
    plans = _plans(groups)
    if not plans:
        return []
    Person.objects.bulk_create([Person(id=p.target, team_id=p.team_id) for p in plans if p.fresh])
    moved = [r for p in plans for r in p.moves]
    Record.objects.filter(pk__in=moved).update(
        person_id=Case(
            *[When(pk__in=list(p.moves), then=Value(p.target, output_field=UUIDField())) for p in plans],
            output_field=UUIDField(),
        )
    )
    now = timezone.now()
    events = [
        MergeEvent(
            id=new_id(),
            kind=EventKind.MERGE,
            run=run,
            pair=pair,
            records=sorted(str(r) for r in p.moves),
            from_persons={str(r): (str(f) if f else None) for r, f in p.moves.items()},
            to_persons={str(r): str(p.target) for r in p.moves},
            to_person_id=p.target,
            team_id=p.team_id,
            actor=actor,
            at=now,
        )
        for p in plans
    ]
    MergeEvent.objects.bulk_create(events)
    _involved_set(events, [p.involved for p in plans])
    _persons_refresh({i for p in plans for i in p.involved})
    return [
        _Merged(
            event,
            audit.Draft(
                actor=_actor_id(actor),
                action="person.merge",
                object_type="merge_event",
                object_id=str(event.id),
                details={
                    "to_person": str(plan.target),
                    "records": len(plan.moves),
                    "persons": len(plan.involved),
                    "run": str(run.id) if run else None,
                    "pair": str(pair.id) if pair else None,
                },
            ),
            frozenset(plan.involved),
        )
        for event, plan in zip(events, plans, strict=True)
    ]


def _involved_set(events: Sequence[MergeEvent], involved: Sequence[set[uuid.UUID]]) -> None:
    through = MergeEvent.involved.through
    through.objects.bulk_create(
        [
            through(mergeevent_id=event.id, person_id=pid)
            for event, persons in zip(events, involved, strict=True)
            for pid in sorted(persons)
        ]
    )


def _merge_gated(
    *, actor: User, record_ids: Sequence[uuid.UUID], pair: CandidatePair | None = None
) -> _Merged | None:
    """One merge on a person's behalf: every record and person involved must be writable by ``actor``
    (else NotFound, as for a missing one) and of one team."""
    ids = list(dict.fromkeys(uuid.UUID(str(r)) for r in record_ids))
    if len(ids) < 2:
        return None
    records = access.record_list_for_user(actor, write=True).filter(pk__in=ids)
    facts = dict(records.values_list("id", "person_id"))
    if len(facts) != len(ids):
        raise access.NotFound
    person_ids = {p for p in facts.values() if p is not None}
    if access.person_list_for_user(actor, write=True).filter(pk__in=person_ids).count() != len(person_ids):
        raise access.NotFound
    merged = _merge_batch(actor=actor, groups=[ids], pair=pair)
    return merged[0] if merged else None


def _persons_refresh(person_ids: Iterable[uuid.UUID]) -> None:
    """After records moved: each person's sex and home region again (people.services.stated_sex_region;
    status comes from status entries, which never move), and their ledgers recomputed once the
    transaction commits."""
    ids = set(person_ids)
    stated = stated_sex_region(ids)
    changed = []
    for person in Person.objects.filter(pk__in=ids).only("id", "sex", "home_region_id"):
        new_sex, new_region = stated.get(person.id, ("", None))
        if (person.sex, person.home_region_id) != (new_sex, new_region):
            person.sex, person.home_region_id = new_sex, new_region
            changed.append(person)
    Person.objects.bulk_update(changed, ["sex", "home_region"], batch_size=500)
    keys = sorted(str(i) for i in ids)
    if keys:
        # One task for the batch (law.services.ledger_mark_stale enqueues one per person).
        transaction.on_commit(lambda: ledger_recompute_task.enqueue(keys), robust=True)


def person_merge(*, actor: User, record_ids: Sequence[uuid.UUID]) -> MergeEvent | None:
    """Make these records' persons one person (the oldest); None if they already are one.

    Every record and person involved must be writable by ``actor`` (else NotFound) and of one team.
    """
    with transaction.atomic():
        merged = _merge_gated(actor=actor, record_ids=record_ids)
        if merged is None:
            return None
        entries_append(drafts=[merged.draft])
    return merged.event


def clusters_apply(
    *, actor: User, run: LinkRun, clusters: Iterable[Sequence[uuid.UUID]], batch_size: int = 500
) -> MergeEvent | None:
    """Merge each cluster's records into one person, per team: records of two teams are never merged
    (the run stored their pairs for review by both teams instead).

    One event per merged (cluster, team) part, each carrying ``run`` so each can be undone on its own;
    returns the last, or None when nothing changed (``MergeEvent.objects.filter(run=run)`` lists them
    all). Clusters go in batches, each one transaction with one audit batch and a constant number of
    queries.
    """
    if run.team is None:
        if not (actor.is_active and actor.role == Role.ADMIN):
            raise PermissionDenied("only an admin may apply a whole-database run")
    elif not access.team_writable(actor, run.team):
        raise PermissionDenied("you may not merge this team's records")
    last: MergeEvent | None = None
    for batch in _chunks(clusters, batch_size):
        clusters_ids = [list(dict.fromkeys(uuid.UUID(str(r)) for r in cluster)) for cluster in batch]
        teams = dict(
            Record.objects.filter(pk__in={r for ids in clusters_ids for r in ids}).values_list(
                "id", "team_id"
            )
        )
        parts = [part for ids in clusters_ids for part in _by_team(run, ids, teams)]
        with transaction.atomic():
            merged = _merge_batch(actor=actor, groups=parts, run=run)
            if merged:
                entries_append(drafts=[m.draft for m in merged])
                last = merged[-1].event
    return last


def _by_team(
    run: LinkRun, ids: list[uuid.UUID], teams: Mapping[uuid.UUID, uuid.UUID]
) -> list[list[uuid.UUID]]:
    """A cluster's records grouped by team (groups of two or more: a single record merges with nothing)."""
    parts: dict[uuid.UUID, list[uuid.UUID]] = {}
    for rid in ids:
        team = teams.get(rid)
        if team is None:
            raise ValueError("clusters: unknown record id")
        if run.team_id is not None and team != run.team_id:
            raise ValueError("clusters: a run for one team may only merge that team's records")
        parts.setdefault(team, []).append(rid)
    return [p for p in parts.values() if len(p) > 1]


def _link_create(*, actor: User, pair: CandidatePair) -> _Merged:
    """Two teams' records declared one human: nothing moves and no identity crosses; only the pair of
    record ids (and each record's person at the time) is kept."""
    a, b = pair.record_a, pair.record_b
    persons = {str(a.id): str(a.person_id) if a.person_id else None}
    persons[str(b.id)] = str(b.person_id) if b.person_id else None
    event = MergeEvent.objects.create(
        kind=EventKind.LINK, pair=pair, run_id=pair.run_id, records=sorted(persons),
        from_persons=persons, to_persons=persons, team_id=a.team_id, other_team_id=b.team_id,
        actor=actor, at=timezone.now(),
    )  # fmt: skip
    event.involved.set(Person.objects.filter(pk__in=[a.person_id, b.person_id]))
    draft = audit.Draft(
        actor=_actor_id(actor), action="record.link", object_type="merge_event", object_id=str(event.id),
        details={"pair": str(pair.id)},
    )  # fmt: skip
    return _Merged(event, draft)


def merge_undo(*, actor: User, event_id: uuid.UUID | str) -> MergeEvent:
    """Undo a merge (every moved record back to the person it left) or a link; returns the undo event.

    Refused (ValueError) when already undone, or when a later merge moved some of the records again
    (undo that one first). A merge's undo needs write access to its persons; a link's, a coordinator of
    either team.
    """
    found = link_access.merge_event_get_for_user(actor, event_id, write=True)
    with transaction.atomic():
        event = MergeEvent.objects.select_for_update().get(pk=found.pk)
        if event.kind not in (EventKind.MERGE, EventKind.LINK):
            raise ValueError("event: only a merge or a link can be undone")
        if MergeEvent.objects.filter(undoes=event).exists():
            raise ValueError("event: already undone")
        undo = _unmerge(actor, event) if event.kind == EventKind.MERGE else _unlink(actor, event)
        entries_append(drafts=[undo.draft])
    return undo.event


def _unmerge(actor: User, event: MergeEvent) -> _Merged:
    involved = set(event.involved.values_list("id", flat=True))
    if access.person_list_for_user(actor, write=True).filter(pk__in=involved).count() != len(involved):
        raise access.NotFound
    ids = [uuid.UUID(r) for r in event.records]
    current = dict(Record.objects.select_for_update().filter(pk__in=ids).values_list("id", "person_id"))
    for rid, person in current.items():
        if str(person) != event.to_persons[str(rid)]:
            raise ValueError("event: a later merge moved some of these records; undo that one first")
    back: dict[str | None, list[uuid.UUID]] = {}
    for rid in current:  # records shredded since are gone; the rest go back
        back.setdefault(event.from_persons[str(rid)], []).append(rid)
    for person, rids in back.items():
        Record.objects.filter(pk__in=rids).update(person_id=person)
    undo = MergeEvent.objects.create(
        kind=EventKind.UNMERGE, run=event.run, pair=event.pair, undoes=event, records=event.records,
        from_persons=event.to_persons, to_persons=event.from_persons, team_id=event.team_id, actor=actor,
        at=timezone.now(),
    )  # fmt: skip
    undo.involved.set(Person.objects.filter(pk__in=involved))
    _persons_refresh(involved)
    draft = audit.Draft(
        actor=_actor_id(actor), action="person.unmerge", object_type="merge_event", object_id=str(undo.id),
        details={"undoes": str(event.id), "records": len(current)},
    )  # fmt: skip
    return _Merged(undo, draft)


def _unlink(actor: User, event: MergeEvent) -> _Merged:
    undo = MergeEvent.objects.create(
        kind=EventKind.UNLINK, run=event.run, pair=event.pair, undoes=event, records=event.records,
        from_persons=event.to_persons, to_persons=event.from_persons, team_id=event.team_id,
        other_team_id=event.other_team_id, actor=actor, at=timezone.now(),
    )  # fmt: skip
    undo.involved.set(event.involved.all())
    draft = audit.Draft(
        actor=_actor_id(actor), action="record.unlink", object_type="merge_event", object_id=str(undo.id),
        details={"undoes": str(event.id)},
    )  # fmt: skip
    return _Merged(undo, draft)


# --- clerical review ----------------------------------------------------------------------------------------


def _latest_votes(pair: CandidatePair) -> dict[uuid.UUID, str]:
    votes: dict[uuid.UUID, str] = {}
    for team_id, decision in pair.decisions.order_by("at", "id").values_list("team_id", "decision"):
        votes[team_id] = decision
    return votes


def _resolved(pair: CandidatePair, votes: Mapping[uuid.UUID, str]) -> str:
    """A same-team pair takes its reviewer's decision. A cross-team pair is accepted only when both
    teams accepted, rejected as soon as either rejects, otherwise still open."""
    sides = {pair.record_a.team_id, pair.record_b.team_id}
    said = [votes[t] for t in sides if t in votes]
    if Decision.REJECTED in said:
        return PairStatus.REJECTED
    if len(said) == len(sides) and all(d == Decision.ACCEPTED for d in said):
        return PairStatus.ACCEPTED
    if Decision.UNSURE in said:
        return PairStatus.UNSURE
    return PairStatus.PENDING


def _decision_sides(actor: User, pair: CandidatePair) -> list[uuid.UUID]:
    if not pair.cross_team:
        return [pair.record_a.team_id]
    coordinated = set(link_access.coordinated_team_ids(actor))
    return [t for t in (pair.record_a.team_id, pair.record_b.team_id) if t in coordinated]


def review_decide(*, actor: User, pair_id: uuid.UUID | str, decision: str, note: str = "") -> CandidatePair:
    """Record ``actor``'s decision on a pending (or unsure) pair; accepted → merge (same team) or link
    (two teams, once both accepted). The optional note is sealed. Returns the pair, status updated."""
    if decision not in Decision.values:
        raise ValueError("decision: must be accepted, rejected or unsure")
    if len(note) > NOTE_MAX:
        raise ValueError(f"note: at most {NOTE_MAX} characters")
    found = link_access.candidate_pair_get_for_user(actor, pair_id, write=True)
    with transaction.atomic():
        pair = CandidatePair.objects.select_for_update().get(pk=found.pk)
        pair = CandidatePair.objects.select_related("record_a", "record_b").get(pk=pair.pk)
        if pair.status not in _OPEN:
            raise ValueError("pair: already decided")
        now = timezone.now()
        sides = _decision_sides(actor, pair)
        for team_id in sides:
            decision_id = new_id()
            wrapped, fields = (
                sealing.rows_seal(DECISION_TABLE, [(str(decision_id), {"note": note})])[0]
                if note
                else (b"", {})
            )
            PairDecision.objects.create(
                id=decision_id, pair=pair, team_id=team_id, actor=actor, decision=decision,
                wrapped_key=wrapped, note_enc=fields.get("note"), at=now,
            )  # fmt: skip
        pair.status = _resolved(pair, _latest_votes(pair))
        if pair.status not in _OPEN:
            pair.decided_by, pair.decided_at = actor, now
        pair.save(update_fields=["status", "decided_by", "decided_at"])
        drafts = [
            audit.Draft(
                actor=_actor_id(actor),
                action="linkage.review_decide",
                object_type="candidate_pair",
                object_id=str(pair.id),
                details={"decision": decision, "sides": len(sides), "status": pair.status},
            )
        ]
        if pair.status == PairStatus.ACCEPTED:
            merged = (
                _link_create(actor=actor, pair=pair)
                if pair.cross_team
                else _merge_gated(actor=actor, record_ids=[pair.record_a_id, pair.record_b_id], pair=pair)
            )
            if merged is not None:
                drafts.append(merged.draft)
        entries_append(drafts=drafts)
    return pair


def review_labels(*, team: Team | None = None) -> list[tuple[uuid.UUID, uuid.UUID, bool]]:
    """Reviewers' decisions as training labels (record a, record b, same person?), the latest decision
    per record pair; pairs whose merge or link was undone since are left out (the undo says the decision
    was doubted, not which way). ``team``: pairs touching that team's records."""
    qs = CandidatePair.objects.filter(status__in=[PairStatus.ACCEPTED, PairStatus.REJECTED])
    if team is not None:
        qs = qs.filter(Q(record_a__team=team) | Q(record_b__team=team))
    undone = set(
        MergeEvent.objects.filter(undoes__isnull=False, pair__isnull=False).values_list("pair_id", flat=True)
    )
    labels: dict[tuple[uuid.UUID, uuid.UUID], bool] = {}
    rows = qs.order_by("decided_at", "id").values_list("id", "record_a_id", "record_b_id", "status")
    for pair_id, a, b, status in rows:
        if pair_id in undone:
            labels.pop((a, b), None)
            continue
        labels[(a, b)] = status == PairStatus.ACCEPTED
    return [(a, b, same) for (a, b), same in labels.items()]
