"""Every service appends here inside its own transaction; the head file follows after commit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.conf import settings
from django.db import connection, transaction

from kartoteka.core import sealing
from kartoteka.lib import audit

Code = audit.Code


def _advance_head_file() -> None:
    head = audit.head_read(connection)
    if head is not None:
        audit.head_file_advance(settings.AUDIT_HEAD_FILE, head)


def entry_append(
    *, actor: str, action: str, object_type: str, object_id: str, details: Mapping[str, Code] | None = None
) -> audit.Entry:
    return entries_append(
        drafts=[
            audit.Draft(
                actor=actor, action=action, object_type=object_type, object_id=object_id, details=details
            )
        ]
    )[0]


def entries_append(*, drafts: Sequence[audit.Draft]) -> list[audit.Entry]:
    """Append a batch; must run inside the caller's transaction.atomic() (the lib refuses otherwise)."""
    entries = audit.entries_append(connection, sealing.client(), list(drafts))
    transaction.on_commit(_advance_head_file)
    return entries


def chain_verify(*, external_head: str | None = None) -> audit.VerifyReport:
    public_keys = sealing.client().audit_public_keys()
    head_file = settings.AUDIT_HEAD_FILE if settings.AUDIT_HEAD_FILE.exists() else None
    return audit.verify(connection, public_keys, head_file=head_file, external_head=external_head)
