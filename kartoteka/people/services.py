"""Writes for persons, their records and status history. Each write audits in its own transaction.

A Record keeps one source's report as given; the Person's coded best view (status, sex, home region) is
recomputed from its records and status history after every write (:func:`_best_view_refresh`).

``person_bulk_create`` is the import path: it writes the same rows as ``person_create`` (a test reads both
back through the ORM and compares), but per batch of rows: one ``seal_records`` and one ``blind_index``
round trip to the key agent (made by :mod:`kartoteka.people.bulkseal`, in a helper process for a large
import), raw ``executemany`` inserts (``COPY`` on PostgreSQL), and ONE audit entry per batch (action
``person.bulk_create``, object type ``batch``, a fresh batch id, ``{"count": n}``) rather than one per
person — a million signed entries would double the import's cost and the chain's size while saying no
more than "this actor imported n persons in this batch"; the records themselves carry ``created_by`` and
``created_at``. Each batch is its own transaction: an interrupted import keeps the batches it finished,
and a re-run skips rows whose (origin_file, origin_row) already exist.
"""

from __future__ import annotations

import json
import uuid
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from itertools import islice
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.utils import timezone

from kartoteka.accounts import access
from kartoteka.accounts.models import Team, User
from kartoteka.audit.services import entry_append
from kartoteka.core import sealing
from kartoteka.core.checkpoints import BackgroundCheckpoints
from kartoteka.core.fields import new_id, partial_date_columns
from kartoteka.law.services import ledger_mark_stale
from kartoteka.lib import crypto, keys, names, vocab
from kartoteka.lib.agent import AgentClient
from kartoteka.lib.partialdate import PartialDate
from kartoteka.people import bulkseal
from kartoteka.people.models import NameTerm, Person, Record, StatusEntry
from kartoteka.registry.models import Region

RECORD_TABLE = "people.record"
NAME_PURPOSE = "people.record.name"
_SEXES = frozenset({"", "m", "f"})


class PersonInput(NamedTuple):
    """One person as a source reported them; immutable. A named tuple rather than a frozen dataclass: a
    bulk import builds one per row, and a frozen dataclass's ``__init__`` (a guarded ``setattr`` per
    field) cost 2.7 µs of a 50 µs per-person budget where a tuple costs 0.7 (docs/benchmarks-people.md)."""

    full_name: str
    aliases: tuple[str, ...] = ()
    birth_date: PartialDate | None = None
    sex: str = ""
    home_region_code: str | None = None
    facility_id: uuid.UUID | None = None
    articles: tuple[str, ...] = ()
    sentence_months: int | None = None
    status: str = "unknown"
    notes: str = ""
    source_id: uuid.UUID | None = None
    origin_file: str = ""
    origin_row: int | None = None


# --- checks ------------------------------------------------------------------------------------------------


@cache
def _status_codes() -> frozenset[str]:
    return frozenset(t.code for t in vocab.terms("person_status"))


def _status_check(status: str) -> None:
    if status not in _status_codes():
        raise ValueError("status: not a code of vocabulary 'person_status'")


def _input_check(data: PersonInput, regions: Callable[[str], bool]) -> None:
    """Raise ValueError naming the field; messages never repeat a value (it may be a misplaced name)."""
    if not data.full_name.strip():
        raise ValueError("full_name: required")
    if data.sex not in _SEXES:
        raise ValueError("sex: must be 'm', 'f' or empty")
    _status_check(data.status)
    if data.home_region_code is not None and not regions(data.home_region_code):
        raise ValueError("home_region_code: no such region")
    if data.sentence_months is not None and data.sentence_months < 0:
        raise ValueError("sentence_months: must not be negative")
    if (data.origin_row is None) != (data.origin_file == ""):
        raise ValueError("origin_file and origin_row: give both or neither")


def _region_exists(code: str) -> bool:
    return Region.objects.filter(code=code).exists()


def _source_check(actor: User, source_id: uuid.UUID | None) -> None:
    if source_id is not None:
        access.source_get_for_user(actor, source_id)  # a source one cannot see cannot be cited


def _team_check(actor: User, team: Team) -> None:
    if not access.team_writable(actor, team):
        raise PermissionDenied("you may not create records for this team")


