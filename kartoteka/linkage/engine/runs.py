"""Linkage runs over the database: open records through the key agent, score, store, cluster, merge.

Plaintext exists only in this process's memory: records are opened in batches through the key agent
(one ``open_records`` round trip per batch), reduced to the model's features (:mod:`.features`), and
scored by Splink on an in-memory DuckDB that cannot spill (or a local Spark whose scratch is private,
encrypted and removed: :mod:`.backends`). What is stored goes through kartoteka.linkage.services: the run
(with the trained model's JSON and version in its params: m/u probabilities and SQL, no data values), the
pairs above the review threshold (ids, scores and comparison levels only) and the merges.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import pandas as pd
from django.core.exceptions import PermissionDenied
from django.db.models import Min, QuerySet

from kartoteka.accounts import access
from kartoteka.accounts.models import Role, Team, User
from kartoteka.core import sealing
from kartoteka.linkage.engine import model as linkmodel
from kartoteka.linkage.engine.features import OpenedRecord, prepare_records
from kartoteka.linkage.types import PairScore
from kartoteka.people.models import Record

RECORD_TABLE = "people.record"
OPEN_BATCH = 5000


# --- opening records --------------------------------------------------------------------------------------------


def _recruited(person_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dt.date]:
    from kartoteka.casework.models import Recruitment

    rows = (
        Recruitment.objects.filter(person_id__in=person_ids, signed_start__isnull=False)
        .values("person_id")
        .annotate(first=Min("signed_start"))
    )
    return {r["person_id"]: r["first"] for r in rows}


_COLUMNS = (
    "id", "person_id", "wrapped_key", "full_name_enc", "aliases_enc", "birth_date_enc", "sex",
    "home_region_id", "facility_id",
)  # fmt: skip


def _open_batch(chunk: list[tuple[Any, ...]]) -> list[dict[str, str]]:
    return sealing.rows_open(
        RECORD_TABLE,
        [(str(r[0]), bytes(r[2]), {"full_name": r[3], "aliases": r[4], "birth_date": r[5]}) for r in chunk],
    )


def records_open(
    records: QuerySet[Record], *, batch: int = OPEN_BATCH, timings: dict[str, float] | None = None
) -> Iterator[OpenedRecord]:
    """The records, decrypted batch by batch through the key agent, as :class:`OpenedRecord` (memory only).

    One agent round trip per batch, on a worker thread: while the agent decrypts the next batch (in its
    own process), this thread reads the database and the caller prepares the previous one. The database
    is read on the calling thread only (its connection and transaction). ``timings["decrypt"]`` adds up
    how long the caller waited for the agent."""
    it = records.order_by("id").values_list(*_COLUMNS).iterator(chunk_size=batch)
    waited = 0.0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kartoteka-open") as pool:
        pending: tuple[list[tuple[Any, ...]], Future[list[dict[str, str]]]] | None = None
        while True:
            chunk = list(islice(it, batch))
            ahead = (chunk, pool.submit(_open_batch, chunk)) if chunk else None
            if pending is not None:
                done, future = pending
                t0 = time.perf_counter()
                opened = future.result()
                waited += time.perf_counter() - t0
                yield from _opened(done, opened)
            if ahead is None:
                break
            pending = ahead
    if timings is not None:
        timings["decrypt"] = timings.get("decrypt", 0.0) + waited


def _opened(chunk: list[tuple[Any, ...]], opened: list[dict[str, str]]) -> Iterator[OpenedRecord]:
    recruited = _recruited([r[1] for r in chunk if r[1] is not None])
    for r, plain in zip(chunk, opened, strict=True):
        yield OpenedRecord(
            id=r[0],
            full_name=plain.get("full_name", ""),
            aliases=tuple(sealing.json_list(plain.get("aliases"))),
            birth_date=plain.get("birth_date", ""),
            sex=r[6],
            region=r[7],
            facility=str(r[8]) if r[8] is not None else None,
            recruited=recruited.get(r[1]) if r[1] is not None else None,
        )


def records_in_scope(actor: User, team: Team | None) -> QuerySet[Record]:
    """The records a run may read: one team's (its writers), or all (admins only, ``team`` None)."""
    if not access.sees_identities(actor):
        raise PermissionDenied("linkage reads names: not available to analysts")
    if team is None:
        if not (actor.is_active and actor.role == Role.ADMIN):
            raise PermissionDenied("only an admin may link the whole database")
        return Record.objects.all()
    if not access.team_writable(actor, team):
        raise PermissionDenied("you may not link this team's records")
    return Record.objects.filter(team=team)


