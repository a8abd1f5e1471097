"""Linkage runs, their scored candidate pairs, review decisions and merge events.

Records are never rewritten by linkage except their ``person`` foreign key, and every move is an event
(:class:`MergeEvent`) that lists each moved record with the person it left and the person it joined, so
an unmerge puts every record back exactly. Events are append-only: an undo is a new event pointing at the
one it undoes. A match across two teams never moves records (a Person belongs to one team and whoever may
see a person sees its records): it is recorded as a ``link`` event between the two records.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from kartoteka.core.fields import Sealed, id_field, sealed_field


class RunKind(models.TextChoices):
    DEDUPE = "dedupe", "dedupe"
    LIST = "list", "list"


class Engine(models.TextChoices):
    DUCKDB = "duckdb", "duckdb"
    SPARK = "spark", "spark"


class PairStatus(models.TextChoices):
    PENDING = "pending", "pending"
    ACCEPTED = "accepted", "accepted"
    REJECTED = "rejected", "rejected"
    UNSURE = "unsure", "unsure"
    AUTO = "auto", "auto"


class Decision(models.TextChoices):
    ACCEPTED = "accepted", "accepted"
    REJECTED = "rejected", "rejected"
    UNSURE = "unsure", "unsure"


class EventKind(models.TextChoices):
    MERGE = "merge", "merge"
    UNMERGE = "unmerge", "unmerge"
    LINK = "link", "link"
    UNLINK = "unlink", "unlink"


class LinkRun(models.Model):
    """One scoring run. ``team`` None means the whole database (an admin's run; the only kind that can
    produce pairs spanning two teams)."""

    id = id_field()
    kind = models.CharField(max_length=10, choices=RunKind.choices)
    engine = models.CharField(max_length=10, choices=Engine.choices)
    model_version = models.CharField(max_length=120)
    params = models.JSONField(default=dict)
    team = models.ForeignKey("accounts.Team", null=True, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)


class CandidatePair(models.Model):
    id = id_field()
    run = models.ForeignKey(LinkRun, on_delete=models.CASCADE, related_name="pairs")
    record_a = models.ForeignKey("people.Record", on_delete=models.CASCADE, related_name="+")
    record_b = models.ForeignKey("people.Record", on_delete=models.CASCADE, related_name="+")
    # Records never change team, so this is fixed at storing time; it decides who reviews the pair.
    cross_team = models.BooleanField(default=False)
    match_probability = models.FloatField()
    match_weight = models.FloatField()
    gamma = models.JSONField(default=dict)  # comparison name → level; codes only, no plaintext
    status = models.CharField(max_length=10, choices=PairStatus.choices, default=PairStatus.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(record_a__lt=models.F("record_b")), name="pair_ordered"
            ),
            models.UniqueConstraint(fields=["run", "record_a", "record_b"], name="pair_unique_in_run"),
        ]
        indexes = [models.Index(fields=["status", "cross_team"])]


class PairDecision(Sealed):
    """One reviewer's decision on a pair, for one side (``team``): a same-team pair needs one, a
    cross-team pair one per team. The note may name people, so it is sealed."""

    id = id_field()
    pair = models.ForeignKey(CandidatePair, on_delete=models.CASCADE, related_name="decisions")
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision = models.CharField(max_length=10, choices=Decision.choices)
    note_enc = sealed_field()
    at = models.DateTimeField()


class MergeEvent(models.Model):
    """A merge (records moved into ``to_person``), a link (two records of two teams declared the same
    human, nothing moved), or the undo of one (``undoes``).

    ``from_persons`` / ``to_persons`` map record id → person id (or None) before and after the event.
    """

    id = id_field()
    kind = models.CharField(max_length=10, choices=EventKind.choices)
    run = models.ForeignKey(LinkRun, null=True, on_delete=models.SET_NULL, related_name="+")
    pair = models.ForeignKey(CandidatePair, null=True, on_delete=models.SET_NULL, related_name="+")
    undoes = models.OneToOneField(
        "self", null=True, on_delete=models.PROTECT, related_name="undone_by", db_index=True
    )
    records = models.JSONField(default=list)
    from_persons = models.JSONField(default=dict)
    to_persons = models.JSONField(default=dict)
    to_person = models.ForeignKey("people.Person", null=True, on_delete=models.SET_NULL, related_name="+")
    # The merge's team; for a link, the first record's team, and other_team the second's.
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="+")
    other_team = models.ForeignKey("accounts.Team", null=True, on_delete=models.PROTECT, related_name="+")
    involved = models.ManyToManyField("people.Person", related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
