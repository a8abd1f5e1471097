"""Reads for persons, records and status history: views built from the access gates' querysets.

Identity fields (names, aliases, birth dates, notes) are decrypted only for users who may see identities
(``access.sees_identities``); for analysts every such field of a view is None.

Name search (:func:`person_find`) never decrypts the table: the query's terms (``names.search_terms``: full
name parts, or for a surname with initials the composite initials terms) are blind-indexed by the key
agent, their posting lists are intersected in SQL (driven by the rarest term, each further term an index
probe) over records the user may see, and only a bounded number of candidates is decrypted and checked
with ``names.compatible``. Analysts are refused (PermissionDenied): a name search is itself an identity
operation — even a bare list of ids would confirm that a named person is on file.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Exists, Field, Model, OuterRef, QuerySet

from kartoteka.accounts import access
from kartoteka.accounts.models import User
from kartoteka.core import sealing
from kartoteka.core.pages import Page
from kartoteka.lib import names
from kartoteka.lib.partialdate import PartialDate, PartialDateError, parse
from kartoteka.people.models import NameTerm, Person, Record, StatusEntry

RECORD_TABLE = "people.record"
NAME_PURPOSE = "people.record.name"
DECRYPT_CAP = 400  # candidates decrypted per search at most: bounds the cost of a very common name
RAREST_PROBE = 1000  # postings counted per term group to choose the driving one (see _rarest_first)


@dataclass(frozen=True, slots=True)
class PersonHit:
    person_id: uuid.UUID
    full_name: str
    birth_date: str  # EDTF, "" when unknown
    team: str


@dataclass(frozen=True, slots=True)
class RecordView:
    id: uuid.UUID
    person_id: uuid.UUID | None
    team: str
    source_id: uuid.UUID | None
    full_name: str | None
    aliases: tuple[str, ...] | None
    birth_date: str | None
    notes: str | None
    sex: str
    home_region: str | None
    facility_id: uuid.UUID | None
    articles: tuple[str, ...]
    sentence_months: int | None
    origin_file: str
    origin_row: int | None
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class StatusView:
    id: uuid.UUID
    person_id: uuid.UUID
    status: str
    date: str  # EDTF, "" when unknown
    date_start: dt.date | None
    date_end: dt.date | None
    source_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class PersonView:
    id: uuid.UUID
    team: str
    status: str
    sex: str
    home_region: str | None
    created_at: dt.datetime
    full_name: str | None  # from the first record; None for analysts
    records: tuple[RecordView, ...]
    status_history: tuple[StatusView, ...]


@dataclass(frozen=True, slots=True)
class PersonSummary:
    id: uuid.UUID
    team: str
    status: str
    sex: str
    home_region: str | None
    full_name: str | None


type PersonPage = Page[PersonSummary]


# --- decryption ------------------------------------------------------------------------------------------

_SEALED = ("full_name_enc", "aliases_enc", "birth_date_enc", "notes_enc")


def _open(records: Sequence[Record]) -> list[dict[str, str]]:
    return sealing.rows_open(
        RECORD_TABLE,
        [(str(r.id), bytes(r.wrapped_key), {f[:-4]: getattr(r, f) for f in _SEALED}) for r in records],
    )


def _record_view(record: Record, team: str, plain: dict[str, str] | None) -> RecordView:
    def text(name: str) -> str | None:
        return None if plain is None else plain.get(name, "")

    aliases = None if plain is None else tuple(sealing.json_list(plain.get("aliases")))
    return RecordView(
        id=record.id,
        person_id=record.person_id,
        team=team,
        source_id=record.source_id,
        full_name=text("full_name"),
        aliases=aliases,
        birth_date=text("birth_date"),
        notes=text("notes"),
        sex=record.sex,
        home_region=record.home_region_id,
        facility_id=record.facility_id,
        articles=tuple(record.articles),
        sentence_months=record.sentence_months,
        origin_file=record.origin_file,
        origin_row=record.origin_row,
        created_at=record.created_at,
    )


def _record_views(user: User, records: Sequence[Record]) -> list[RecordView]:
    plains: Sequence[dict[str, str] | None]
    plains = _open(records) if access.sees_identities(user) and records else [None] * len(records)
    return [_record_view(r, r.team.name, p) for r, p in zip(records, plains, strict=True)]


def _status_view(entry: StatusEntry) -> StatusView:
    return StatusView(
        id=entry.id,
        person_id=entry.person_id,
        status=entry.status,
        date=entry.date_edtf,
        date_start=entry.date_start,
        date_end=entry.date_end,
        source_id=entry.source_id,
    )


# --- single objects ------------------------------------------------------------------------------------


def record_get(*, user: User, record_id: uuid.UUID | str) -> RecordView:
    record = access.record_get_for_user(user, record_id)
    record = Record.objects.select_related("team").get(pk=record.pk)
    return _record_views(user, [record])[0]


def status_entry_get(*, user: User, entry_id: uuid.UUID | str) -> StatusView:
    return _status_view(access.status_entry_get_for_user(user, entry_id))


def person_get(*, user: User, person_id: uuid.UUID | str) -> PersonView:
    person = access.person_get_for_user(user, person_id)
    records = list(
        access.record_list_for_user(user)
        .filter(person_id=person.id)
        .select_related("team")
        .order_by("created_at", "id")
    )
    views = _record_views(user, records)
    entries = StatusEntry.objects.filter(person_id=person.id).order_by("date_start", "created_at", "id")
    return PersonView(
        id=person.id,
        team=person.team.name,
        status=person.status,
        sex=person.sex,
        home_region=person.home_region_id,
        created_at=person.created_at,
        full_name=views[0].full_name if views else None,
        records=tuple(views),
        status_history=tuple(_status_view(e) for e in entries),
    )


# --- lists ---------------------------------------------------------------------------------------------------


def person_list(
    *,
    user: User,
    region: str | None = None,
    facility: uuid.UUID | str | None = None,
    recruiter: str | None = None,
    status: str | None = None,
    team: uuid.UUID | str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> PersonPage:
    """Persons the user may see, newest first; names of the page's persons decrypted (not for analysts)."""
    page, per_page = max(1, page), max(1, min(per_page, 500))
    qs: QuerySet[Person] = access.person_list_for_user(user)
    if region is not None:
        qs = qs.filter(home_region_id=region)
    if facility is not None:
        qs = qs.filter(Exists(Record.objects.filter(person_id=OuterRef("pk"), facility_id=facility)))
    if recruiter is not None:
        from kartoteka.casework.models import Recruitment

        qs = qs.filter(Exists(Recruitment.objects.filter(person_id=OuterRef("pk"), recruiter=recruiter)))
    if status is not None:
        qs = qs.filter(status=status)
    if team is not None:
        qs = qs.filter(team_id=team)
    total = qs.count()
    persons = list(qs.select_related("team").order_by("-id")[(page - 1) * per_page : page * per_page])
    first_names = _first_names(user, [p.id for p in persons])
    items = tuple(
        PersonSummary(p.id, p.team.name, p.status, p.sex, p.home_region_id, first_names.get(p.id))
        for p in persons
    )
    return Page(items=items, page=page, per_page=per_page, total=total)


