"""Triage keys (a user's intake identity, its secret stored only wrapped under their passphrase) and
the links from a submission to what staff made of it."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from kartoteka.core.fields import id_field


class TriageKey(models.Model):
    id = id_field()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    recipient = models.CharField(max_length=100, unique=True)
    sealed_secret = models.BinaryField(editable=False)  # kartoteka.lib.intakekeys.triage_secret_wrap
    created_day = models.DateField()
    revoked_day = models.DateField(null=True, blank=True)


class TriageLink(models.Model):
    """Submission → an object made from it (source, person, record, incident, promise, evidence)."""

    id = id_field()
    submission = models.ForeignKey("intake.Submission", on_delete=models.PROTECT, related_name="+")
    object_type = models.CharField(max_length=20)
    object_id = models.CharField(max_length=40)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["submission"])]
