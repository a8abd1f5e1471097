"""The public side of the intake: seal a report on arrival, let a reporter return with their codename, and
exchange sealed blobs with the casework side. Nothing here holds or needs a private key.

The global rate cap (intake.limits.take) is the caller's first step, before the request body is parsed, so
a flood is refused for the price of a header; the disk quota is checked here, before the commit.

What is stored per submission: a random id, the day, the sealed envelope (every field, and each file's
display name, type, size and SHA-256), the sealed files, the size in bytes (for the quota) and a status.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from kartoteka.intake import codenames, conf, limits
from kartoteka.intake.models import Kind, Recipient, Reply, Reporter, Submission, SubmissionFile
from kartoteka.lib import crypto, filetypes, intakekeys, keys

ENVELOPE_FORMAT = 1
FIELDS = (
    "relationship",
    "person_name",
    "birth_year",
    "facility",
    "categories",
    "what_text",
    "when",
    "promised",
    "became",
    "contact",
)


class Refused(Exception):
    """The submission was not stored; ``reason`` is one of busy, full, closed, too_large, empty."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CodenameUnknown(Exception):
    """No reporter has this codename (or it was mistyped): one answer for both."""


@dataclass(frozen=True)
class Upload:
    content: bytes
    original_name: str
    sha256: str


@dataclass(frozen=True)
class Receipt:
    submission_id: uuid.UUID
    codename: str


@dataclass(frozen=True)
class ReplyView:
    day: dt.date
    text: str


@dataclass(frozen=True)
class ReporterView:
    reporter_id: uuid.UUID
    replies: list[ReplyView]


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


# --- recipients --------------------------------------------------------------------------------------


def recovery_recipient() -> str | None:
    """The organisation's recovery recipient (public): from settings, a synced row, or the key directory's
    slots file (its public part) when this process runs beside the casework side."""
    configured = conf.text("KARTOTEKA_INTAKE_RECOVERY_RECIPIENT")
    if configured:
        return crypto.recipient_check(configured)
    row = Recipient.objects.filter(kind="recovery", active=True).values_list("recipient", flat=True).first()
    if row:
        return str(row)
    try:
        slots = keys.slots_list(Path(settings.KEYS_DIR))
    except (keys.KeysError, OSError):
        return None
    return next((s.detail for s in slots if s.kind == "recovery"), None)


def recipients_current() -> list[str]:
    """Every active triage recipient and the recovery recipient: what new submissions are sealed to."""
    found = list(Recipient.objects.filter(active=True, kind="triage").values_list("recipient", flat=True))
    recovery = recovery_recipient()
    if recovery and recovery not in found:
        found.append(recovery)
    return found


# --- storing -----------------------------------------------------------------------------------------