# --- what a record stores ----------------------------------------------------------------------------------


def _sealed_fields(data: PersonInput) -> dict[str, bytes]:
    """Field name → plaintext bytes, empty values left out (stored as NULL), as core.sealing encodes them."""
    fields = {"full_name": data.full_name.encode("utf-8")}
    if data.aliases:
        fields["aliases"] = json.dumps(list(data.aliases), ensure_ascii=False).encode("utf-8")
    if data.birth_date is not None and data.birth_date.is_known:
        fields["birth_date"] = data.birth_date.to_edtf().encode("utf-8")
    if data.notes:
        fields["notes"] = data.notes.encode("utf-8")
    return fields


def _terms(data: PersonInput) -> list[str]:
    return names.record_terms(data.full_name, data.aliases)


def _record_create(
    *, actor: User, team_id: uuid.UUID, person_id: uuid.UUID, data: PersonInput, agent: AgentClient
) -> Record:
    record_id = new_id()
    sealed = agent.seal_records([keys.PlainRecord(RECORD_TABLE, str(record_id), _sealed_fields(data))])[0]
    record = Record.objects.create(
        id=record_id,
        team_id=team_id,
        person_id=person_id,
        source_id=data.source_id,
        wrapped_key=sealed.wrapped_dek,
        full_name_enc=sealed.fields.get("full_name"),
        aliases_enc=sealed.fields.get("aliases"),
        birth_date_enc=sealed.fields.get("birth_date"),
        notes_enc=sealed.fields.get("notes"),
        sex=data.sex,
        home_region_id=data.home_region_code,
        facility_id=data.facility_id,
        articles=list(data.articles),
        sentence_months=data.sentence_months,
        origin_file=data.origin_file,
        origin_row=data.origin_row,
        created_by=actor,
    )
    terms = _terms(data)
    values = sorted(set(agent.blind_index(NAME_PURPOSE, terms)))
    NameTerm.objects.bulk_create([NameTerm(term=v, record_id=record_id) for v in values])
    return record


def _status_entry_columns(date_value: PartialDate | None) -> dict[str, Any]:
    if date_value is None or not date_value.is_known:
        return {"date_edtf": "", "date_start": None, "date_end": None}
    return partial_date_columns("date", date_value)


def _current_status(entries: list[tuple[str, date | None, datetime]]) -> str:
    """The latest-dated entry, unless an undated one was recorded after every dated one (newest news).

    Entries are (status, date_end, created_at); a backfilled older event never overrides a later one.
    """
    dated = [e for e in entries if e[1] is not None]
    undated = [e for e in entries if e[1] is None]
    last_undated = max(undated, key=lambda e: e[2]) if undated else None
    if dated and (last_undated is None or last_undated[2] < max(e[2] for e in dated)):
        return max(dated, key=lambda e: (e[1], e[2]))[0]
    return last_undated[0] if last_undated is not None else "unknown"


def stated_sex_region(person_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, tuple[str, str | None]]:
    """The best view's sex and home region of each person: each from the newest record that states it, so
    a later record that leaves one blank does not erase what an older one said. Used after every write
    here and by linkage after records move between persons; a person without records is absent."""
    sex: dict[uuid.UUID, str] = {}
    region: dict[uuid.UUID, str] = {}
    rows = (
        Record.objects.filter(person_id__in=list(person_ids))
        .order_by("-created_at", "-id")
        .values_list("person_id", "sex", "home_region_id")
    )
    for pid, record_sex, record_region in rows:
        if record_sex and pid not in sex:
            sex[pid] = record_sex
        if record_region and pid not in region:
            region[pid] = record_region
    return {pid: (sex.get(pid, ""), region.get(pid)) for pid in sex.keys() | region.keys()}


def _best_view_refresh(person: Person) -> None:
    """Status from the status history (:func:`_current_status`); sex and home region as
    :func:`stated_sex_region` has them."""
    status = _current_status(
        list(StatusEntry.objects.filter(person=person).values_list("status", "date_end", "created_at"))
    )
    sex, region = stated_sex_region([person.pk]).get(person.pk, ("", None))
    Person.objects.filter(pk=person.pk).update(status=status, sex=sex, home_region_id=region)
    person.status, person.sex, person.home_region_id = status, sex, region


