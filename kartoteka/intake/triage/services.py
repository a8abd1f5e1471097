"""Triage on the casework side: triage keys, unlocking them into the key agent, reading submissions,
turning one into records, moving its files into the evidence vault, and replying to its reporter.

The triage identity's secret never reaches a web worker: it is stored wrapped under the user's passphrase
and unwrapped inside the key agent (agent ops ``intake_identity_unlock`` / ``intake_open``).
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from kartoteka.accounts import access
from kartoteka.accounts.models import Role, Team, User
from kartoteka.audit.services import entry_append
from kartoteka.casework import services as casework
from kartoteka.core import sealing
from kartoteka.intake import services as intake
from kartoteka.intake.models import Recipient, Reply, Status, Submission, SubmissionFile
from kartoteka.intake.triage.models import TriageKey, TriageLink
from kartoteka.lib import crypto, intakekeys, vault
from kartoteka.lib.partialdate import PartialDate, PartialDateError
from kartoteka.lib.partialdate import parse as date_parse
from kartoteka.people import services as people
from kartoteka.people.models import Person
from kartoteka.people.selectors import PersonHit, person_find

_SOURCE_KIND = {"self": "prisoner", "lawyer": "lawyer"}


class NoTriageKey(access.NotFound):
    """The user has no active triage key: the queue does not exist for them (404)."""


@dataclass(frozen=True)
class FileView:
    id: str
    name: str
    type: str
    size: int
    sha256: str
    vault_item: str


@dataclass(frozen=True)
class SubmissionView:
    id: uuid.UUID
    day: str
    kind: str
    status: str
    reporter_id: uuid.UUID
    lang: str
    fields: dict[str, Any]
    files: list[FileView]
    replies: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)


def _audit(actor: User, action: str, object_id: object, **details: str) -> None:
    entry_append(
        actor=str(actor.id),
        action=action,
        object_type=action.split(".")[0],
        object_id=str(object_id),
        details=details or None,
    )


# --- keys ------------------------------------------------------------------------------------------------


def triage_key_active(user: User) -> TriageKey | None:
    if not user.is_active or user.role == Role.ANALYST:
        return None
    return TriageKey.objects.filter(user=user, revoked_day__isnull=True).first()


def _require_key(user: User) -> TriageKey:
    key = triage_key_active(user)
    if key is None:
        raise NoTriageKey
    return key


def triage_key_create(*, actor: User, user: User, passphrase: str) -> TriageKey:
    """A new intake identity for ``user`` (an admin's act, or a coordinator's for themselves); its public
    recipient joins every new submission from now on."""
    if not actor.is_active or not (
        actor.role == Role.ADMIN or (actor.pk == user.pk and actor.role == Role.COORDINATOR)
    ):
        raise access.NotFound
    if user.role == Role.ANALYST or not user.is_active:
        raise ValueError("user: analysts and inactive users cannot hold a triage key")
    if triage_key_active(user) is not None:
        raise ValueError("user: already holds an active triage key; revoke it first")
    identity = crypto.identity_new()
    sealed_secret = intakekeys.triage_secret_wrap(str(user.id), identity.secret, passphrase)
    with transaction.atomic():
        key = TriageKey.objects.create(
            user=user, recipient=identity.recipient, sealed_secret=sealed_secret, created_day=intake.today()
        )
        Recipient.objects.update_or_create(
            recipient=identity.recipient, defaults={"kind": "triage", "active": True}
        )
        _audit(actor, "triage_key.create", key.id, user=str(user.id))
    return key


def triage_key_revoke(*, actor: User, key: TriageKey) -> None:
    """New submissions stop being sealed to this key at once; its identity is dropped from the agent."""
    if not actor.is_active or not (actor.role == Role.ADMIN or actor.pk == key.user_id):
        raise access.NotFound
    with transaction.atomic():
        TriageKey.objects.filter(pk=key.pk).update(revoked_day=intake.today())
        Recipient.objects.filter(recipient=key.recipient).update(active=False)
        _audit(actor, "triage_key.revoke", key.id)
    sealing.client().intake_identity_lock(str(key.user_id))
    key.refresh_from_db()


def triage_unlock(*, user: User, passphrase: str, minutes: int = 30) -> float:
    """Unlock the user's triage identity into the key agent for ``minutes``; raises keys.UnlockError."""
    key = _require_key(user)
    seconds = sealing.client().intake_identity_unlock(
        str(user.id), bytes(key.sealed_secret), passphrase, seconds=minutes * 60.0
    )
    return seconds


