"""Summary tables for the dashboard, and report publication requests.

The summaries hold counts only (no ids of persons, no text): one row per combination of coded dimensions
and owning team, so the dashboard answers from a few thousand rows instead of a million incidents, and the
team column lets it say how much of a count the viewer may open. They are derived data, rebuilt wholesale
by :func:`kartoteka.reports.services.summaries_refresh`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from kartoteka.core.fields import id_field

ALL = ""  # the category of a row that counts each incident once, whatever its categories


class IncidentCube(models.Model):
    month = models.DateField(null=True)  # first day of the month the incident's date starts in
    region = models.CharField(max_length=8, default="")
    facility = models.UUIDField(null=True)
    facility_type = models.CharField(max_length=10, default="")
    category = models.CharField(max_length=40, default=ALL)
    verification = models.CharField(max_length=20, default="")
    team = models.UUIDField()
    n = models.PositiveIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["category", "month", "verification"]),
            models.Index(fields=["region", "category", "month"]),
        ]


class IncidentRollup(models.Model):
    """IncidentCube without region and facility: what the figures read when no region is asked for (a few
    thousand rows however many incidents)."""

    month = models.DateField(null=True)
    facility_type = models.CharField(max_length=10, default="")
    category = models.CharField(max_length=40, default=ALL)
    verification = models.CharField(max_length=20, default="")
    team = models.UUIDField()
    n = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["category", "month"])]


class IncidentWeek(models.Model):
    """Incidents per facility and week (Monday), every category and verification: visits' surroundings."""

    facility = models.UUIDField()
    week = models.DateField()
    n = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["facility", "week"])]


class VisitWindow(models.Model):
    """Per recorded visit and week offset (-8..7, 0 = the visit's week), incidents at its facility, with the
    visit's own filter columns: the visits figure sums a few thousand of these rows instead of looking up
    16 weeks per visit in IncidentWeek on every page. Weeks without incidents have no row."""

    visit = models.UUIDField()
    facility = models.UUIDField()
    visit_date = models.DateField()
    region = models.CharField(max_length=8, default="")  # of the facility
    facility_type = models.CharField(max_length=10, default="")
    recruiter = models.CharField(max_length=30, default="")
    week_offset = models.SmallIntegerField()
    n = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["visit_date"])]


class RecruitmentCube(models.Model):
    month = models.DateField(null=True)  # the month the signing date starts in
    recruiter = models.CharField(max_length=30, default="")
    regime = models.CharField(max_length=80, default="")  # the recruitment regime the ledger found
    region = models.CharField(max_length=8, default="")  # of the facility recruited from
    facility_type = models.CharField(max_length=10, default="")
    team = models.UUIDField()
    n = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["region", "month"])]


class RecruitmentRollup(models.Model):
    month = models.DateField(null=True)
    recruiter = models.CharField(max_length=30, default="")
    regime = models.CharField(max_length=80, default="")
    facility_type = models.CharField(max_length=10, default="")
    team = models.UUIDField()
    n = models.PositiveIntegerField()


class LedgerCube(models.Model):
    kind = models.CharField(max_length=40)
    regime = models.CharField(max_length=80, default="")
    due_month = models.DateField(null=True)
    # The effective status on the day of the build (a pending line past its last day is overdue): the
    # summaries count as stale on the next day.
    status = models.CharField(max_length=20)
    recruiter = models.CharField(max_length=30, default="")
    region = models.CharField(max_length=8, default="")
    facility_type = models.CharField(max_length=10, default="")
    team = models.UUIDField()
    n = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["region", "due_month"])]


class LedgerMid(models.Model):
    """LedgerCube without the region: what a recruiter or facility-type filter reads."""

    kind = models.CharField(max_length=40)
    regime = models.CharField(max_length=80, default="")
    due_month = models.DateField(null=True)
    status = models.CharField(max_length=20)
    recruiter = models.CharField(max_length=30, default="")
    facility_type = models.CharField(max_length=10, default="")
    team = models.UUIDField()
    n = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["recruiter", "due_month"]), models.Index(fields=["facility_type"])]


class LedgerRollup(models.Model):
    kind = models.CharField(max_length=40)
    regime = models.CharField(max_length=80, default="")
    due_month = models.DateField(null=True)
    status = models.CharField(max_length=20)
    team = models.UUIDField()
    n = models.PositiveIntegerField()


class PersonCube(models.Model):
    status = models.CharField(max_length=20)
    region = models.CharField(max_length=8, default="")  # home region
    team = models.UUIDField()
    n = models.PositiveIntegerField()


class SummaryState(models.Model):
    """One row: when the summaries were last rebuilt, and whether a write has happened since."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    built_at = models.DateTimeField(null=True)
    built_on = models.DateField(null=True)  # the day ledger statuses were judged on
    dirty = models.BooleanField(default=True)
    audit_seq = models.BigIntegerField(default=0)  # the audit chain's head when the build started
    size = models.BigIntegerField(default=0)  # incidents + persons counted in the last build
    queued = models.BooleanField(default=False)  # a rebuild is waiting for the worker
    seconds = models.FloatField(default=0.0)


class ReportRequest(models.Model):
    """A report asked to be published; a second staff member approves it (four eyes)."""

    class Status(models.TextChoices):
        REQUESTED = "requested"
        APPROVED = "approved"
        REJECTED = "rejected"

    id = id_field()
    period_from = models.CharField(max_length=6)  # "2024Q1": whole quarters only
    period_to = models.CharField(max_length=6)
    lang = models.CharField(max_length=2)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True, default="")
    pdf = models.BinaryField(null=True, editable=False)  # the approved file: aggregates only, no identity