def _day_timestamp(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


def _database_files() -> list[Path]:
    if connection.vendor != "sqlite":
        return []
    name = Path(str(connection.settings_dict["NAME"]))
    return [name, name.with_name(name.name + "-wal"), name.with_name(name.name + "-shm")]


def _files_to_day(day: dt.date) -> None:
    """Modification times of the database files say the day, not the second, of the last submission.
    (PostgreSQL's files are the server's: its host must not be trusted with time either way.)"""
    stamp = _day_timestamp(day)
    for path in _database_files():
        try:
            os.utime(path, (stamp, stamp))
        except OSError:
            continue


def _durable() -> None:
    # SQLite runs with synchronous=NORMAL for speed; a receipt must survive a power cut, so this connection
    # syncs the WAL at each commit. PostgreSQL commits durably by default.
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous=FULL")


def _file_meta(file_id: uuid.UUID, upload: Upload, ftype: str) -> dict[str, Any]:
    return {
        "id": str(file_id),
        "name": filetypes.safe_display_name(upload.original_name),
        "type": ftype,
        "size": len(upload.content),
        "sha256": upload.sha256,
    }


def _clean_fields(fields: Mapping[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in FIELDS:
        value = fields.get(name)
        if isinstance(value, list | tuple):
            out[name] = [str(v) for v in value]
        else:
            out[name] = "" if value is None else str(value)
    return out


def _has_content(fields: Mapping[str, object], uploads: Sequence[Upload]) -> bool:
    return bool(uploads) or any(v for k, v in fields.items() if k != "relationship")


def _store(
    *,
    reporter: Reporter,
    new_reporter: bool,
    kind: str,
    fields: Mapping[str, object],
    uploads: Sequence[Upload],
    types: Sequence[str],
    lang: str,
) -> Submission:
    recipients = recipients_current()
    if not recipients:
        raise Refused("closed")
    day = today()
    file_ids = [uuid.uuid4() for _ in uploads]
    metas = [_file_meta(f, u, t) for f, u, t in zip(file_ids, uploads, types, strict=True)]
    envelope = {
        "format": ENVELOPE_FORMAT,
        "kind": kind,
        "lang": lang,
        "reporter": str(reporter.id),
        "fields": _clean_fields(fields),
        "files": metas,
    }
    sealed = crypto.seal(json.dumps(envelope, ensure_ascii=False).encode("utf-8"), recipients)
    sealed_files = [crypto.seal(u.content, recipients) for u in uploads]
    size = len(sealed) + sum(len(s) for s in sealed_files)
    if not limits.quota_left(size):
        raise Refused("full")
    _durable()
    with transaction.atomic():
        if new_reporter:
            reporter.save(force_insert=True)
        submission = Submission.objects.create(
            id=uuid.uuid4(), reporter=reporter, kind=kind, received_day=day, sealed=sealed, size=size
        )
        SubmissionFile.objects.bulk_create(
            SubmissionFile(id=fid, submission=submission, sealed=blob)
            for fid, blob in zip(file_ids, sealed_files, strict=True)
        )
    _files_to_day(day)
    return submission


def uploads_check(uploads: Sequence[Upload]) -> list[str]:
    """The accepted type of each upload by its first bytes, or :class:`filetypes.FileTypeRefused`."""
    return [filetypes.detect(io.BytesIO(u.content), allowed=filetypes.INTAKE_ALLOWED).name for u in uploads]


def report_submit(*, fields: Mapping[str, object], uploads: Sequence[Upload], lang: str) -> Receipt:
    """Seal and durably store a new report; returns the codename to show once. Raises :class:`Refused`."""
    if not _has_content(fields, uploads):
        raise Refused("empty")
    types = uploads_check(uploads)
    codename = codenames.codename_new(lang if lang in codenames.LANGS else "ru")
    ck = intakekeys.codename_keys(codename)
    reply_identity = crypto.identity_new()
    reporter = Reporter(
        id=uuid.uuid4(),
        tag=ck.tag,
        reply_recipient=reply_identity.recipient,
        created_day=today(),
    )
    reporter.reply_secret_wrapped = intakekeys.reply_secret_wrap(
        ck.reply_key, str(reporter.id), reply_identity.secret
    )
    submission = _store(
        reporter=reporter,
        new_reporter=True,
        kind=Kind.REPORT,
        fields=fields,
        uploads=uploads,
        types=types,
        lang=lang,
    )
    return Receipt(submission_id=submission.id, codename=codename)


def _reporter_for(codename: str) -> tuple[Reporter, intakekeys.CodenameKeys]:
    try:
        ck = intakekeys.codename_keys(codename)
    except crypto.CryptoError:
        raise CodenameUnknown from None
    reporter = Reporter.objects.filter(tag=ck.tag).first()
    if reporter is None:
        raise CodenameUnknown
    return reporter, ck


def followup_submit(
    *, codename: str, fields: Mapping[str, object], uploads: Sequence[Upload], lang: str
) -> uuid.UUID:
    """Add information to an earlier report, under the same codename. Raises CodenameUnknown, Refused."""
    if not _has_content(fields, uploads):
        raise Refused("empty")
    reporter, _ = _reporter_for(codename)
    types = uploads_check(uploads)
    submission = _store(
        reporter=reporter,
        new_reporter=False,
        kind=Kind.FOLLOWUP,
        fields=fields,
        uploads=uploads,
        types=types,
        lang=lang,
    )
    return submission.id


def reporter_open(*, codename: str) -> ReporterView:
    """The reporter's replies, opened with the identity their codename unwraps. Raises CodenameUnknown."""
    reporter, ck = _reporter_for(codename)
    if reporter.reply_secret_wrapped is None:
        raise CodenameUnknown
    try:
        secret = intakekeys.reply_secret_unwrap(
            ck.reply_key, str(reporter.id), bytes(reporter.reply_secret_wrapped)
        )
    except crypto.CryptoError:
        raise CodenameUnknown from None
    views = []
    for reply in Reply.objects.filter(reporter=reporter).order_by("day", "id"):
        try:
            body = json.loads(crypto.unseal(bytes(reply.sealed), secret))
        except crypto.CryptoError:
            continue
        views.append(ReplyView(day=reply.day, text=str(body.get("text", ""))))
    return ReporterView(reporter_id=reporter.id, replies=views)


# --- replies (casework side; sealing needs public keys only) -------------------------------------------


def reply_seal(*, reporter: Reporter, text: str) -> Reply:
    """A staff reply sealed to the reporter's reply identity and to the triage and recovery recipients, so
    staff can read the thread and the server cannot."""
    if not text.strip():
        raise ValueError("text: a reply cannot be empty")
    recipients = [reporter.reply_recipient, *recipients_current()]
    body = json.dumps({"text": text}, ensure_ascii=False).encode("utf-8")
    return Reply.objects.create(
        id=uuid.uuid4(),
        reporter=reporter,
        day=today(),
        sealed=crypto.seal(body, list(dict.fromkeys(recipients))),
    )


# --- exchange with the casework side (split deployment) -------------------------------------------------


def _b64(data: bytes | memoryview) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("expected base64 text")
    return base64.b64decode(text, validate=True)


def sync_export(*, limit: int = 50) -> list[dict[str, Any]]:
    """The oldest-day sealed submissions with their files, for the casework side to pull."""
    out = []
    rows = Submission.objects.select_related("reporter").order_by("received_day", "id")[:limit]
    for sub in rows:
        out.append(
            {
                "id": str(sub.id),
                "kind": sub.kind,
                "day": sub.received_day.isoformat(),
                "size": sub.size,
                "reporter": str(sub.reporter_id),
                "reporter_day": sub.reporter.created_day.isoformat(),
                "reply_recipient": sub.reporter.reply_recipient,
                "sealed": _b64(sub.sealed),
                "files": [{"id": str(f.id), "sealed": _b64(f.sealed)} for f in sub.files.all()],
            }
        )
    return out


def sync_acknowledge(ids: Sequence[str]) -> int:
    """Delete acknowledged submissions (and their files); reporters stay, for the return page."""
    clean = [str(uuid.UUID(str(i))) for i in ids]
    with transaction.atomic():
        SubmissionFile.objects.filter(submission_id__in=clean).delete()
        deleted, _ = Submission.objects.filter(id__in=clean).delete()
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # deleted pages leave the WAL too
    return deleted


def sync_recipients_set(*, triage: Sequence[str], recovery: str | None) -> None:
    """Replace the recipient set with what the casework side sent (public keys only)."""
    wanted = {crypto.recipient_check(r): "triage" for r in triage}
    if recovery:
        wanted[crypto.recipient_check(recovery)] = "recovery"
    with transaction.atomic():
        Recipient.objects.exclude(recipient__in=list(wanted)).update(active=False)
        for recipient, kind in wanted.items():
            Recipient.objects.update_or_create(recipient=recipient, defaults={"kind": kind, "active": True})


def sync_replies_store(replies: Sequence[Mapping[str, Any]]) -> int:
    stored = 0
    for item in replies:
        reporter = Reporter.objects.filter(id=str(item["reporter"])).first()
        if reporter is None:
            continue
        _, created = Reply.objects.get_or_create(
            id=uuid.UUID(str(item["id"])),
            defaults={
                "reporter": reporter,
                "day": dt.date.fromisoformat(str(item["day"])),
                "sealed": _unb64(item["sealed"]),
            },
        )
        stored += int(created)
    return stored


def sync_import(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """Casework side: store pulled submissions (idempotent); returns the ids now held, to acknowledge."""
    held = []
    for item in items:
        sub_id = uuid.UUID(str(item["id"]))
        with transaction.atomic():
            reporter, _ = Reporter.objects.get_or_create(
                id=uuid.UUID(str(item["reporter"])),
                defaults={
                    "reply_recipient": crypto.recipient_check(str(item["reply_recipient"])),
                    "created_day": dt.date.fromisoformat(str(item["reporter_day"])),
                },
            )
            if not Submission.objects.filter(id=sub_id).exists():
                sub = Submission.objects.create(
                    id=sub_id,
                    reporter=reporter,
                    kind=Kind(str(item["kind"])),
                    received_day=dt.date.fromisoformat(str(item["day"])),
                    sealed=_unb64(item["sealed"]),
                    size=int(item["size"]),
                )
                SubmissionFile.objects.bulk_create(
                    SubmissionFile(id=uuid.UUID(str(f["id"])), submission=sub, sealed=_unb64(f["sealed"]))
                    for f in item["files"]
                )
        held.append(str(sub_id))
    return held


def replies_undelivered(*, limit: int = 200) -> list[dict[str, Any]]:
    return [
        {"id": str(r.id), "reporter": str(r.reporter_id), "day": r.day.isoformat(), "sealed": _b64(r.sealed)}
        for r in Reply.objects.filter(delivered=False).order_by("day", "id")[:limit]
    ]


def replies_mark_delivered(ids: Sequence[str]) -> None:
    Reply.objects.filter(id__in=list(ids)).update(delivered=True)


def submissions_list() -> list[tuple[uuid.UUID, dt.date, str]]:
    """Random id, day and kind of every stored submission, for `kartoteka intake list`: nothing decrypted."""
    return list(Submission.objects.order_by("received_day", "id").values_list("id", "received_day", "kind"))