def _first_names(user: User, person_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not person_ids or not access.sees_identities(user):
        return {}
    first: dict[uuid.UUID, Record] = {}
    visible = access.record_list_for_user(user).filter(person_id__in=person_ids).order_by("created_at", "id")
    for record in visible.only("id", "person_id", "wrapped_key", "full_name_enc"):
        if record.person_id is not None:
            first.setdefault(record.person_id, record)
    chosen = list(first.values())
    opened = sealing.rows_open(
        RECORD_TABLE, [(str(r.id), bytes(r.wrapped_key), {"full_name": r.full_name_enc}) for r in chosen]
    )
    return {r.person_id: o.get("full_name", "") for r, o in zip(chosen, opened, strict=True) if r.person_id}


# --- search --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    record_id: uuid.UUID
    person_id: uuid.UUID | None
    team: str
    full_name: str
    aliases: tuple[str, ...]
    birth_date: str


@dataclass(frozen=True, slots=True)
class TermIndex:
    """Where a search looks terms up and how it reads candidates: the blind index and the agent in
    production; the search bench plugs in a plaintext shadow to price the encryption."""

    values: Callable[[list[str]], list[object]]
    # Rows (term, record) with the key or an index on (term, record): a term's postings are one range.
    postings: type[Model]
    # The candidates among the given records (already passed through the access gate), opened.
    candidates: Callable[[QuerySet[Record]], list[Candidate]]


def _blind_values(terms: list[str]) -> list[object]:
    return list(sealing.terms_index(NAME_PURPOSE, terms))


def _decrypted(records: QuerySet[Record]) -> list[Candidate]:
    # Tuples, not model instances: a deferred-field model costs more to build than its row costs to read.
    rows = list(
        records.values_list(
            "id", "person_id", "team__name", "wrapped_key", "full_name_enc", "aliases_enc", "birth_date_enc"
        )
    )
    opened = sealing.rows_open(
        RECORD_TABLE,
        [
            (str(rid), bytes(wrapped), {"full_name": name, "aliases": aliases, "birth_date": born})
            for rid, _, _, wrapped, name, aliases, born in rows
        ],
    )
    return [
        Candidate(
            row[0],
            row[1],
            row[2],
            o.get("full_name", ""),
            tuple(sealing.json_list(o.get("aliases"))),
            o.get("birth_date", ""),
        )
        for row, o in zip(rows, opened, strict=True)
    ]


BLIND_INDEX = TermIndex(values=_blind_values, postings=NameTerm, candidates=_decrypted)


def _birth_year(edtf: str) -> int | None:
    if not edtf:
        return None
    try:
        value: PartialDate = parse(edtf)
    except PartialDateError:
        return None
    lo, hi = value.earliest(), value.latest()
    return lo.year if lo is not None and hi is not None and lo.year == hi.year else None


def _matches(query: str, candidate: Candidate, birth_year: int | None) -> bool:
    year = _birth_year(candidate.birth_date)
    return any(
        names.compatible(query, name, query_birth_year=birth_year, candidate_birth_year=year)
        for name in (candidate.full_name, *candidate.aliases)
        if name
    )


def _in(values: Sequence[object]) -> str:
    return ", ".join(["%s"] * len(values))


def _rarest_first(index: TermIndex, values: list[list[object]]) -> list[list[object]]:
    """The groups, the one with the fewest postings (counted up to RAREST_PROBE) first; [] if one has none.

    At a million records most name parts have more than RAREST_PROBE postings, and a tie would let a
    surname of 100,000 records drive. Ids are time-ordered and a single term's postings are read in id
    order, so among tied single-term groups the one whose first RAREST_PROBE postings span the most ids is
    the sparsest, and drives. The order only decides the cost, never the hits."""
    table = connection.ops.quote_name(index.postings._meta.db_table)
    parts, params = [], []
    for i, group in enumerate(values):
        ordered = "ORDER BY record_id " if len(group) == 1 else ""
        parts.append(
            f"SELECT {i}, COUNT(*), MAX(CAST(record_id AS TEXT)) FROM (SELECT record_id FROM {table} "  # noqa: S608
            f"WHERE term IN ({_in(group)}) {ordered}LIMIT {RAREST_PROBE}) p{i}"
        )
        params += group
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)  # type: ignore[arg-type]
        found = {i: (count, last if len(values[i]) == 1 else None) for i, count, last in cursor.fetchall()}
    if any(count == 0 for count, _ in found.values()):
        return []
    spans = sorted(
        {str(last) for count, last in found.values() if last is not None and count >= RAREST_PROBE}
    )

    def rarity(i: int) -> tuple[int, int]:
        count, last = found[i]
        if count < RAREST_PROBE or last is None:
            return (count, 0)
        return (count, -1 - spans.index(str(last)))  # the furthest last id first

    return [values[i] for i in sorted(range(len(values)), key=rarity)]


