"""Reads for the import pages: runs, and quarantined rows opened for staff (each opening is audited)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from django.db import transaction

from kartoteka.accounts.models import User
from kartoteka.audit.services import entry_append
from kartoteka.core import sealing
from kartoteka.imports.access import import_run_get_for_user, import_run_list_for_user
from kartoteka.imports.models import ImportRun, QuarantineRow
from kartoteka.imports.services import QUARANTINE_TABLE


@dataclass(frozen=True)
class HeldRow:
    row: int
    reasons: list[tuple[str, str]]  # (column, reason code)
    cells: list[str]


def runs_for(*, user: User) -> list[ImportRun]:
    return list(import_run_list_for_user(user).order_by("-created_at")[:100])


def quarantine_open(
    *, user: User, run_id: uuid.UUID | str, purpose: str = "view"
) -> tuple[ImportRun, list[HeldRow]]:
    """The run's rejected rows, decrypted; audited as quarantine.view or quarantine.export."""
    run = import_run_get_for_user(user, run_id)
    held = list(QuarantineRow.objects.filter(run=run).order_by("row"))
    opened = sealing.rows_open(
        QUARANTINE_TABLE, [(str(q.id), bytes(q.wrapped_key), {"cells": q.cells_enc}) for q in held]
    )
    with transaction.atomic():
        entry_append(
            actor=str(user.id),
            action=f"quarantine.{purpose}",
            object_type="import_run",
            object_id=str(run.id),
            details={"rows": len(held)},
        )
    rows = [
        HeldRow(
            q.row,
            [(str(c), str(code)) for c, code in q.reasons],
            [str(x) for x in json.loads(o.get("cells", "[]"))],
        )
        for q, o in zip(held, opened, strict=True)
    ]
    return run, rows