def triage_lock(*, user: User) -> None:
    sealing.client().intake_identity_lock(str(user.id))


def triage_remaining(*, user: User) -> float:
    if triage_key_active(user) is None:
        return 0.0
    return sealing.client().intake_identity_remaining(str(user.id))


# --- reading ---------------------------------------------------------------------------------------------


def queue(*, user: User) -> list[tuple[uuid.UUID, str, str, str]]:
    """(id, day, kind, status) of every submission, without decrypting anything."""
    _require_key(user)
    rows = Submission.objects.order_by("-received_day", "id").values_list(
        "id", "received_day", "kind", "status"
    )
    return [(i, d.isoformat(), k, s) for i, d, k, s in rows]


def _open(user: User, blobs: Sequence[bytes]) -> list[bytes]:
    return sealing.client().intake_open(str(user.id), [bytes(b) for b in blobs])


def submission_open(*, user: User, submission_id: uuid.UUID | str) -> SubmissionView:
    """Open one submission through the agent (keys.LockedError when the triage key is locked)."""
    _require_key(user)
    try:
        sub = Submission.objects.get(pk=submission_id)
    except (Submission.DoesNotExist, ValueError, TypeError):
        raise access.NotFound from None
    (plain,) = _open(user, [bytes(sub.sealed)])
    envelope = json.loads(plain)
    replies = [
        bytes(r.sealed) for r in Reply.objects.filter(reporter_id=sub.reporter_id).order_by("day", "id")
    ]
    reply_texts = []
    for blob in replies:
        try:
            (opened,) = _open(user, [blob])
            reply_texts.append(str(json.loads(opened).get("text", "")))
        except crypto.CryptoError:
            reply_texts.append("")  # sealed before this key existed
    vault_items = dict(SubmissionFile.objects.filter(submission=sub).values_list("id", "vault_item"))
    files = [
        FileView(
            id=str(f["id"]),
            name=str(f["name"]),
            type=str(f["type"]),
            size=int(f["size"]),
            sha256=str(f["sha256"]),
            vault_item=str(vault_items.get(uuid.UUID(str(f["id"])), "")),
        )
        for f in envelope.get("files", [])
    ]
    with transaction.atomic():
        if sub.status == Status.NEW:
            Submission.objects.filter(pk=sub.pk).update(status=Status.READ)
        _audit(user, "submission.open", sub.id)
    links = list(TriageLink.objects.filter(submission=sub).values_list("object_type", "object_id"))
    return SubmissionView(
        id=sub.id,
        day=sub.received_day.isoformat(),
        kind=sub.kind,
        status=Status.READ if sub.status == Status.NEW else sub.status,
        reporter_id=sub.reporter_id,
        lang=str(envelope.get("lang", "")),
        fields=dict(envelope.get("fields", {})),
        files=files,
        replies=reply_texts,
        links=[(str(t), str(i)) for t, i in links],
    )


def duplicates(*, user: User, view: SubmissionView, limit: int = 10) -> list[PersonHit]:
    """Persons the named person may already be, through the blind indexes."""
    name = str(view.fields.get("person_name") or "").strip()
    if not name:
        return []
    year = str(view.fields.get("birth_year") or "")
    return person_find(user=user, query=name, limit=limit, birth_year=int(year) if year.isdigit() else None)


# --- turning a submission into records -------------------------------------------------------------------


@dataclass(frozen=True)
class TriageInput:
    team: Team
    full_name: str = ""
    birth_year: int | None = None
    existing_person_id: uuid.UUID | None = None
    categories: tuple[str, ...] = ()
    description: str = ""
    when: str = ""
    promise_kind: str = ""
    promise_details: str = ""
    source_label: str = ""
    source_contact: str = ""


def _when(text: str) -> PartialDate | None:
    if not text.strip():
        return None
    try:
        return date_parse(text)
    except PartialDateError:
        return None


