"""Reads for persons, records and status history: views built from the access gates' querysets.

Identity fields (names, aliases, birth dates, notes) are decrypted only for users who may see identities
(``access.sees_identities``); for analysts every such field of a view is None.

Name search (:func:`person_find`) never decrypts the table: the query's terms (``names.search_terms``: full
name parts, or for a surname with initials the composite initials terms) are blind-indexed by the key
agent, their posting lists are intersected in SQL (driven by the rarest term, each further term an index
probe, or on SQLite the two rarest merged when they are of like density) over records the user may see
(``access.record_ids_readable``, a page of ids at a time), and only a bounded number of candidates is
decrypted and checked with ``names.compatible``. Analysts are refused (PermissionDenied): a name search
is itself an identity operation — even a bare list of ids would confirm that a named person is on file.
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
from kartoteka.accounts.models import Team, User
from kartoteka.core import rawsql, sealing
from kartoteka.core.pages import Page
from kartoteka.lib import names
from kartoteka.lib.partialdate import PartialDate, PartialDateError, parse
from kartoteka.people.models import NameTerm, Person, Record, StatusEntry

RECORD_TABLE = "people.record"
NAME_PURPOSE = "people.record.name"
DECRYPT_CAP = 400  # candidates decrypted per search at most: bounds the cost of a very common name
RAREST_PROBE = 1000  # postings counted per term group to choose the driving one (see _rarest_first)
MERGE_DENSER = 4  # merge, not probe, when the second group is at most this many times denser (_merged_ids)
MERGE_BATCH = 800  # records of a merge probed for the further groups at a time, at most


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
_SEARCHED = ("full_name_enc", "aliases_enc", "birth_date_enc")  # what a name search opens
_SEARCHED_AS = tuple(f[:-4] for f in _SEARCHED)


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
    names = first_names(user, [p.id for p in persons])
    items = tuple(
        PersonSummary(p.id, p.team.name, p.status, p.sex, p.home_region_id, names.get(p.id)) for p in persons
    )
    return Page(items=items, page=page, per_page=per_page, total=total)


def first_names(user: User, person_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The full name of each person's earliest record the user may open (identity-blind roles get none)."""
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
    # The given records (already passed through the access gate), opened.
    candidates: Callable[[list[uuid.UUID]], list[Candidate]]


def _blind_values(terms: list[str]) -> list[object]:
    return list(sealing.terms_index(NAME_PURPOSE, terms))


