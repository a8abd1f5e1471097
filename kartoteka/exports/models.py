"""What exports remember: each user's public key for staff exports, and facility-level release approvals."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from kartoteka.core.fields import id_field


class ExportKey(models.Model):
    """The age recipient (public key, ``age1…``) staff exports are sealed to for this user.

    Only the public half is stored: the server can seal to it and never open what it sealed.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    recipient = models.CharField(max_length=120)
    updated_at = models.DateTimeField(auto_now=True)


class FacilityRelease(models.Model):
    """Permission to show one facility as its own row in the public data set.

    Proposed by one staff member and approved by another (never the proposer); withdrawing it removes the
    facility from later releases. Facility rows still appear only where they count at least k victims.
    """

    class Status(models.TextChoices):
        PROPOSED = "proposed", "proposed"
        APPROVED = "approved", "approved"
        WITHDRAWN = "withdrawn", "withdrawn"

    id = id_field()
    facility = models.ForeignKey("registry.Facility", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PROPOSED)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["facility"],
                condition=~models.Q(status="withdrawn"),
                name="facility_release_one_live",
            ),
            models.CheckConstraint(
                condition=models.Q(decided_by__isnull=True) | ~models.Q(decided_by=models.F("proposed_by")),
                name="facility_release_four_eyes",
            ),
        ]
