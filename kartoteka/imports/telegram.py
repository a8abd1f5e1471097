"""Telegram Desktop chat exports (``result.json`` with its ``photos/``, ``files/``… folders).

One casework Source per chat participant, its identity (display name, Telegram id) sealed in the Source's
label and contact; each message one Testimony with its date, the text sealed, attachments moved into the
evidence vault. Nothing is published: every testimony is created with ``published=False``.

Re-runs import nothing twice: a participant is found again by a keyed fingerprint of their Telegram id
(kept in the run's meta, never the id itself), and each message by (run, message id); batches commit
atomically with the run's watermark, so a killed import resumes after the last whole batch.
``result.json`` is read whole (Telegram writes it as one JSON document); the attachments are streamed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import F

from kartoteka.accounts import access
from kartoteka.accounts.models import Team, User
from kartoteka.audit.services import entry_append
from kartoteka.casework import services as casework
from kartoteka.core import sealing
from kartoteka.core.fields import new_id
from kartoteka.imports.models import ImportRun, Testimony
from kartoteka.imports.services import (
    ImportRefused,
    file_sha256,
    original_to_vault,
    run_start,
    vault_root,
)
from kartoteka.lib import vault

PARTICIPANT_PURPOSE = "imports.telegram.participant"
TESTIMONY_TABLE = "imports.testimony"
MEDIA_KEYS = ("photo", "file", "video_file", "voice_file", "audio_file", "sticker")
BATCH = 200


@dataclass
class TelegramReport:
    run_id: uuid.UUID | None = None
    imported: int = 0
    quarantined: int = 0
    participants: int = 0
    attachments: int = 0

    def summary(self) -> str:
        return f"imported={self.imported} quarantined={self.quarantined} flagged=0 duplicates=0"


def _result_json(path: Path) -> Path:
    return path / "result.json" if path.is_dir() else path


def _chats(doc: Any) -> list[dict[str, Any]]:
    if isinstance(doc, dict) and isinstance(doc.get("messages"), list):
        return [doc]
    chats = doc.get("chats", {}).get("list") if isinstance(doc, dict) else None
    if isinstance(chats, list):
        return [c for c in chats if isinstance(c, dict) and isinstance(c.get("messages"), list)]
    raise ImportRefused("telegram_malformed")


def _text(value: Any) -> str:
    """Telegram writes text as a string, or as a list of strings and {"type", "text"} entities."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(p if isinstance(p, str) else str(p.get("text", "")) for p in value if p is not None)
    return ""


