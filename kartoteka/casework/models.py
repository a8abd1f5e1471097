"""Casework: sources, recruitments, service events, visits, promises, deliveries, incidents and cases.

Coded facts (facility, dates, vocabulary codes, amounts) are plain columns so filters, reports and the
ledger can use them; free text and anything that names a person is sealed (see docs/threat-model.md §6
for what the coded fields still reveal).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from kartoteka.core.fields import Sealed, date_bound_field, edtf_field, id_field, sealed_field


class Source(Sealed):
    id = id_field()
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=30)
    reliability = models.CharField(max_length=30, default="unknown")
    language = models.CharField(max_length=10, blank=True, default="")
    consent = models.CharField(max_length=30, default="internal_only")
    label_enc = sealed_field()  # how staff know the source, e.g. "mother of the recruit"
    contact_enc = sealed_field()
    created_at = models.DateTimeField(auto_now_add=True)


class Recruitment(models.Model):
    id = id_field()
    person = models.ForeignKey("people.Person", on_delete=models.CASCADE, related_name="recruitments")
    recruiter = models.CharField(max_length=30, db_index=True)
    signed_edtf = edtf_field()
    signed_start = date_bound_field()
    signed_end = date_bound_field()
    facility = models.ForeignKey("registry.Facility", null=True, on_delete=models.PROTECT, related_name="+")
    legal_status = models.CharField(
        max_length=20, default="convicted"
    )  # convicted | suspect | accused | on_trial
    stated_term_months = models.PositiveIntegerField(null=True)
    unit = models.CharField(max_length=120, blank=True, default="")
    stated_regime = models.CharField(max_length=40, blank=True, default="")
    source = models.ForeignKey(Source, null=True, on_delete=models.SET_NULL, related_name="+")


class ServiceEvent(models.Model):
    id = id_field()
    person = models.ForeignKey("people.Person", on_delete=models.CASCADE, related_name="service_events")
    recruitment = models.ForeignKey(Recruitment, null=True, on_delete=models.SET_NULL, related_name="events")
    kind = models.CharField(max_length=30)
    discharge_ground = models.CharField(max_length=30, blank=True, default="")
    date_edtf = edtf_field()
    date_start = date_bound_field()
    date_end = date_bound_field()
    source = models.ForeignKey(Source, null=True, on_delete=models.SET_NULL, related_name="+")


class RecruitmentVisit(models.Model):
    id = id_field()
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="+")
    facility = models.ForeignKey("registry.Facility", on_delete=models.PROTECT, related_name="+")
    recruiter = models.CharField(max_length=30)
    date_edtf = edtf_field()
    date_start = date_bound_field()
    date_end = date_bound_field()
    source = models.ForeignKey(Source, null=True, on_delete=models.SET_NULL, related_name="+")


class Promise(Sealed):
    id = id_field()
    person = models.ForeignKey("people.Person", on_delete=models.CASCADE, related_name="promises")
    recruitment = models.ForeignKey(
        Recruitment, null=True, on_delete=models.SET_NULL, related_name="promises"
    )
    kind = models.CharField(max_length=30)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    currency = models.CharField(max_length=3, default="RUB")
    due_edtf = edtf_field()
    due_start = date_bound_field()
    due_end = date_bound_field()
    condition = models.CharField(max_length=40, blank=True, default="")  # e.g. after_6_months, on_death
    promised_by = models.CharField(max_length=30, blank=True, default="")  # a perpetrator_role code
    details_enc = sealed_field()
    source = models.ForeignKey(Source, null=True, on_delete=models.SET_NULL, related_name="+")


class Delivery(models.Model):
    id = id_field()
    promise = models.ForeignKey(Promise, on_delete=models.CASCADE, related_name="deliveries")
    outcome = models.CharField(max_length=20)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    date_edtf = edtf_field()
    date_start = date_bound_field()
    date_end = date_bound_field()
    source = models.ForeignKey(Source, null=True, on_delete=models.SET_NULL, related_name="+")


class Incident(Sealed):
    id = id_field()
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="+")
    facility = models.ForeignKey("registry.Facility", null=True, on_delete=models.PROTECT, related_name="+")
    region = models.ForeignKey("registry.Region", null=True, on_delete=models.PROTECT, related_name="+")
    date_edtf = edtf_field()
    date_start = date_bound_field()
    date_end = date_bound_field()
    victim_count = models.PositiveIntegerField(null=True)
    verification = models.CharField(max_length=20, default="unverified", db_index=True)
    description_enc = sealed_field()
    officials_enc = sealed_field()  # named officials, JSON list
    created_at = models.DateTimeField(auto_now_add=True)
    victims = models.ManyToManyField("people.Person", related_name="incidents", blank=True)
    sources = models.ManyToManyField(Source, related_name="incidents", blank=True)


class IncidentCategory(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="categories")
    code = models.CharField(max_length=40)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["incident", "code"], name="incident_category_unique")]
        indexes = [models.Index(fields=["code", "incident"])]


class IncidentPerpetrator(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="perpetrators")
    role = models.CharField(max_length=40)


class Case(Sealed):
    id = id_field()
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey("people.Person", on_delete=models.CASCADE, related_name="cases")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=20, default="open")
    deadline = models.DateField(null=True)
    notes_enc = sealed_field()
    created_at = models.DateTimeField(auto_now_add=True)
