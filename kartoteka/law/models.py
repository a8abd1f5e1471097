"""The stored promise ledger: one row per ledger line the engine produced for a person's recruitment.

Rows are derived data, replaced wholesale by :func:`kartoteka.law.services.ledger_recompute`; they hold
coded fields only (codes, dates, amounts, hashes) so the overdue queue and the aggregates can filter and
count in SQL without decrypting anything. Explanations are rendered on reading, from a fresh evaluation.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from kartoteka.core.fields import edtf_field, id_field


class LedgerLine(models.Model):
    id = id_field()
    # Not indexed alone: the (person, kind, seq) index serves lookups by person. Every index here is paid
    # ten times per person on a full recompute.
    person = models.ForeignKey("people.Person", on_delete=models.CASCADE, related_name="+", db_index=False)
    # The recruitment whose facts produced the line; null for promises recorded without one.
    recruitment = models.ForeignKey(
        "casework.Recruitment", null=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=40)
    seq = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=20)
    due_edtf = edtf_field()
    due_start = models.DateField(null=True, blank=True)
    due_end = models.DateField(null=True, blank=True)
    amount_due = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    amount_delivered = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    amount_missing = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    currency = models.CharField(max_length=3, default="RUB")
    regime_id = models.CharField(max_length=80, blank=True, default="")
    regime_version = models.CharField(max_length=64, blank=True, default="")
    # Fingerprint of the whole regime set (every file's hash) the line was computed under: a line whose
    # fingerprint differs from the current set is stale.
    regime_set = models.CharField(max_length=16, default="")
    provisions = models.JSONField(default=list)  # [{"regime", "instrument", "confidence", "version"}]
    confidence = models.CharField(max_length=3, blank=True, default="")  # the marks involved, e.g. "CR"
    missing_facts = models.JSONField(default=list)
    legal_question = models.BooleanField(default=False)
    promise = models.ForeignKey("casework.Promise", null=True, on_delete=models.SET_NULL, related_name="+")
    computed_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["person", "kind", "seq"]),
            models.Index(fields=["status", "due_end"]),
        ]


class RegimeOverride(models.Model):
    """One installation of an organisation's regime file into the data directory (the file is the truth;
    this row is the history: which file, which version, when, by whom)."""

    id = id_field()
    regime_id = models.CharField(max_length=80)
    version = models.CharField(max_length=64)
    installed_at = models.DateTimeField(auto_now_add=True)
    installed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
