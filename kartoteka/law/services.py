"""Writes for the ledger room: recompute stored ledger lines, and install an organisation's regime files.

Stored lines are derived data. They are recomputed

* after every write that changes a person's facts: people and casework services call
  :func:`ledger_mark_stale` inside their transaction, which enqueues a background recompute once the
  transaction commits (nothing is enqueued for a write that rolls back);
* when a regime file changes: :func:`regime_override_install` enqueues every ledger, and
  ``kartoteka ledger recompute`` enqueues those computed under another set of regime files (``--all``:
  every ledger; run it nightly so pending lines whose day has come are re-judged and new months appear).

Each recompute batch is one transaction with one audit entry ``ledger.recompute`` ``{"count": persons,
"version": <fingerprint of the regime set>}``. Evaluation happens before the transaction opens, so the
write lock is held only for the delete and the inserts.

Regime overrides live in ``DATA_DIR/regimes`` (``*.toml``, same schema as the packaged files): a file
with a packaged regime's id replaces it, any other adds a regime.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any, Final

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.utils import timezone

from kartoteka.accounts import access
from kartoteka.accounts.models import Role, User
from kartoteka.audit.services import entry_append
from kartoteka.casework.models import Promise, Recruitment
from kartoteka.core.fields import new_id
from kartoteka.law.engine import Ledger, evaluate
from kartoteka.law.engine import LedgerLine as EngineLine
from kartoteka.law.facts import FactsBundle, facts_for_persons
from kartoteka.law.models import LedgerLine, RegimeOverride
from kartoteka.law.schema import Regime, RegimeError, RegimeSet
from kartoteka.lib import crypto
from kartoteka.people.models import Person

__all__ = [
    "MAX_REGIME_BYTES",
    "RECOMPUTE_BATCH",
    "Enqueued",
    "LedgerChangeCount",
    "RegimeInstall",
    "RegimePreview",
    "ledger_mark_stale",
    "ledger_recompute",
    "ledger_recompute_enqueue",
    "regime_fingerprint",
    "regime_override_dir",
    "regime_override_install",
    "regime_override_preview",
    "regimes_current",
]

RECOMPUTE_BATCH: Final = 500  # persons per background task and per transaction
MAX_REGIME_BYTES: Final = 256 * 1024
SYSTEM_ACTOR: Final = "system:ledger"
# Who may change the law-as-data and ask for an organisation-wide recompute.
REGIME_MANAGERS: Final = frozenset({Role.ADMIN, Role.COORDINATOR, Role.LAWYER})
_FILENAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,59}\.toml")


# --- the regime set in force ---------------------------------------------------------------------------


def regime_override_dir() -> Path:
    return Path(settings.DATA_DIR) / "regimes"


def _signature(directory: Path) -> tuple[tuple[str, int, int, int], ...]:
    if not directory.is_dir():
        return ()
    found = []
    for path in directory.glob("*.toml"):
        st = path.stat()
        found.append((path.name, st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(sorted(found))


@lru_cache(maxsize=4)
def _regimes_for(directory: str, signature: tuple[tuple[str, int, int, int], ...]) -> RegimeSet:
    if not signature:
        return RegimeSet.default()
    return RegimeSet.load(override_dir=Path(directory))


def regimes_current() -> RegimeSet:
    """The packaged regimes with the organisation's overrides; reloaded when a file there changes."""
    directory = regime_override_dir()
    return _regimes_for(str(directory), _signature(directory))


def regime_fingerprint(regimes: RegimeSet) -> str:
    """A short hash of every file's version: equal sets of regime files give equal fingerprints."""
    text = "\n".join(f"{rid}:{version}" for rid, version in sorted(regimes.versions().items()))
    return crypto.digest(text.encode("utf-8")).hex()[:16]


# --- recomputation ---------------------------------------------------------------------------------------


def _uuids(values: Iterable[uuid.UUID | str]) -> list[uuid.UUID]:
    out = []
    for v in values:
        try:
            out.append(v if isinstance(v, uuid.UUID) else uuid.UUID(str(v)))
        except ValueError:
            raise access.NotFound from None  # a malformed id is just another missing one
    return list(dict.fromkeys(out))