def records_frame(records: QuerySet[Record], *, timings: dict[str, float] | None = None) -> pd.DataFrame:
    """Decrypted records streamed straight into the model's frame (no list of opened records is held)."""
    return prepare_records(records_open(records, timings=timings))


# --- scoring on a chosen engine ----------------------------------------------------------------------------------


@contextlib.contextmanager
def backend_for(engine: str) -> Iterator[linkmodel.Backend]:
    if engine == "duckdb":
        yield linkmodel.duckdb_backend()
        return
    if engine != "spark":
        raise ValueError("engine: must be 'duckdb' or 'spark'")
    from kartoteka.linkage.engine.backends import java_available, spark_session

    if not java_available():
        raise RuntimeError("the spark engine needs Java (`java` was not found on PATH)")
    with spark_session() as session:
        yield linkmodel.spark_backend(session)


@dataclass
class RunReport:
    run_id: uuid.UUID | None
    model_version: str
    records: int
    pairs_scored: int
    pairs_stored: int
    auto: int
    review: int
    clusters: list[list[uuid.UUID]] = field(default_factory=list)
    merge_events: int = 0


def _params(model: linkmodel.LinkModel, engine: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "accept_threshold": model.accept_threshold,
        "review_threshold": model.review_threshold,
        "engine": engine,
        "model": model.to_json(),
        **(extra or {}),
    }


def dedupe(
    *,
    actor: User,
    team: Team | None,
    engine: str = "duckdb",
    apply: bool = True,
    labels: Sequence[tuple[uuid.UUID, uuid.UUID, bool]] | None = None,
) -> RunReport:
    """Score every pair of records in scope worth comparing; store candidates; merge the clusters."""
    from kartoteka.linkage import services

    records = records_in_scope(actor, team)
    df = records_frame(records)
    if labels is None:
        labels = services.review_labels(team=team)
    # Training samples pairs (u) and blocks small (EM): the in-memory DuckDB does it on any engine; the
    # chosen engine runs the same model over every blocked pair.
    model = linkmodel.model_train(df, labels=labels) if len(df) > 1 else None
    pairs: list[PairScore] = []
    with backend_for(engine) as backend:
        if model is not None:
            pairs = list(linkmodel.predict(df, None, model, engine=engine, backend=backend))  # type: ignore[arg-type]
    if model is None:
        model = linkmodel.LinkModel(settings=linkmodel.settings_dict("dedupe_only"))
    run = services.link_run_create(
        actor=actor, kind="dedupe", engine=engine, model_version=model.version,
        params=_params(model, engine, {"records": len(df)}), team=team,
    )  # fmt: skip
    stored = services.candidate_pairs_store(run=run, pairs=pairs)
    clusters = linkmodel.cluster(pairs, model.accept_threshold)
    events = 0
    if apply and clusters:
        from kartoteka.linkage.models import MergeEvent

        services.clusters_apply(actor=actor, run=run, clusters=clusters)
        events = MergeEvent.objects.filter(run=run).count()
    auto = sum(1 for p in pairs if p.match_probability >= model.accept_threshold)
    return RunReport(
        run.id, model.version, len(df), len(pairs), stored, auto, len(pairs) - auto, clusters, events
    )


# --- an external list against the database -------------------------------------------------------------------