# --- single writes ----------------------------------------------------------------------------------------


def person_create(*, actor: User, team: Team, data: PersonInput) -> Person:
    """A new person from one source's report: Record + Person + name terms (+ a status entry) + audit."""
    _team_check(actor, team)
    _input_check(data, _region_exists)
    _source_check(actor, data.source_id)
    agent = sealing.client()
    with transaction.atomic():
        person = Person.objects.create(
            id=new_id(), team=team, status=data.status, sex=data.sex, home_region_id=data.home_region_code
        )
        _record_create(actor=actor, team_id=team.id, person_id=person.id, data=data, agent=agent)
        if data.status != "unknown":
            StatusEntry.objects.create(
                person=person, status=data.status, source_id=data.source_id, **_status_entry_columns(None)
            )
        entry_append(
            actor=str(actor.id), action="person.create", object_type="person", object_id=str(person.id)
        )
    return person


def record_add(*, actor: User, person: Person, data: PersonInput) -> Record:
    """Another source's report of the same person; the person's best view follows."""
    person = access.person_get_for_user(actor, person.id, write=True)
    _input_check(data, _region_exists)
    _source_check(actor, data.source_id)
    with transaction.atomic():
        record = _record_create(
            actor=actor, team_id=person.team_id, person_id=person.id, data=data, agent=sealing.client()
        )
        if data.status != "unknown":
            StatusEntry.objects.create(
                person=person, status=data.status, source_id=data.source_id, **_status_entry_columns(None)
            )
        _best_view_refresh(person)
        entry_append(actor=str(actor.id), action="record.add", object_type="record", object_id=str(record.id))
        ledger_mark_stale(person.id)  # articles and status may have changed
    return record


def status_add(
    *, actor: User, person: Person, status: str, date: PartialDate | None, source_id: uuid.UUID | None = None
) -> StatusEntry:
    person = access.person_get_for_user(actor, person.id, write=True)
    _status_check(status)
    _source_check(actor, source_id)
    with transaction.atomic():
        entry = StatusEntry.objects.create(
            person=person, status=status, source_id=source_id, **_status_entry_columns(date)
        )
        _best_view_refresh(person)
        entry_append(
            actor=str(actor.id), action="status.add", object_type="status_entry", object_id=str(entry.id)
        )
        ledger_mark_stale(person.id)
    return entry


# --- the bulk path ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Built:
    """One batch's rows, ready for executemany or COPY."""

    count: int
    persons: list[Sequence[Any]]
    records: list[Sequence[Any]]
    terms: list[Sequence[Any]]
    statuses: list[Sequence[Any]]
    # Record foreign key -> the ids the batch's rows refer to (see _Writer.references_check).
    references: dict[str, set[Any]] = field(default_factory=dict)


@dataclass(slots=True)
class _Pending:
    rows: list[PersonInput]
    record_ids: list[Any]  # as the database takes them
    compact: list[bulkseal.Row]  # what the sealing half needs of each row
    sealed: list[bulkseal.Sealed] = field(default_factory=list)
    values: bytes = b""  # the batch's blind-index values in key order (int64 array)
    owners: bytes = b""  # the row position each value belongs to (int64 array)


def _hex(i: int) -> str:
    return f"{i:032x}"


def _chunks(rows: Iterable[PersonInput], size: int) -> Iterator[list[PersonInput]]:
    """Batches of ``size`` rows, the first ones smaller: FIRST_BATCH rows, then doubling. Batch k+1 is
    sealed while batch k is written, so nothing is written until the first batch is sealed; a small first
    batch keeps that wait short (a first batch of 20,000 left the importer idle ≈ 0.9 s)."""
    it = iter(rows)
    step = min(size, FIRST_BATCH)
    while chunk := list(islice(it, step)):
        yield chunk
        step = min(2 * step, size)


