"""Key rotation over the Django database: the EncryptedStore that kartoteka.lib.keys.rotate walks.

Every model with sealed columns is listed here once; a new sealed model that is not listed would keep
its old key after rotation, so tests/test_rotation.py checks the list against the models.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from django.apps import apps
from django.db import models, transaction

from kartoteka.lib import keys, names

NAME_PURPOSE = "people.record.name"


@dataclass(frozen=True)
class SealedModel:
    label: str  # "app.model", also the table name bound into each ciphertext
    fields: tuple[str, ...]  # sealed fields, stored as <field>_enc

    @property
    def model(self) -> type[models.Model]:
        return apps.get_model(self.label)


SEALED_MODELS = (
    SealedModel("people.record", ("full_name", "aliases", "birth_date", "notes")),
    SealedModel("casework.source", ("label", "contact")),
    SealedModel("casework.promise", ("details",)),
    SealedModel("casework.incident", ("description", "officials")),
    SealedModel("casework.case", ("notes",)),
    SealedModel("accounts.breakglassgrant", ("reason",)),
    SealedModel("accounts.sealedtotpdevice", ("key",)),
    SealedModel("accounts.recoverycodedevice", ("pepper",)),
    SealedModel("imports.quarantinerow", ("cells",)),
    SealedModel("imports.testimony", ("text",)),
    SealedModel("linkage.pairdecision", ("note",)),
)
_BY_LABEL = {m.label: m for m in SEALED_MODELS}


def record_name_terms(full_name: str, aliases: Sequence[str]) -> list[str]:
    """Every blind-index term of a record (:func:`kartoteka.lib.names.record_terms`, shared with the
    people services so rotation recomputes exactly what they wrote)."""
    return names.record_terms(full_name, aliases)


class DatabaseStore:
    """keys.EncryptedStore over every sealed model; one batch is written back in one transaction."""

    def batches(self, batch_size: int) -> Iterator[Sequence[keys.SealedRecord]]:
        for spec in SEALED_MODELS:
            yield from self._model_batches(spec, batch_size)

    def _model_batches(self, spec: SealedModel, batch_size: int) -> Iterator[list[keys.SealedRecord]]:
        columns = ["id", "wrapped_key", *(f"{f}_enc" for f in spec.fields)]
        last = None
        while True:
            # An empty wrapped key seals nothing (a second factor that must be enrolled again).
            qs = spec.model._default_manager.exclude(wrapped_key=b"").order_by("id")
            if last is not None:
                qs = qs.filter(id__gt=last)
            rows = list(qs.values_list(*columns)[:batch_size])
            if not rows:
                return
            yield [
                keys.SealedRecord(
                    spec.label,
                    str(row[0]),
                    bytes(row[1]),
                    {f: bytes(v) for f, v in zip(spec.fields, row[2:], strict=True) if v is not None},
                )
                for row in rows
            ]
            last = rows[-1][0]

    def blind_index_fields(self) -> Mapping[str, Sequence[str]]:
        return {"people.record": ("full_name", "aliases")}

    def blind_index_purpose(self, table: str, field: str) -> str:
        return NAME_PURPOSE

    def blind_index_terms(self, table: str, field: str, plaintext: bytes) -> Sequence[str]:
        text = plaintext.decode("utf-8")
        if field == "aliases":
            return record_name_terms("", json.loads(text))
        return names.stored_terms(text)

    def write_back(self, updates: Sequence[keys.RecordUpdate]) -> None:
        from kartoteka.people.models import NameTerm

        with transaction.atomic():
            for update in updates:
                spec = _BY_LABEL[update.table]
                values: dict[str, object] = {"wrapped_key": update.wrapped_dek}
                if update.fields is not None:
                    values.update({f"{f}_enc": update.fields.get(f) for f in spec.fields})
                spec.model._default_manager.filter(id=update.record_id).update(**values)
                if update.blind_indexes:
                    terms = sorted({t for field_terms in update.blind_indexes.values() for t in field_terms})
                    NameTerm.objects.filter(record_id=update.record_id).delete()
                    NameTerm.objects.bulk_create(
                        [NameTerm(term=t, record_id=update.record_id) for t in terms]
                    )