@dataclass(frozen=True)
class ListMatch:
    row: int  # the list's row number
    record_id: uuid.UUID
    person_id: uuid.UUID | None
    match_probability: float
    status: str  # "auto" (≥ accept) or "review"


def list_records(path: Path, mapping_path: Path | None) -> tuple[list[OpenedRecord], dict[uuid.UUID, int]]:
    """The rows of a CSV/XLSX list as records (ids made up for this run), mapped like an import."""
    from kartoteka.imports import detect, mapping, readers, rows

    table = readers.open_table(path)
    try:
        chosen = (
            mapping.load(mapping_path)
            if mapping_path
            else mapping.from_proposal(detect.propose(table.headers))
        )
        fields = chosen.fields_for(table.headers)
        out: list[OpenedRecord] = []
        row_of: dict[uuid.UUID, int] = {}
        for number, cells in table.rows:
            if cells is None:
                continue
            parts: dict[str, str] = {}
            for name, cell in zip(fields, cells, strict=False):
                if name:
                    text = rows.cell_text(cell)
                    if text:
                        parts[name] = f"{parts[name]} {text}" if name in parts else text
            full = parts.get("full_name") or " ".join(
                p for p in (parts.get(k, "") for k in ("last_name", "first_name", "patronymic")) if p
            )
            if not full:
                continue
            rid = uuid.uuid4()
            row_of[rid] = number
            out.append(
                OpenedRecord(
                    id=rid,
                    full_name=full,
                    aliases=tuple(a.strip() for a in parts.get("alias", "").split(";") if a.strip()),
                    birth_date=parts.get("birth_date", ""),
                    sex=rows.SEX_WORDS.get(parts.get("sex", "").lower(), ""),
                    region=parts.get("region") or None,
                )
            )
        return out, row_of
    finally:
        table.close()


def link_list(
    *, actor: User, team: Team | None, path: Path, mapping_path: Path | None = None, engine: str = "duckdb"
) -> tuple[RunReport, list[ListMatch]]:
    """Link an external list against the records in scope. The list is not stored: matches are returned
    (row number → record, person, probability) and the run is recorded (no pairs: the list's rows are no
    records)."""
    from kartoteka.linkage import services

    records = records_in_scope(actor, team)
    listed, row_of = list_records(path, mapping_path)
    left = prepare_records(listed)
    right = records_frame(records)
    matches: list[ListMatch] = []
    model: linkmodel.LinkModel | None = None
    pairs: list[PairScore] = []
    if len(left) and len(right):
        model = linkmodel.model_train(left, right)
        with backend_for(engine) as backend:
            pairs = list(linkmodel.predict(left, right, model, engine=engine, backend=backend))  # type: ignore[arg-type]
    if model is None:
        model = linkmodel.LinkModel(settings=linkmodel.settings_dict("link_only"))
    persons = dict(
        Record.objects.filter(pk__in=[_db_side(p, row_of) for p in pairs]).values_list("id", "person_id")
    )
    for p in pairs:
        listed_id = p.record_a_id if p.record_a_id in row_of else p.record_b_id
        db_id = _db_side(p, row_of)
        matches.append(
            ListMatch(
                row_of[listed_id], db_id, persons.get(db_id), p.match_probability,
                "auto" if p.match_probability >= model.accept_threshold else "review",
            )
        )  # fmt: skip
    matches.sort(key=lambda m: (m.row, -m.match_probability))
    run = services.link_run_create(
        actor=actor, kind="list", engine=engine, model_version=model.version,
        params=_params(model, engine, {"list_rows": len(listed), "matches": len(matches)}), team=team,
    )  # fmt: skip
    auto = sum(1 for m in matches if m.status == "auto")
    report = RunReport(run.id, model.version, len(right), len(pairs), 0, auto, len(matches) - auto)
    return report, matches


def _db_side(pair: PairScore, row_of: dict[uuid.UUID, int]) -> uuid.UUID:
    return pair.record_b_id if pair.record_a_id in row_of else pair.record_a_id