class _Writer:
    """Raw inserts with the ORM's column semantics for this connection's vendor.

    ``check``, ``prepare``, ``build`` and ``write`` run in the caller's thread (``check`` and ``write`` use
    its connection and transaction); ``agent_work`` runs in the worker thread and hands the sealing half
    (:mod:`kartoteka.people.bulkseal`) the batch's compact rows, there or in the helper process.
    """

    def __init__(self, actor: User, team: Team, agent: AgentClient) -> None:
        self.actor = actor
        self.team = team
        self.sealer = bulkseal.Sealer(agent)
        # Set once the import is large enough (person_bulk_create): the sealing half then runs there.
        self.helper: bulkseal.Helper | None = None
        self.db = connections[DEFAULT_DB_ALIAS]  # this thread's wrapper, for its adapters in the worker
        native_uuid = self.db.features.has_native_uuid_field
        self.uid: Callable[[uuid.UUID | None], object] = (
            (lambda u: u) if native_uuid else (lambda u: None if u is None else u.hex)
        )
        # A UUID column takes UUID objects; SQLite's char(32) takes the hex, made without one.
        self.id_of: Callable[[int], object] = (lambda i: uuid.UUID(int=i)) if native_uuid else _hex
        self.articles_field = Record._meta.get_field("articles")
        self.empty_json = self.articles_field.get_db_prep_save([], self.db)
        self.articles_db: dict[tuple[str, ...], object] = {}
        self.regions = set(Region.objects.values_list("code", flat=True))
        self.sources_ok: set[uuid.UUID] = set()
        self.edtf: dict[PartialDate, str] = {}
        # Origins of the batch checked last: it may not be written yet when the next one is checked.
        self.previous_origins: set[tuple[str, int]] = set()
        q = self.db.ops.quote_name
        self.sql_person = self._insert(
            q, Person, ["id", "team_id", "status", "sex", "home_region_id", "created_at"]
        )
        self.sql_record = self._insert(
            q,
            Record,
            [
                "id", "team_id", "person_id", "source_id", "wrapped_key", "full_name_enc", "aliases_enc",
                "birth_date_enc", "notes_enc", "sex", "home_region_id", "facility_id", "articles",
                "sentence_months", "origin_file", "origin_row", "review_flags", "created_at", "created_by_id",
            ],
        )  # fmt: skip
        self.sql_term = self._insert(q, NameTerm, ["term", "record_id"])
        self.sql_status = self._insert(
            q,
            StatusEntry,
            ["id", "person_id", "status", "date_edtf", "date_start", "date_end", "source_id", "created_at"],
        )

    def _insert(self, q: Callable[[str], str], model: Any, columns: list[str]) -> str:
        """The statement one batch of ``model`` rows goes through: COPY on PostgreSQL (psycopg's
        executemany costs a round trip per row there), a prepared INSERT elsewhere."""
        cols = ", ".join(q(c) for c in columns)
        if self.db.vendor == "postgresql":
            return f"COPY {q(model._meta.db_table)} ({cols}) FROM STDIN"
        marks = ", ".join(["%s"] * len(columns))
        return f"INSERT INTO {q(model._meta.db_table)} ({cols}) VALUES ({marks})"  # noqa: S608 - model names

    def _rows_write(self, cursor: Any, sql: str, rows: list[Sequence[Any]]) -> None:
        if not sql.startswith("COPY"):
            cursor.executemany(sql, rows)
            return
        with cursor.cursor.copy(sql) as copy:  # the psycopg 3 cursor under Django's wrapper
            for row in rows:
                copy.write_row(row)

    def _articles(self, articles: tuple[str, ...]) -> object:
        """The column value of a row's articles, cached: the same few codes recur on many rows."""
        value = self.articles_db.get(articles)
        if value is None:
            if len(self.articles_db) > 10_000:
                self.articles_db.clear()
            value = self.articles_db[articles] = self.articles_field.get_db_prep_save(list(articles), self.db)
        return value

    def check(self, rows: list[PersonInput]) -> list[PersonInput]:
        """Validate, check cited sources, drop rows already imported (caller's thread: it reads the DB)."""
        for data in rows:
            _input_check(data, self.regions.__contains__)
            if data.source_id is not None and data.source_id not in self.sources_ok:
                _source_check(self.actor, data.source_id)
                self.sources_ok.add(data.source_id)
        return self._not_yet_imported(rows)

    def _not_yet_imported(self, rows: list[PersonInput]) -> list[PersonInput]:
        by_file: dict[str, set[int]] = {}
        for d in rows:
            if d.origin_file:
                by_file.setdefault(d.origin_file, set()).add(d.origin_row or 0)
        if not by_file:
            self.previous_origins = set()
            return rows
        seen = set(self.previous_origins)
        for file, numbers in by_file.items():
            found = Record.objects.filter(origin_file=file, origin_row__in=numbers).values_list(
                "origin_row", flat=True
            )
            seen.update((file, n or 0) for n in found)
        kept = []
        for d in rows:
            key = (d.origin_file, d.origin_row or 0)
            if not d.origin_file or key not in seen:
                kept.append(d)
                if d.origin_file:
                    seen.add(key)  # a duplicate inside the batch counts once too
        self.previous_origins = {(d.origin_file, d.origin_row or 0) for d in kept if d.origin_file}
        return kept

    def _edtf(self, born: PartialDate | None) -> str:
        """As :func:`_sealed_fields` stores a birth date ("" for none), cached: dates repeat."""
        if born is None or not born.is_known:
            return ""
        text = self.edtf.get(born)
        if text is None:
            if len(self.edtf) > 100_000:
                self.edtf.clear()
            text = self.edtf[born] = born.to_edtf()
        return text

    def _ids(self, count: int) -> tuple[list[int], list[Any]]:
        """A batch's ids, ascending (see :func:`crypto.record_id_ints`), as integers and as the database
        takes them."""
        ints = crypto.record_id_ints(count, ascending=True)
        return ints, [self.id_of(i) for i in ints]

    def prepare(self, rows: list[PersonInput]) -> _Pending:
        """Ids and the compact rows the sealing half reads (caller's thread)."""
        ints, record_ids = self._ids(len(rows))
        edtf = self._edtf
        compact = [
            (i, d.full_name, d.aliases, edtf(d.birth_date), d.notes) for d, i in zip(rows, ints, strict=True)
        ]
        return _Pending(rows, record_ids, compact)

    def agent_work(self, pending: _Pending) -> _Pending:
        """The sealing half (worker thread): in the helper process once there is one, else here (then
        mostly socket waits, GIL released)."""
        if pending.compact:
            sealer = self.helper or self.sealer
            result = sealer.seal(pending.compact)
            pending.sealed, pending.values, pending.owners = result
        return pending

    def build(self, pending: _Pending) -> _Built:
        """The insert tuples (caller's thread). The loop is the import's hottest Python: ids are converted
        once per batch and the row's values are read once."""
        rows = pending.rows
        built = _Built(len(rows), [], [], [], [])
        if not rows:
            return built
        values, owners = array("q"), array("q")
        values.frombytes(pending.values)
        owners.frombytes(pending.owners)
        uid, team_id, actor_id = self.uid, self.uid(self.team.id), self.uid(self.actor.id)
        now = self.db.ops.adapt_datetimefield_value(timezone.now())
        person_ids = self._ids(len(rows))[1]
        built.references = {
            "team": {self.team.id},
            "created_by": {self.actor.id},
            "home_region": {d.home_region_code for d in rows} - {None},
            "facility": {d.facility_id for d in rows} - {None},
            "source": {d.source_id for d in rows} - {None},
        }
        changed = sum(1 for d in rows if d.status != "unknown")
        status_ids = iter(self._ids(changed)[1])
        persons, records, terms, statuses = built.persons, built.records, built.terms, built.statuses
        empty_json, articles = self.empty_json, self._articles
        for data, r, p, (wrapped, name, aliases, born, notes) in zip(
            rows, pending.record_ids, person_ids, pending.sealed, strict=True
        ):
            region, sex, status, source = data.home_region_code, data.sex, data.status, data.source_id
            source_id = None if source is None else uid(source)
            persons.append((p, team_id, status, sex, region, now))
            records.append(
                (
                    r, team_id, p, source_id, wrapped, name, aliases, born, notes, sex, region,
                    None if data.facility_id is None else uid(data.facility_id),
                    articles(data.articles) if data.articles else empty_json, data.sentence_months,
                    data.origin_file, data.origin_row, empty_json, now, actor_id,
                )
            )  # fmt: skip
            if status != "unknown":
                statuses.append((next(status_ids), p, status, "", None, None, source_id, now))
        # In (term, record) key order as the sealing half sorted them: C loops, no Python per term row.
        terms.extend(zip(values, map(pending.record_ids.__getitem__, owners), strict=True))
        return built

    def references_check(self, built: _Built) -> None:
        """What the record's foreign keys check, once per batch inside its write transaction (whose lock keeps
        other writers from deleting a referenced row before the commit): person_bulk_create turns SQLite's
        per-row foreign-key look-ups off. The rows' person and record ids are the batch's own."""
        for name, ids in built.references.items():
            model: Any = Record._meta.get_field(name).related_model
            if ids and model._default_manager.filter(pk__in=ids).count() != len(ids):
                raise IntegrityError(f"{name}: a row refers to a {model._meta.label} that does not exist")

    def write(self, built: _Built) -> int:
        if built.count == 0:
            return 0
        with transaction.atomic(), connection.cursor() as cursor:
            self.references_check(built)
            self._rows_write(cursor, self.sql_person, built.persons)
            self._rows_write(cursor, self.sql_record, built.records)
            self._rows_write(cursor, self.sql_term, built.terms)
            if built.statuses:
                self._rows_write(cursor, self.sql_status, built.statuses)
            entry_append(
                actor=str(self.actor.id),
                action="person.bulk_create",
                object_type="batch",
                object_id=str(uuid.uuid4()),
                details={"count": built.count},
            )
        return built.count