def _term_ids(
    index: TermIndex, values: list[list[object]], *, after: uuid.UUID | None, size: int
) -> list[uuid.UUID]:
    """Record ids holding one value of every group (the first drives, each further one is a key probe), in
    id order after ``after``, whoever may see them: the caller passes them through the access gate."""
    table = connection.ops.quote_name(index.postings._meta.db_table)
    record_field = index.postings._meta.get_field("record")
    assert isinstance(record_field, Field)
    # Table names are the models' own, every value a placeholder.
    sql = [f"SELECT t0.record_id FROM {table} t0 WHERE t0.term IN ({_in(values[0])})"]  # noqa: S608
    params: list[object] = list(values[0])
    for i, group in enumerate(values[1:], start=1):
        sql.append(
            f"AND EXISTS (SELECT 1 FROM {table} t{i} WHERE t{i}.record_id = t0.record_id "  # noqa: S608
            f"AND t{i}.term IN ({_in(group)}))"
        )
        params += group
    if after is not None:
        sql.append("AND t0.record_id > %s")
        params.append(record_field.get_db_prep_value(after, connection))
    sql.append("ORDER BY t0.record_id LIMIT %s")
    params.append(size)
    with connection.cursor() as cursor:
        cursor.execute(" ".join(sql), params)  # type: ignore[arg-type]
        return [record_field.to_python(r[0]) for r in cursor.fetchall()]


