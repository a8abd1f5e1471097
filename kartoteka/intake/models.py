"""What the public intake stores: sealed blobs, random ids and days. Nothing here needs a private key.

No column holds an IP address, a user agent or a time finer than a day; ids are UUIDv4 (no time in them).
A reporter's codename is kept only as a slow-hash tag (kartoteka.lib.intakekeys). These models have no
foreign keys to other apps, so the public host installs this app alone.
"""

from __future__ import annotations

import uuid

from django.db import models


def opaque_id() -> uuid.UUID:
    return uuid.uuid4()


class Status(models.TextChoices):
    NEW = "new", "new"
    READ = "read", "read"
    TRIAGED = "triaged", "triaged"
    CLOSED = "closed", "closed"


class Kind(models.TextChoices):
    REPORT = "report", "report"
    FOLLOWUP = "followup", "follow-up"


class Reporter(models.Model):
    """One codename. On the casework side of a split deployment only ``reply_recipient`` is filled."""

    id = models.UUIDField(primary_key=True, default=opaque_id, editable=False)
    tag = models.BinaryField(null=True, unique=True, editable=False)  # slow hash of the codename
    reply_recipient = models.CharField(max_length=100)  # age public key: staff replies are sealed to it
    reply_secret_wrapped = models.BinaryField(null=True, editable=False)  # under the codename's reply key
    created_day = models.DateField()


class Submission(models.Model):
    """A report or a follow-up, sealed with age to the triage recipients and the recovery recipient."""

    id = models.UUIDField(primary_key=True, default=opaque_id, editable=False)
    reporter = models.ForeignKey(Reporter, on_delete=models.PROTECT, related_name="submissions")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REPORT)
    received_day = models.DateField(db_index=True)
    sealed = models.BinaryField(editable=False)
    size = models.PositiveBigIntegerField(default=0)  # sealed bytes with files, for the disk quota
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)


class SubmissionFile(models.Model):
    """One uploaded file, sealed whole to the same recipients as its submission. Its name, type and
    SHA-256 travel inside the submission's sealed envelope, under this row's id."""

    id = models.UUIDField(primary_key=True, default=opaque_id, editable=False)
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="files")
    sealed = models.BinaryField(editable=False)
    vault_item = models.CharField(max_length=40, blank=True, default="")  # set once moved into the vault


class Reply(models.Model):
    """A staff reply, sealed to the reporter's reply recipient (and the triage recipients, for the
    thread). ``delivered`` is set on the casework side once a split intake host has it."""

    id = models.UUIDField(primary_key=True, default=opaque_id, editable=False)
    reporter = models.ForeignKey(Reporter, on_delete=models.CASCADE, related_name="replies")
    day = models.DateField()
    sealed = models.BinaryField(editable=False)
    delivered = models.BooleanField(default=False)


class Recipient(models.Model):
    """A public key new submissions are sealed to. Triage keys add and revoke theirs here; a split intake
    host receives the set with each pull."""

    recipient = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, default="triage")  # triage | recovery
    active = models.BooleanField(default=True)