# Rows after which the sealing half moves to a helper process: starting one costs ≈ 0.3 s of the other
# core, which a smaller import would not win back.
HELPER_AFTER_ROWS = 4_000
# Rows of the first batch (see _chunks).
FIRST_BATCH = 2_000
# Rows per batch (one transaction, one audit entry). At a million persons the commit rewrites a page of
# the name-term index per distinct term tail the batch touched, so larger batches share those pages: 20,000
# against 5,000 cut the importing process from ≈ 111 to ≈ 79 µs per person (docs/benchmarks-people.md),
# for ≈ 250 MB peak RSS instead of ≈ 200.
BULK_BATCH = 20_000


def person_bulk_create(
    *,
    actor: User,
    team: Team,
    rows: Iterable[PersonInput],
    batch_size: int = BULK_BATCH,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Create one person (one record) per row; returns how many were created (re-imported rows skipped).

    Batches are pipelined: while the main thread inserts batch k, a worker thread seals batch k+1 — itself
    for a small import, through a helper process on the other core once :data:`HELPER_AFTER_ROWS` rows
    have been read (the importing process then only validates, builds tuples and inserts).
    """
    if batch_size < 1:
        raise ValueError("batch_size: must be at least 1")
    _team_check(actor, team)
    created = read = 0
    agent = AgentClient(settings.AGENT_SOCKET)
    writer = _Writer(actor, team, agent)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kartoteka-seal")
    # SQLite looks up every foreign key of every inserted row (about twelve per person); each batch checks
    # them once instead (_Writer.references_check), as Django's loaddata turns them off too. Inside a
    # caller's transaction the pragma cannot change and the look-ups stay on.
    # The WAL's checkpoints run beside the inserts instead of after each commit (core.checkpoints).
    with connection.constraint_checks_disabled(), BackgroundCheckpoints(writer.db) as checkpoints:
        pending: Future[_Pending] | None = None
        try:
            for chunk in _chunks(rows, batch_size):
                read += len(chunk)
                if writer.helper is None and read > HELPER_AFTER_ROWS:
                    writer.helper = bulkseal.Helper(settings.AGENT_SOCKET)
                future = pool.submit(writer.agent_work, writer.prepare(writer.check(chunk)))
                if pending is not None:
                    created += writer.write(writer.build(pending.result()))
                    checkpoints.committed()
                    if progress is not None:
                        progress(created)
                pending = future
            if pending is not None:
                created += writer.write(writer.build(pending.result()))
                if progress is not None:
                    progress(created)
        finally:
            if pending is not None:
                pending.cancel()
            pool.shutdown(wait=True)
            if writer.helper is not None:
                writer.helper.close()
            agent.close()
    return created
