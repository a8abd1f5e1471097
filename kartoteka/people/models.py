"""Persons and the records they are built from.

A Record is one person as one source reported them, kept exactly as reported: never edited, a correction
is a new Record. A Person is a cluster of Records; linkage moves Records between Persons and can undo it,
so provenance always leads back to the Records. Names exist only as ciphertext plus blind-index terms.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from kartoteka.core.fields import Sealed, date_bound_field, edtf_field, id_field, sealed_field


class Person(models.Model):
    id = id_field()
    # No single-column indexes on team or status: the (team, status) index below serves both.
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="+", db_index=False)
    # The current best view of coded facts, maintained by people.services from records and status history.
    status = models.CharField(max_length=20, default="unknown")
    sex = models.CharField(max_length=1, blank=True, default="")
    home_region = models.ForeignKey("registry.Region", null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["team", "status"])]


class Record(Sealed):
    id = id_field()
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey(Person, null=True, on_delete=models.SET_NULL, related_name="records")
    # Indexed only where set (Meta): most records cite no source or facility, and an index on a column
    # that is mostly NULL costs every insert a B-tree write for nothing a query looks up.
    source = models.ForeignKey(
        "casework.Source", null=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    full_name_enc = sealed_field()
    aliases_enc = sealed_field()  # JSON list of strings
    birth_date_enc = sealed_field()  # EDTF text
    notes_enc = sealed_field()
    sex = models.CharField(max_length=1, blank=True, default="")
    home_region = models.ForeignKey("registry.Region", null=True, on_delete=models.PROTECT, related_name="+")
    facility = models.ForeignKey(
        "registry.Facility", null=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    articles = models.JSONField(default=list)  # Criminal Code articles as reported, e.g. ["105.1", "228.4"]
    sentence_months = models.PositiveIntegerField(null=True)
    # Where it came from: an import file's SHA-256 and row number, so a re-run imports nothing twice.
    origin_file = models.CharField(max_length=64, blank=True, default="")
    origin_row = models.PositiveIntegerField(null=True)
    review_flags = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    # Provenance, read from the record; no query starts from the user (deleting one, rare, scans).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    class Meta:
        indexes = [
            models.Index(fields=["source"], condition=Q(source__isnull=False), name="record_source_set"),
            models.Index(
                fields=["facility"], condition=Q(facility__isnull=False), name="record_facility_set"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["origin_file", "origin_row"],
                condition=~models.Q(origin_file=""),
                name="record_origin_unique",
            )
        ]


class NameTerm(models.Model):
    """One blind-index term (truncated HMAC of a normalised name part) of one record's name or alias.

    The primary key is (term, record): the posting lists a search reads are the key itself, so one B-tree
    holds them (a WITHOUT ROWID table on SQLite, migration 0003_perf_nameterm_clustered) and an import
    writes each term once instead of into a table and an index. The record index serves deletes.
    """

    pk = models.CompositePrimaryKey("term", "record")
    term = models.BigIntegerField()
    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="+")


class StatusEntry(models.Model):
    id = id_field()
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="status_history")
    status = models.CharField(max_length=20)
    date_edtf = edtf_field()
    # Read per person, never ranged over: no date indexes (one B-tree write each fewer per entry).
    date_start = date_bound_field(indexed=False)
    date_end = date_bound_field(indexed=False)
    source = models.ForeignKey(
        "casework.Source", null=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["source"], condition=Q(source__isnull=False), name="status_source_set")
        ]
