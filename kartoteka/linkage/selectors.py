"""Reads for the review queue, the pair page and a person's merge history.

The queue shows no names (scores, teams and dates only): identities are opened on the pair page, and only
the sides the viewer may see (:func:`kartoteka.linkage.access.pair_sides`); the hidden side of a
cross-team pair is never decrypted, and only the comparison levels (which fields agree) are shown of it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.db.models import F, Q

from kartoteka.accounts import access
from kartoteka.accounts.models import User
from kartoteka.core import sealing
from kartoteka.core.pages import Page
from kartoteka.lib import vocab
from kartoteka.linkage import access as link_access
from kartoteka.linkage.models import CandidatePair, EventKind, MergeEvent, PairDecision, PairStatus
from kartoteka.people.models import Record
from kartoteka.registry.models import Facility, Region

RECORD_TABLE = "people.record"
DECISION_TABLE = "linkage.pairdecision"
QUEUES = {
    "open": (PairStatus.PENDING, PairStatus.UNSURE),
    "unsure": (PairStatus.UNSURE,),
    "decided": (PairStatus.ACCEPTED, PairStatus.REJECTED),
}


@dataclass(frozen=True, slots=True)
class PairRow:
    id: uuid.UUID
    probability: float
    weight: float
    status: str
    cross_team: bool
    teams: tuple[str, str]
    created_at: dt.datetime
    awaits_me: bool  # my side has not decided yet (cross-team pairs: my team's coordinator vote)


type QueuePage = Page[PairRow]


@dataclass(frozen=True, slots=True)
class Side:
    """One record as the pair page shows it: None in every identity field when hidden from the viewer."""

    record_id: uuid.UUID
    person_id: uuid.UUID | None
    team: str
    visible: bool
    full_name: str | None = None
    aliases: tuple[str, ...] = ()
    birth_date: str | None = None
    sex: str = ""
    region: str | None = None
    facility: str | None = None
    articles: tuple[str, ...] = ()
    sentence_months: int | None = None
    recruitment_dates: tuple[str, ...] = ()
    source_id: uuid.UUID | None = None
    recorded: dt.date | None = None


@dataclass(frozen=True, slots=True)
class FieldRow:
    key: str  # name, aliases, birth_date, sex, region, facility, articles, sentence, recruited, recorded
    a: str | None  # None: hidden from the viewer
    b: str | None
    differs: bool | None  # None: cannot tell (a side is hidden, or both are empty)


@dataclass(frozen=True, slots=True)
class DecisionView:
    team: str
    actor: str
    decision: str
    note: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class PairPage:
    id: uuid.UUID
    probability: float
    weight: float
    status: str
    cross_team: bool
    gamma: tuple[tuple[str, int], ...]
    a: Side
    b: Side
    rows: tuple[FieldRow, ...]
    decisions: tuple[DecisionView, ...]
    may_decide: bool
    my_side_decided: bool


@dataclass(frozen=True, slots=True)
class EventRow:
    id: uuid.UUID
    kind: str
    at: dt.datetime
    actor: str
    records: int
    to_person_id: uuid.UUID | None
    other_person_ids: tuple[uuid.UUID, ...]  # persons involved that the viewer may open (not for links)
    undone: bool
    undoes_id: uuid.UUID | None
    pair_id: uuid.UUID | None
    may_undo: bool


# --- the queue ----------------------------------------------------------------------------------------------


def review_queue(*, user: User, queue: str = "open", page: int = 1, per_page: int = 50) -> QueuePage:
    """Pairs the user may review, most likely matches first."""
    statuses = QUEUES.get(queue, QUEUES["open"])
    page, per_page = max(1, page), max(1, min(per_page, 200))
    qs = link_access.candidate_pair_list_for_user(user).filter(status__in=statuses)
    total = qs.count()
    rows = list(
        qs.select_related("record_a__team", "record_b__team").order_by("-match_probability", "id")[
            (page - 1) * per_page : page * per_page
        ]
    )
    mine = set(link_access.coordinated_team_ids(user))
    voted = set(
        PairDecision.objects.filter(pair__in=[p.id for p in rows], team__in=mine).values_list(
            "pair_id", "team_id"
        )
    )
    items = []
    for p in rows:
        my_sides = {p.record_a.team_id, p.record_b.team_id} & mine if p.cross_team else set()
        awaits = not p.cross_team or any((p.id, t) not in voted for t in my_sides)
        items.append(
            PairRow(
                p.id, p.match_probability, p.match_weight, p.status, p.cross_team,
                (p.record_a.team.name, p.record_b.team.name), p.created_at, awaits,
            )
        )  # fmt: skip
    return Page(tuple(items), page, per_page, total)


# --- the pair page ----------------------------------------------------------------------------------------------


def _facility_keys(ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    return dict(Facility.objects.filter(pk__in=ids).values_list("id", "key")) if ids else {}


def _recruitment_dates(user: User, person_id: uuid.UUID | None) -> tuple[str, ...]:
    if person_id is None:
        return ()
    rows = (
        access.recruitment_list_for_user(user)
        .filter(person_id=person_id)
        .order_by(F("signed_start").asc(nulls_last=True), "id")
        .values_list("signed_edtf", flat=True)
    )
    return tuple(d for d in rows if d)


def _region_label(code: str | None, lang: str) -> str | None:
    if not code:
        return None
    names = Region.objects.filter(code=code).values_list("name_en" if lang == "en" else "name_ru", flat=True)
    name = names.first()
    return f"{name} ({code})" if name and name != code else code


def _sex_label(code: str, lang: str) -> str:
    words = {"m": "male", "f": "female"}
    return vocab.label("sex", words[code], "en" if lang == "en" else "ru") if code in words else ""


def _sides(user: User, pair: CandidatePair, lang: str) -> tuple[Side, Side]:
    show = link_access.pair_sides(user, pair)
    records = list(Record.objects.filter(pk__in=[pair.record_a_id, pair.record_b_id]).select_related("team"))
    by_id = {r.id: r for r in records}
    shown = [by_id[rid] for rid, v in zip((pair.record_a_id, pair.record_b_id), show, strict=True) if v]
    opened = sealing.rows_open(
        RECORD_TABLE,
        [
            (str(r.id), bytes(r.wrapped_key), {"full_name": r.full_name_enc, "aliases": r.aliases_enc,
                                                "birth_date": r.birth_date_enc})
            for r in shown
        ],
    )  # fmt: skip
    plain = {r.id: o for r, o in zip(shown, opened, strict=True)}
    facilities = _facility_keys({r.facility_id for r in shown if r.facility_id})
    out = []
    for rid in (pair.record_a_id, pair.record_b_id):
        r = by_id[rid]
        o = plain.get(rid)
        if o is None:
            out.append(Side(record_id=r.id, person_id=None, team=r.team.name, visible=False))
            continue
        out.append(
            Side(
                record_id=r.id, person_id=r.person_id, team=r.team.name, visible=True,
                full_name=o.get("full_name", ""), aliases=tuple(sealing.json_list(o.get("aliases"))),
                birth_date=o.get("birth_date", ""), sex=_sex_label(r.sex, lang),
                region=_region_label(r.home_region_id, lang),
                facility=facilities.get(r.facility_id) if r.facility_id else None,
                articles=tuple(r.articles), sentence_months=r.sentence_months,
                recruitment_dates=_recruitment_dates(user, r.person_id), source_id=r.source_id,
                recorded=r.created_at.date(),
            )
        )  # fmt: skip
    return out[0], out[1]


def _text(side: Side, key: str) -> str | None:
    if not side.visible:
        return None
    values: dict[str, str] = {
        "name": side.full_name or "",
        "aliases": ", ".join(side.aliases),
        "birth_date": side.birth_date or "",
        "sex": side.sex,
        "region": side.region or "",
        "facility": side.facility or "",
        "articles": ", ".join(side.articles),
        "sentence": "" if side.sentence_months is None else str(side.sentence_months),
        "recruited": ", ".join(side.recruitment_dates),
        "recorded": side.recorded.isoformat() if side.recorded else "",
    }
    return values[key]


ROW_KEYS = ("name", "aliases", "birth_date", "sex", "region", "facility", "articles", "sentence", "recruited")


def _rows(a: Side, b: Side) -> tuple[FieldRow, ...]:
    rows = []
    for key in (*ROW_KEYS, "recorded"):
        ta, tb = _text(a, key), _text(b, key)
        differs: bool | None = None
        if key != "recorded" and ta is not None and tb is not None and (ta or tb):
            differs = " ".join(ta.casefold().split()) != " ".join(tb.casefold().split())
        rows.append(FieldRow(key, ta, tb, differs))
    return tuple(rows)


def _decisions(user: User, pair: CandidatePair) -> tuple[DecisionView, ...]:
    """Decisions of the sides the viewer may see (a cross-team note may name the other team's person)."""
    show = link_access.pair_sides(user, pair)
    teams = {t for t, v in zip((pair.record_a.team_id, pair.record_b.team_id), show, strict=True) if v}
    rows = list(pair.decisions.filter(team__in=teams).select_related("team", "actor").order_by("at", "id"))
    with_notes = [d for d in rows if d.note_enc is not None]
    opened = sealing.rows_open(
        DECISION_TABLE, [(str(d.id), bytes(d.wrapped_key), {"note": d.note_enc}) for d in with_notes]
    )
    notes = {d.id: o.get("note", "") for d, o in zip(with_notes, opened, strict=True)}
    return tuple(
        DecisionView(d.team.name, d.actor.username if d.actor else "—", d.decision, notes.get(d.id, ""), d.at)
        for d in rows
    )


def pair_page(*, user: User, pair_id: uuid.UUID | str, lang: str = "ru") -> PairPage:
    """The pair as its page shows it; coded values (sex, region) labelled in ``lang``."""
    pair = link_access.candidate_pair_get_for_user(user, pair_id)
    a, b = _sides(user, pair, lang)
    decisions = _decisions(user, pair)
    try:
        link_access.candidate_pair_get_for_user(user, pair.id, write=True)
        may_decide = pair.status in QUEUES["open"]
    except link_access.NotFound:
        may_decide = False
    mine = set(link_access.coordinated_team_ids(user))
    sides = {pair.record_a.team_id, pair.record_b.team_id} & mine if pair.cross_team else set()
    latest = dict(pair.decisions.order_by("at", "id").values_list("team_id", "decision"))
    my_side_decided = bool(sides) and all(t in latest and latest[t] != "unsure" for t in sides)
    return PairPage(
        id=pair.id, probability=pair.match_probability, weight=pair.match_weight, status=pair.status,
        cross_team=pair.cross_team, gamma=tuple(sorted(pair.gamma.items())), a=a, b=b, rows=_rows(a, b),
        decisions=decisions, may_decide=may_decide and not my_side_decided, my_side_decided=my_side_decided,
    )  # fmt: skip


def next_open_pair(*, user: User, after: uuid.UUID) -> uuid.UUID | None:
    """The next pair awaiting this user, for "decide and go to the next"."""
    qs = link_access.candidate_pair_list_for_user(user, write=True).filter(status=PairStatus.PENDING)
    pair_id: uuid.UUID | None = (
        qs.exclude(pk=after).order_by("-match_probability", "id").values_list("id", flat=True).first()
    )
    return pair_id


# --- a person's merge history -------------------------------------------------------------------------------


def merge_history(*, user: User, person_id: uuid.UUID | str) -> list[EventRow]:
    """Merges, links and their undos that involved this person, newest first."""
    person = access.person_get_for_user(user, person_id)
    events = list(
        link_access.merge_event_list_for_user(user)
        .filter(involved=person.id)
        .select_related("actor")
        .prefetch_related("involved")
        .order_by("-at", "-id")
    )
    undone = set(
        MergeEvent.objects.filter(undoes__in=[e.id for e in events]).values_list("undoes_id", flat=True)
    )
    visible = set(
        access.person_list_for_user(user)
        .filter(pk__in={p.id for e in events for p in e.involved.all()})
        .values_list("id", flat=True)
    )
    writable = set(
        link_access.merge_event_list_for_user(user, write=True)
        .filter(pk__in=[e.id for e in events], kind__in=[EventKind.MERGE, EventKind.LINK])
        .values_list("id", flat=True)
    )
    rows = []
    for e in events:
        others: tuple[uuid.UUID, ...] = ()
        if e.kind in (EventKind.MERGE, EventKind.UNMERGE):
            others = tuple(sorted(p.id for p in e.involved.all() if p.id != person.id and p.id in visible))
        rows.append(
            EventRow(
                e.id, e.kind, e.at, e.actor.username if e.actor else "—", len(e.records), e.to_person_id,
                others, e.id in undone, e.undoes_id, e.pair_id, e.id in writable and e.id not in undone,
            )
        )  # fmt: skip
    return rows


def absorbed_into(*, user: User, person_id: uuid.UUID | str) -> uuid.UUID | None:
    """The person this one's records were merged into (latest merge not undone), if the user may see it."""
    person = access.person_get_for_user(user, person_id)
    events = (
        link_access.merge_event_list_for_user(user)
        .filter(kind=EventKind.MERGE, involved=person.id, undone_by__isnull=True)
        .filter(~Q(to_person=person.id))
        .order_by("-at", "-id")
    )
    target: uuid.UUID | None = events.values_list("to_person_id", flat=True).first()
    return target


# --- for counting distinct humans -------------------------------------------------------------------------


def links_active() -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Record pairs of two teams declared one human by both teams' coordinators, not withdrawn.

    For aggregate counts (estimation, reports) that must not count a person twice across teams; ids
    only, for code that already holds the right to count both teams' records (never for display).
    """
    events = MergeEvent.objects.filter(kind=EventKind.LINK, undone_by__isnull=True).values_list(
        "records", flat=True
    )
    return [(uuid.UUID(a), uuid.UUID(b)) for a, b in (sorted(r) for r in events)]
