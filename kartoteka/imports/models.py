"""Import runs, the encrypted quarantine of rejected rows, row fingerprints and imported testimony.

An ImportRun is one file (by SHA-256) brought into one team: its progress watermark makes a killed import
resume where it stopped, and its counters are the summary line. Rejected rows are kept whole, but only as
ciphertext (QuarantineRow); "identical to an imported row" is decided on keyed fingerprints (blind-index
values of the row's mapped cells), never on plaintext.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from kartoteka.core.fields import Sealed, id_field, sealed_field


class ImportRun(models.Model):
    id = id_field()
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20)  # table | telegram | kobo
    file_sha256 = models.CharField(max_length=64, unique=True)
    source = models.ForeignKey("casework.Source", null=True, on_delete=models.SET_NULL, related_name="+")
    vault_item = models.CharField(max_length=36, blank=True, default="")
    mapping = models.JSONField(default=dict)  # header → field, as applied
    meta = models.JSONField(default=dict)  # encoding, delimiter, sheet: nothing from the cells
    rows_done = models.PositiveIntegerField(default=0)  # every row up to this number is committed
    imported = models.PositiveIntegerField(default=0)
    quarantined = models.PositiveIntegerField(default=0)
    flagged = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=20, default="running")  # running | done
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True)


class QuarantineRow(Sealed):
    id = id_field()
    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="quarantine")
    row = models.PositiveIntegerField()
    reasons = models.JSONField(default=list)  # [[column header, reason code], ...]: no cell values
    cells_enc = sealed_field()  # JSON list of the row's cells as read
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "row"], name="quarantine_row_unique")]


class RowFingerprint(models.Model):
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    value = models.BigIntegerField()
    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "value"], name="row_fingerprint_unique")]


class Testimony(Sealed):
    """One message of an imported conversation, as its author wrote it; never published by the import."""

    id = id_field()
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="+")
    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="testimonies")
    source = models.ForeignKey("casework.Source", null=True, on_delete=models.SET_NULL, related_name="+")
    said_at = models.DateTimeField(null=True)
    origin_key = models.CharField(max_length=120)  # "<message id>" within the run: re-runs skip it
    text_enc = sealed_field()
    attachments = models.JSONField(default=list)  # evidence vault item ids
    published = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "origin_key"], name="testimony_origin_unique")]