def _visible_ids(
    user: User, index: TermIndex, values: list[list[object]], *, after: uuid.UUID | None, size: int
) -> list[uuid.UUID]:
    """:func:`_term_ids` with the access gate inside the statement: for a user who sees few of the records
    holding the terms, where gating a page after reading it would walk mostly others' records."""
    postings = index.postings.objects  # type: ignore[attr-defined]
    qs = postings.filter(term__in=values[0])
    for group in values[1:]:
        qs = qs.filter(Exists(postings.filter(term__in=group, record_id=OuterRef("record_id"))))
    qs = qs.filter(Exists(access.record_list_for_user(user).filter(pk=OuterRef("record_id"))))
    if after is not None:
        qs = qs.filter(record_id__gt=after)
    return list(qs.order_by("record_id").values_list("record_id", flat=True)[:size])


def person_find_with(
    index: TermIndex, *, user: User, query: str, limit: int = 20, birth_year: int | None = None
) -> list[PersonHit]:
    """:func:`person_find` over a given term index (see :class:`TermIndex`).

    Candidates come a page at a time in record-id order; each page goes through the access gate, and only
    what the gate lets through is opened (at most DECRYPT_CAP records per search) and refined. When a page
    shows the user sees under half of what the terms find, later pages are gated inside the statement.
    """
    if not access.sees_identities(user):
        raise PermissionDenied("name search is not available to analysts")
    groups = names.search_terms(query)
    if not groups or limit < 1:
        return []
    flat = index.values([t for group in groups for t in group])  # one agent round trip for every term
    values, pos = [], 0
    for group in groups:
        values.append(flat[pos : pos + len(group)])
        pos += len(group)
    values = _rarest_first(index, values)
    if not values:
        return []
    hits: list[PersonHit] = []
    seen: set[uuid.UUID] = set()
    opened, after, gated = 0, None, False
    # A little over the limit: most full-name candidates are hits, and a short first page keeps both the
    # walk of the postings and the decryption to about what the answer needs.
    page = limit + max(limit // 4, 5)
    while len(hits) < limit and opened < DECRYPT_CAP:
        size = min(page, DECRYPT_CAP - opened)
        if gated:
            ids = _visible_ids(user, index, values, after=after, size=size)
        else:
            ids = _term_ids(index, values, after=after, size=size)
        if not ids:
            break
        after = ids[-1]
        unique = list(dict.fromkeys(ids))
        candidates = index.candidates(access.record_list_for_user(user).filter(pk__in=unique))
        opened += len(candidates)
        for candidate in sorted(candidates, key=lambda c: c.record_id):
            if candidate.person_id is None or candidate.person_id in seen:
                continue
            if _matches(query, candidate, birth_year):
                seen.add(candidate.person_id)
                hits.append(
                    PersonHit(candidate.person_id, candidate.full_name, candidate.birth_date, candidate.team)
                )
                if len(hits) == limit:
                    break
        if len(ids) < size:
            break
        gated = gated or 2 * len(candidates) < len(unique)
        page *= 2  # few hits per page (initials only refine after decryption): fewer, larger round trips
    return hits


def person_find(*, user: User, query: str, limit: int = 20, birth_year: int | None = None) -> list[PersonHit]:
    """Persons whose records' names (or aliases) match ``query`` in any supported spelling, in record order."""
    return person_find_with(BLIND_INDEX, user=user, query=query, limit=limit, birth_year=birth_year)
