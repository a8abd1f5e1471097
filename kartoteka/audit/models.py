"""The audit tables belong to kartoteka.lib.audit (raw SQL, append-only triggers); these models only read."""

from __future__ import annotations

from django.db import models


class AuditEntry(models.Model):
    seq = models.BigIntegerField(primary_key=True)
    time = models.TextField()
    actor = models.TextField()
    action = models.TextField()
    object_type = models.TextField()
    object_id = models.TextField()
    details = models.TextField(null=True)
    key_version = models.IntegerField()
    prev_hash = models.TextField()
    entry_hash = models.TextField()
    signature = models.TextField()

    class Meta:
        managed = False
        db_table = "audit_entry"
