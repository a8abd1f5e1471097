"""Declared lists and saved estimates.

A declared list is one source's records read as a list for capture–recapture, with the population it
counts and the period it covers stated by the analyst: the tables module refuses to combine lists whose
declarations differ. A saved estimate holds figures only (no record or person ids), so it can be
published once a second staff member approves it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from kartoteka.core.fields import id_field


class DeclaredList(models.Model):
    id = id_field()
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=60)
    source = models.ForeignKey("casework.Source", on_delete=models.PROTECT, related_name="+")
    population = models.CharField(max_length=60)
    period = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="declared_list_name_unique")]


class SavedEstimate(models.Model):
    id = id_field()
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="+")
    population = models.CharField(max_length=60)
    period = models.CharField(max_length=120)
    lists = models.JSONField(default=list)  # list names only
    n_observed = models.PositiveIntegerField()
    method = models.CharField(max_length=60)
    estimate = models.FloatField()
    lower = models.FloatField()
    upper = models.FloatField()
    # Every method's figures, the reason for the default and the caveat keys, for the report's appendix.
    summary = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