def _when(message: dict[str, Any]) -> datetime | None:
    stamp = message.get("date_unixtime")
    if stamp is not None:
        try:
            return datetime.fromtimestamp(int(stamp), tz=UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            return None
    raw = message.get("date")
    if isinstance(raw, str):
        try:
            # Older exports carry local time without a zone; it is stored as given, marked UTC.
            return datetime.fromisoformat(raw).replace(tzinfo=UTC)
        except ValueError:
            return None
    return None


@dataclass
class _Message:
    index: int  # position in the export, the watermark's unit
    chat: int
    key: str
    author_id: str
    author: str
    said_at: datetime | None
    text: str
    media: list[str]


def _messages(doc: Any) -> Iterator[_Message]:
    index = 0
    for c, chat in enumerate(_chats(doc)):
        for m in chat["messages"]:
            index += 1
            if not isinstance(m, dict) or m.get("type") != "message":
                continue
            media = [str(m[k]) for k in MEDIA_KEYS if isinstance(m.get(k), str)]
            yield _Message(
                index=index,
                chat=c,
                key=f"{chat.get('id', c)}:{m.get('id', index)}",
                author_id=str(m.get("from_id") or m.get("actor_id") or "unknown"),
                author=str(m.get("from") or m.get("actor") or ""),
                said_at=_when(m),
                text=_text(m.get("text")),
                media=media,
            )


def _attachment(root: Path, relative: str) -> Path | None:
    """An attachment inside the export directory, or None (not included in the export, or outside it)."""
    if relative.startswith("(") or not relative:
        return None  # "(File not included. Change data exporting settings to download.)"
    candidate = (root / relative).resolve()
    if not candidate.is_file() or not candidate.is_relative_to(root.resolve()):
        return None
    return candidate


class _Participants:
    def __init__(self, actor: User, team: Team, run: ImportRun, source_kind: str) -> None:
        self.actor, self.team, self.run, self.kind = actor, team, run, source_kind
        self.known: dict[str, str] = dict(run.meta.get("participants", {}))
        self.seen: dict[str, uuid.UUID] = {}  # Telegram id → source, in memory for this run only

    def source_for(self, author_id: str, author: str) -> uuid.UUID:
        if author_id in self.seen:
            return self.seen[author_id]
        (value,) = sealing.terms_index(PARTICIPANT_PURPOSE, [author_id])
        key = str(value)
        if key not in self.known:
            with transaction.atomic():
                source = casework.source_create(
                    actor=self.actor,
                    team=self.team,
                    kind=self.kind,
                    label=author,
                    contact=f"telegram:{author_id}",
                )
                self.known[key] = str(source.id)
                meta = {**self.run.meta, "participants": self.known}
                ImportRun.objects.filter(pk=self.run.pk).update(meta=meta)
                self.run.meta = meta
        self.seen[author_id] = uuid.UUID(self.known[key])
        return self.seen[author_id]


def telegram_import(
    *, actor: User, team: Team, path: Path, dry_run: bool = False, source_kind: str = "social_media"
) -> TelegramReport:
    if not access.team_writable(actor, team):
        raise access.NotFound
    result = _result_json(path)
    root = result.parent
    try:
        doc = json.loads(result.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ImportRefused("telegram_malformed") from None
    _chats(doc)  # refuse a file that is not an export before anything is written
    messages = _messages(doc)
    report = TelegramReport()
    if dry_run:
        for m in messages:
            report.imported += 1
            report.attachments += sum(1 for x in m.media if _attachment(root, x) is not None)
        return report
    sha = file_sha256(result)
    run = run_start(
        actor=actor, team=team, sha=sha, kind="telegram", fields={}, meta={"participants": {}},
        source_kind=source_kind, label=f"Telegram: {result.parent.name}",
    )  # fmt: skip
    report.run_id = run.id
    original_to_vault(actor=actor, run=run, path=result)
    people = _Participants(actor, team, run, source_kind)
    batch: list[_Message] = []
    for m in messages:
        if m.index <= run.rows_done:
            continue
        batch.append(m)
        if len(batch) >= BATCH:
            _batch(actor, team, run, root, people, batch, report)
            batch = []
    _batch(actor, team, run, root, people, batch, report)
    report.participants = len(people.known)
    with transaction.atomic():
        ImportRun.objects.filter(pk=run.pk).update(status="done")
        entry_append(
            actor=str(actor.id), action="import.finish", object_type="import_run", object_id=str(run.id)
        )
    return report


def _batch(
    actor: User,
    team: Team,
    run: ImportRun,
    root: Path,
    people: _Participants,
    batch: list[_Message],
    report: TelegramReport,
) -> None:
    if not batch:
        return
    sources = [people.source_for(m.author_id, m.author) for m in batch]
    attachments: list[list[str]] = []
    for m in batch:
        items = []
        for relative in m.media:
            found = _attachment(root, relative)
            if found is not None:
                with found.open("rb") as handle:
                    items.append(
                        vault.vault_ingest(
                            vault_root(), sealing.client(), handle, actor=str(actor.id)
                        ).item_id
                    )
        attachments.append(items)
    ids = [new_id() for _ in batch]
    sealed = sealing.rows_seal(
        TESTIMONY_TABLE, [(str(i), {"text": m.text}) for i, m in zip(ids, batch, strict=True)]
    )
    rows = [
        Testimony(
            id=i, team=team, run=run, source_id=s, said_at=m.said_at, origin_key=m.key[:120],
            text_enc=fields.get("text"), wrapped_key=wrapped, attachments=a, published=False,
        )
        for i, m, s, a, (wrapped, fields) in zip(ids, batch, sources, attachments, sealed, strict=True)
    ]  # fmt: skip
    with transaction.atomic():
        done = set(
            Testimony.objects.filter(run=run, origin_key__in=[r.origin_key for r in rows]).values_list(
                "origin_key", flat=True
            )
        )
        fresh = [r for r in rows if r.origin_key not in done]
        Testimony.objects.bulk_create(fresh)
        ImportRun.objects.filter(pk=run.pk).update(
            rows_done=batch[-1].index, imported=F("imported") + len(fresh)
        )
        entry_append(
            actor=str(actor.id),
            action="import.batch",
            object_type="import_run",
            object_id=str(run.id),
            details={
                "last_row": batch[-1].index,
                "imported": len(fresh),
                "attachments": sum(map(len, attachments)),
            },
        )
    run.rows_done = batch[-1].index
    report.imported += len(fresh)
    report.attachments += sum(map(len, attachments))