def _link(sub: Submission, actor: User, object_type: str, object_id: object) -> None:
    TriageLink.objects.create(submission=sub, object_type=object_type, object_id=str(object_id), actor=actor)


def submission_triage(*, actor: User, submission_id: uuid.UUID | str, data: TriageInput) -> dict[str, str]:
    """Create a Source, a person (or another record of an existing one), an incident and a promise from a
    submission, each through its own service; link each to the submission. Returns type → id."""
    view = submission_open(user=actor, submission_id=submission_id)
    sub = Submission.objects.get(pk=view.id)
    relationship = str(view.fields.get("relationship") or "")
    made: dict[str, str] = {}
    with transaction.atomic():
        source = casework.source_create(
            actor=actor,
            team=data.team,
            kind=_SOURCE_KIND.get(relationship, "relative"),
            language=view.lang if view.lang in ("ru", "en") else "",
            label=data.source_label,
            contact=data.source_contact,
        )
        made["source"] = str(source.id)
        person: Person | None = None
        birth = PartialDate.of(data.birth_year) if data.birth_year else None
        if data.existing_person_id is not None:
            person = access.person_get_for_user(actor, data.existing_person_id, write=True)
            record = people.record_add(
                actor=actor,
                person=person,
                data=people.PersonInput(
                    full_name=data.full_name or "?", birth_date=birth, source_id=source.id
                ),
            )
            made["record"] = str(record.id)
        elif data.full_name.strip():
            person = people.person_create(
                actor=actor,
                team=data.team,
                data=people.PersonInput(full_name=data.full_name, birth_date=birth, source_id=source.id),
            )
            made["person"] = str(person.id)
        if data.categories:
            incident = casework.incident_create(
                actor=actor,
                team=data.team,
                date=_when(data.when),
                categories=list(data.categories),
                victim_ids=[person.id] if person is not None else [],
                description=data.description,
                source_ids=[source.id],
            )
            made["incident"] = str(incident.id)
        if data.promise_kind and person is not None:
            promise = casework.promise_create(
                actor=actor,
                person=person,
                kind=data.promise_kind,
                details=data.promise_details,
                source_id=source.id,
            )
            made["promise"] = str(promise.id)
        for object_type, object_id in made.items():
            _link(sub, actor, object_type, object_id)
        Submission.objects.filter(pk=sub.pk).update(status=Status.TRIAGED)
        _audit(actor, "submission.triage", sub.id, **dict(made))
    return made


def files_to_vault(*, actor: User, submission_id: uuid.UUID | str) -> list[str]:
    """Move each file into the evidence vault (opened through the agent, sealed again in chunks under the
    keyring); the intake's sealed copy is then dropped. Returns the vault item ids."""
    _require_key(actor)
    sub = Submission.objects.filter(pk=submission_id).first()
    if sub is None:
        raise access.NotFound
    root = Path(getattr(settings, "EVIDENCE_DIR", Path(settings.DATA_DIR) / "evidence")) / "vault"
    items = []
    for f in SubmissionFile.objects.filter(submission=sub, vault_item=""):
        (plain,) = _open(actor, [bytes(f.sealed)])
        manifest = vault.vault_ingest(root, sealing.client(), io.BytesIO(plain), actor=str(actor.id))
        del plain
        with transaction.atomic():
            SubmissionFile.objects.filter(pk=f.pk).update(vault_item=manifest.item_id, sealed=b"")
            _link(sub, actor, "evidence", manifest.item_id)
            _audit(
                actor, "evidence.receive", manifest.item_id, submission=str(sub.id), original=manifest.sha256
            )
        items.append(manifest.item_id)
    return items


def reply_send(*, actor: User, submission_id: uuid.UUID | str, text: str) -> Reply:
    """A reply the reporter reads with their codename (the server cannot read it without the codename)."""
    _require_key(actor)
    sub = Submission.objects.select_related("reporter").filter(pk=submission_id).first()
    if sub is None:
        raise access.NotFound
    with transaction.atomic():
        reply = intake.reply_seal(reporter=sub.reporter, text=text)
        _audit(actor, "reply.create", reply.id, submission=str(sub.id))
    return reply