def _chunks[T](items: Sequence[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _actor_id(actor: User | None) -> str:
    return SYSTEM_ACTOR if actor is None else str(actor.id)


_COLUMNS: Final = (
    "id", "person_id", "recruitment_id", "kind", "seq", "status", "due_edtf", "due_start", "due_end",
    "amount_due", "amount_delivered", "amount_missing", "currency", "regime_id", "regime_version", "regime_set",
    "provisions", "confidence", "missing_facts", "legal_question", "promise_id", "computed_at",
)  # fmt: skip


class _LineWriter:
    """Raw inserts of ledger lines with the ORM's column semantics for this connection's vendor.

    A full recompute writes about ten lines per person; building a model instance per line and letting
    bulk_create prepare every value cost several times the evaluation itself (docs/benchmarks-ledger.md).
    Repeated values (provision lists, dates) are adapted once.
    """

    def __init__(self, fingerprint: str) -> None:
        self.db = connection
        ops = self.db.ops
        q = ops.quote_name
        native_uuid = self.db.features.has_native_uuid_field
        self.uid: Callable[[uuid.UUID | None], object] = (
            (lambda u: u) if native_uuid else (lambda u: None if u is None else u.hex)
        )
        self.fingerprint = fingerprint
        self.json_field = LedgerLine._meta.get_field("provisions")
        self.now = ops.adapt_datetimefield_value(timezone.now())
        self.jsons: dict[object, object] = {}
        self.dates: dict[date, object] = {}
        cols = ", ".join(q(c) for c in _COLUMNS)
        marks = ", ".join(["%s"] * len(_COLUMNS))
        table = q(LedgerLine._meta.db_table)
        self.sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"  # noqa: S608 - our own names
        self.copy_sql = f"COPY {table} ({cols}) FROM STDIN"

    def _json(self, key: object, value: object) -> object:
        found = self.jsons.get(key)
        if found is None:
            found = self.jsons[key] = self.json_field.get_db_prep_save(value, self.db)
        return found

    def _date(self, value: date | None) -> object:
        if value is None:
            return None
        found = self.dates.get(value)
        if found is None:
            found = self.dates[value] = self.db.ops.adapt_datefield_value(value)
        return found

    def _amount(self, value: Decimal | None) -> object:
        return None if value is None else self.db.ops.adapt_decimalfield_value(value, 14, 2)

    def row(self, bundle: FactsBundle, line: EngineLine) -> tuple[Any, ...]:
        due = line.due if line.due is not None and line.due.is_known else None
        promise = line.promise_ids[0] if line.promise_ids else None
        provisions = tuple((p.regime_id, p.instrument_id, p.confidence, p.version) for p in line.provisions)
        return (
            self.uid(new_id()), self.uid(bundle.person_id), self.uid(bundle.recruitment_id), line.kind,
            line.sequence, line.status.value, due.to_edtf() if due is not None else "",
            self._date(due.earliest() if due is not None else None),
            self._date(due.latest() if due is not None else None),
            self._amount(line.amount_due), self._amount(line.amount_delivered), self._amount(line.amount_missing),
            bundle.currencies.get(promise, "RUB") if promise else "RUB", line.regime_id or "",
            line.regime_version or "", self.fingerprint,
            self._json(
                provisions,
                [{"regime": r, "instrument": i, "confidence": c, "version": v} for r, i, c, v in provisions],
            ),
            "".join(line.confidence), self._json(("missing", line.missing_facts), list(line.missing_facts)),
            line.legal_question, self.uid(uuid.UUID(promise)) if promise else None, self.now,
        )  # fmt: skip

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        with connection.cursor() as cursor:
            if self.db.vendor == "postgresql":
                # COPY: a third of the time of pipelined INSERTs for a full recompute.
                with cursor.cursor.copy(self.copy_sql) as copy:
                    for item in rows:
                        copy.write_row(item)
                return
            for chunk in _chunks(rows, 2000):
                cursor.executemany(self.sql, chunk)


def _evaluate(
    bundles: Iterable[FactsBundle], regimes: RegimeSet, day: date
) -> Iterator[tuple[FactsBundle, Ledger]]:
    for bundle in bundles:
        yield bundle, evaluate(bundle.facts, as_of=day, regimes=regimes)


def ledger_recompute(
    *, actor: User | None, person_ids: Sequence[uuid.UUID | str], as_of: date | None = None
) -> int:
    """Evaluate the persons' ledgers and replace their stored lines; returns how many persons were done.

    ``actor=None`` is the background worker (audited as ``system:ledger``); a user must be able to read
    every person named, else NotFound (as for a missing id).
    """
    ids = _uuids(person_ids)
    if actor is not None:
        visible = set(access.person_list_for_user(actor).filter(id__in=ids).values_list("id", flat=True))
        if len(visible) != len(ids):
            raise access.NotFound
    regimes = regimes_current()
    fingerprint = regime_fingerprint(regimes)
    day = as_of or timezone.now().date()
    done = 0
    for chunk in _chunks(ids, RECOMPUTE_BATCH):
        writer = _LineWriter(fingerprint)
        bundles = facts_for_persons(chunk)
        evaluated = [
            (bundle, line)
            for bundle, ledger in _evaluate((b for items in bundles.values() for b in items), regimes, day)
            for line in ledger.lines
        ]
        with transaction.atomic():
            # Persons deleted since their facts were read: their lines went with them (CASCADE).
            present = set(Person.objects.filter(id__in=chunk).values_list("id", flat=True))
            LedgerLine.objects.filter(person_id__in=chunk).delete()
            writer.write([writer.row(b, line) for b, line in evaluated if b.person_id in present])
            entry_append(
                actor=_actor_id(actor),
                action="ledger.recompute",
                object_type="batch",
                object_id=str(uuid.uuid4()),
                details={"count": len(present), "version": fingerprint},
            )
        done += len(present)
    return done


def _enqueue(person_ids: Sequence[str]) -> None:
    from kartoteka.law.tasks import ledger_recompute_task

    ledger_recompute_task.enqueue(list(person_ids))


def ledger_mark_stale(person_id: uuid.UUID | str) -> None:
    """This person's facts changed: recompute their ledger in the background once the transaction commits.

    Called explicitly by the services that write facts (no signals: a reader of a service sees it).
    ``robust``: the write has committed by then; a failure to enqueue must not turn it into an error —
    the nightly ``kartoteka ledger recompute --all`` repairs what was missed.
    """
    key = str(person_id)
    transaction.on_commit(lambda: _enqueue([key]), robust=True)


def _judgeable_ids() -> set[uuid.UUID]:
    ids = set(Recruitment.objects.values_list("person_id", flat=True))
    ids.update(Promise.objects.values_list("person_id", flat=True))
    return ids


def _with_lines(*, other_than: str | None = None) -> set[uuid.UUID]:
    qs = LedgerLine.objects.all()
    if other_than is not None:
        qs = qs.exclude(regime_set=other_than)
    return set(qs.values_list("person_id", flat=True).distinct())


@dataclass(frozen=True, slots=True)
class Enqueued:
    persons: int
    tasks: int


def _manager_check(actor: User | None) -> None:
    if actor is not None and not (actor.is_active and actor.role in REGIME_MANAGERS):
        raise PermissionDenied("only an admin, a coordinator or a lawyer may do this")


def ledger_recompute_enqueue(
    *, actor: User | None, everything: bool = False, batch: int = RECOMPUTE_BATCH
) -> Enqueued:
    """Queue background recomputes: ledgers computed under other regime files and persons with facts but
    no ledger yet; with ``everything``, every ledger. Audited as ``ledger.recompute_request``."""
    _manager_check(actor)
    if batch < 1:
        raise ValueError("batch: must be at least 1")
    fingerprint = regime_fingerprint(regimes_current())
    judgeable = _judgeable_ids()
    with_lines = _with_lines()
    stale = _with_lines(other_than=fingerprint) | (judgeable - with_lines)
    ids = judgeable | with_lines if everything else stale
    ordered = sorted(ids)
    from kartoteka.law.tasks import ledger_recompute_task

    tasks = 0
    with transaction.atomic():
        for chunk in _chunks(ordered, batch):
            ledger_recompute_task.enqueue([str(i) for i in chunk])
            tasks += 1
        entry_append(
            actor=_actor_id(actor),
            action="ledger.recompute_request",
            object_type="batch",
            object_id=str(uuid.uuid4()),
            details={"count": len(ordered), "tasks": tasks, "version": fingerprint, "all": everything},
        )
    return Enqueued(len(ordered), tasks)


# --- regime overrides ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerChangeCount:
    person_id: uuid.UUID
    lines_before: int
    lines_after: int
    lines_changed: int


@dataclass(frozen=True, slots=True)
class RegimePreview:
    regime_id: str
    version: str
    persons_changed: int  # over the whole organisation: the install changes every ledger, seen or not
    changes: tuple[LedgerChangeCount, ...]  # the persons among them the actor may see


@dataclass(frozen=True, slots=True)
class RegimeInstall:
    regime_id: str
    version: str
    persons_enqueued: int
    tasks: int


def _filename_check(filename: str) -> str:
    if not isinstance(filename, str) or not _FILENAME.fullmatch(filename):
        # The name is not repeated: an upload's name is whatever the uploader's computer called it.
        raise RegimeError(
            Path("(upload)"),
            "(file name)",
            "must be '<regime id>.toml' in lower-case letters, digits, '-', '_' or '.' (at most 60)",
        )
    return filename


def _candidate(actor: User, filename: str, content: bytes) -> tuple[RegimeSet, Regime]:
    """The regime set as it would be with this file installed, fully validated."""
    _manager_check(actor)
    name = _filename_check(filename)
    if not isinstance(content, bytes) or len(content) > MAX_REGIME_BYTES:
        raise RegimeError(Path(name), "(file)", f"must be at most {MAX_REGIME_BYTES // 1024} KiB of bytes")
    current = regime_override_dir()
    with tempfile.TemporaryDirectory(prefix="kartoteka-regime-") as tmp:
        folder = Path(tmp)
        if current.is_dir():
            for path in current.glob("*.toml"):
                if path.name != name:
                    shutil.copyfile(path, folder / path.name)
        (folder / name).write_bytes(content)
        try:
            regimes = RegimeSet.load(override_dir=folder)
        except RegimeError as error:
            # Name the file as the lawyer knows it, not the temporary copy.
            raise RegimeError(Path(error.file.name), error.field, error.problem) from None
    return regimes, regimes[Path(name).stem]


def _lines_changed(before: Sequence[EngineLine], after: Sequence[EngineLine]) -> int:
    a = Counter(line.substance() for line in before)
    b = Counter(line.substance() for line in after)
    return max(sum((a - b).values()), sum((b - a).values()))


def regime_override_preview(
    *, actor: User, filename: str, content: bytes, as_of: date | None = None
) -> RegimePreview:
    """Which ledgers would read differently if this file were installed (ids and counts only).

    Raises RegimeError naming the file and the field for a malformed file. Costs two evaluations of every
    ledger in the organisation (see docs/benchmarks-ledger.md)."""
    candidate, regime = _candidate(actor, filename, content)
    current = regimes_current()
    day = as_of or timezone.now().date()
    visible = set(access.person_list_for_user(actor).values_list("id", flat=True))
    changes: list[LedgerChangeCount] = []
    total = 0
    for chunk in _chunks(sorted(_judgeable_ids()), RECOMPUTE_BATCH):
        for pid, bundles in facts_for_persons(chunk).items():
            before: list[EngineLine] = []
            after: list[EngineLine] = []
            for bundle in bundles:
                before.extend(evaluate(bundle.facts, as_of=day, regimes=current).lines)
                after.extend(evaluate(bundle.facts, as_of=day, regimes=candidate).lines)
            changed = _lines_changed(before, after)
            if changed:
                total += 1
                if pid in visible:
                    changes.append(LedgerChangeCount(pid, len(before), len(after), changed))
    return RegimePreview(regime.id, regime.version, total, tuple(changes))


def regime_override_install(*, actor: User, filename: str, content: bytes) -> RegimeInstall:
    """Validate and install an organisation's regime file, audit it, and queue every ledger's recompute."""
    _candidate_set, regime = _candidate(actor, filename, content)
    folder = regime_override_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    part = folder / f".{filename}.{uuid.uuid4().hex}.part"
    with open(part, "wb") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        with transaction.atomic():
            row = RegimeOverride.objects.create(
                regime_id=regime.id, version=regime.version, installed_by=actor
            )
            entry_append(
                actor=str(actor.id),
                action="regime.install",
                object_type="regime",
                object_id=str(row.id),
                details={"regime": regime.id, "version": regime.version[:16]},
            )
            # Last inside the transaction: if the rename fails, neither the row nor the entry remain.
            os.replace(part, folder / filename)
    finally:
        part.unlink(missing_ok=True)
    queued = ledger_recompute_enqueue(actor=actor, everything=True)
    return RegimeInstall(regime.id, regime.version, queued.persons, queued.tasks)
