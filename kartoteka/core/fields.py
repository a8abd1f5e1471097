"""Model building blocks shared by every room: random ids, sealed columns, partial-date columns."""

from __future__ import annotations

import uuid

from django.db import models

from kartoteka.lib import crypto
from kartoteka.lib.partialdate import PartialDate


def new_id() -> uuid.UUID:
    """Random, time-ordered ids (UUIDv7): never sequential, so ids reveal no counts."""
    return crypto.record_id_new()


def id_field() -> models.UUIDField:  # type: ignore[type-arg]
    return models.UUIDField(primary_key=True, default=new_id, editable=False)


def sealed_field() -> models.BinaryField:  # type: ignore[type-arg]
    """A column holding one field's AES-GCM ciphertext (see kartoteka.core.sealing); NULL when empty."""
    return models.BinaryField(null=True, editable=False)


class Sealed(models.Model):
    """A row with encrypted fields carries its own data key, wrapped; deleting the row shreds it."""

    wrapped_key = models.BinaryField(editable=False)

    class Meta:
        abstract = True


def partial_date_columns(prefix: str, value: PartialDate) -> dict[str, object]:
    """Column values for a partial date: the EDTF text as reported plus its earliest and latest day.

    The text keeps the precision; the two dates make range filters and sorting indexable.
    """
    return {
        f"{prefix}_edtf": value.to_edtf(),
        f"{prefix}_start": value.earliest(),
        f"{prefix}_end": value.latest(),
    }


def edtf_field() -> models.CharField:  # type: ignore[type-arg]
    return models.CharField(max_length=40, blank=True, default="")


def date_bound_field(*, indexed: bool = True) -> models.DateField:  # type: ignore[type-arg]
    """A partial date's earliest or latest day; ``indexed=False`` where no query ranges over it (every
    index is one more B-tree each insert writes)."""
    return models.DateField(null=True, blank=True, db_index=indexed)