def _decrypted(ids: list[uuid.UUID]) -> list[Candidate]:
    # Plain SQL and tuples: Django took longer to build this query (and model instances longer to make)
    # than the statement takes to run.
    record_id, _ = rawsql.model_field(Record, "id")
    c = {n: rawsql.column(Record, n) for n in ("id", "person", "team", "wrapped_key", *_SEARCHED)}
    records, teams = rawsql.table(Record), rawsql.table(Team)
    with connection.cursor() as cursor:
        # Table and column names are the models' own, every id a placeholder.
        cursor.execute(
            f"SELECT r.{c['id']}, r.{c['person']}, t.{rawsql.column(Team, 'name')}, r.{c['wrapped_key']}, "  # noqa: S608
            + ", ".join(f"r.{c[f]}" for f in _SEARCHED)
            + f" FROM {records} r JOIN {teams} t ON t.{rawsql.column(Team, 'id')} = r.{c['team']}"
            f" WHERE r.{c['id']} IN ({_in(ids)})",
            [record_id.get_db_prep_value(i, connection) for i in ids],
        )
        rows = cursor.fetchall()
    opened = sealing.rows_open(
        RECORD_TABLE,
        [
            (str(record_id.to_python(rid)), bytes(wrapped), dict(zip(_SEARCHED_AS, sealed, strict=True)))
            for rid, _, _, wrapped, *sealed in rows
        ],
    )
    return [
        Candidate(
            record_id.to_python(row[0]),
            None if row[1] is None else record_id.to_python(row[1]),
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
    return rawsql.placeholders(len(values))


def _id_number(text: str) -> int | None:
    """The time-ordered high 64 bits of a UUIDv7 id as the database casts it to text (hex, dashed or not)."""
    try:
        return int(text.replace("-", "")[:16], 16)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _Plan:
    values: list[list[object]]  # the groups, the driving one first
    merge: bool  # intersect the first two groups by merging their posting lists (see _merged_ids)


def _rarest_first(index: TermIndex, values: list[list[object]]) -> _Plan | None:
    """The groups, the one with the fewest postings (counted up to RAREST_PROBE) first; None if one has none.

    At a million records most name parts have more than RAREST_PROBE postings, and a tie would let a
    surname of 100,000 records drive. Ids are time-ordered and a single term's postings are read in id
    order, so among tied single-term groups the one whose first RAREST_PROBE postings span the most ids is
    the sparsest, and drives; the ratio of two such spans estimates how much denser the second group is,
    which decides between probing and merging (:func:`_term_ids`). The plan only decides the cost, never
    the hits."""
    table = rawsql.table(index.postings)
    parts, params = [], []
    for i, group in enumerate(values):
        ordered = "ORDER BY record_id " if len(group) == 1 else ""
        parts.append(
            f"SELECT {i}, COUNT(*), MIN(CAST(record_id AS TEXT)), MAX(CAST(record_id AS TEXT)) "  # noqa: S608
            f"FROM (SELECT record_id FROM {table} WHERE term IN ({_in(group)}) {ordered}LIMIT {RAREST_PROBE}) p{i}"
        )
        params += group
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)  # type: ignore[arg-type]
        rows = cursor.fetchall()
    if any(count == 0 for _, count, _, _ in rows):
        return None
    span: dict[int, int] = {}
    for i, count, first, last in rows:
        lo, hi = _id_number(str(first)), _id_number(str(last))
        if count >= RAREST_PROBE and len(values[i]) == 1 and lo is not None and hi is not None:
            span[i] = hi - lo
    counts = {i: count for i, count, _, _ in rows}

    def rarity(i: int) -> tuple[int, int]:
        return (counts[i], -span.get(i, 0))  # among tied counts the widest span first

    order = sorted(range(len(values)), key=rarity)
    first, second = order[0], order[1] if len(order) > 1 else None
    merge = (
        connection.vendor == "sqlite"
        and second is not None
        and first in span
        and second in span
        and span[second] * MERGE_DENSER >= span[first]
    )
    return _Plan([values[i] for i in order], merge)


def _term_ids(index: TermIndex, plan: _Plan, *, after: uuid.UUID | None, size: int) -> list[uuid.UUID]:
    """Record ids holding one value of every group (the first drives, each further one is a key probe), in
    id order after ``after``, whoever may see them: the caller passes them through the access gate."""
    table = rawsql.table(index.postings)
    record_field = index.postings._meta.get_field("record")
    assert isinstance(record_field, Field)
    start = None if after is None else record_field.get_db_prep_value(after, connection)
    if plan.merge:
        return [record_field.to_python(r) for r in _merged_ids(table, plan.values, after=start, size=size)]
    values = plan.values
    # Table names are the models' own, every value a placeholder.
    sql = [f"SELECT t0.record_id FROM {table} t0 WHERE t0.term IN ({_in(values[0])})"]  # noqa: S608
    params: list[object] = list(values[0])
    for i, group in enumerate(values[1:], start=1):
        sql.append(
            f"AND EXISTS (SELECT 1 FROM {table} t{i} WHERE t{i}.record_id = t0.record_id "  # noqa: S608
            f"AND t{i}.term IN ({_in(group)}))"
        )
        params += group
    if start is not None:
        sql.append("AND t0.record_id > %s")
        params.append(start)
    sql.append("ORDER BY t0.record_id LIMIT %s")
    params.append(size)
    with connection.cursor() as cursor:
        cursor.execute(" ".join(sql), params)  # type: ignore[arg-type]
        return [record_field.to_python(r[0]) for r in cursor.fetchall()]


def _merged_ids(table: str, values: list[list[object]], *, after: object, size: int) -> list[object]:
    """:func:`_term_ids` for two single-term groups of like density: SQLite merges the two posting lists
    (an ordered ``INTERSECT`` of two key ranges, read in step) at about a tenth of the cost per posting of a
    key probe, so when the second list is less than MERGE_DENSER times as long as the first, reading both
    costs less than probing the second for every posting of the first. Further groups are probed for the
    records the merge yields, a batch at a time. Ids as the database gives them."""
    (first,), (second,) = values[0], values[1]
    found: list[object] = []
    batch_size = 2 * size  # doubled for each batch that leaves the page short
    with connection.cursor() as cursor:
        while True:
            bound, lower = ("", []) if after is None else (" AND record_id > %s", [after])
            cursor.execute(
                f"SELECT record_id FROM {table} WHERE term = %s{bound} INTERSECT "  # noqa: S608
                f"SELECT record_id FROM {table} WHERE term = %s{bound} ORDER BY 1 LIMIT %s",
                [first, *lower, second, *lower, batch_size],  # type: ignore[list-item]
            )
            batch = [r[0] for r in cursor.fetchall()]
            if batch and len(values) > 2:
                # The batch's ids against the third group's key range (a key look-up each), then probes.
                head = f"SELECT DISTINCT t2.record_id FROM {table} t2 WHERE t2.term IN ({_in(values[2])})"  # noqa: S608
                sql = [head, f"AND t2.record_id IN ({_in(batch)})"]
                params: list[object] = [*values[2], *batch]
                for i, group in enumerate(values[3:], start=3):
                    sql.append(
                        f"AND EXISTS (SELECT 1 FROM {table} t{i} WHERE t{i}.record_id = t2.record_id "  # noqa: S608
                        f"AND t{i}.term IN ({_in(group)}))"
                    )
                    params += group
                sql.append("ORDER BY t2.record_id")
                cursor.execute(" ".join(sql), params)  # type: ignore[arg-type]
                found += [r[0] for r in cursor.fetchall()]
            else:
                found += batch
            if len(found) >= size or len(batch) < batch_size:
                return found[:size]
            after, batch_size = batch[-1], min(2 * batch_size, MERGE_BATCH)


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

    Candidates come a page at a time in record-id order; each page goes through the access gate
    (``access.record_ids_readable``: the gate's own answer for those ids), and only what it lets through is
    opened (at most DECRYPT_CAP records per search) and refined. When a page
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
    plan = _rarest_first(index, values)
    if plan is None:
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
            ids = _visible_ids(user, index, plan.values, after=after, size=size)
        else:
            ids = _term_ids(index, plan, after=after, size=size)
        if not ids:
            break
        after = ids[-1]
        unique = list(dict.fromkeys(ids))
        readable = access.record_ids_readable(user, unique)
        candidates = index.candidates([i for i in unique if i in readable]) if readable else []
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
