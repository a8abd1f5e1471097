"""The gate for import runs and their quarantine: staff of the run's team who may see identities and write.

Analysts never see a quarantined row (it holds names); a run of another team is NotFound, like a missing one.
"""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from kartoteka.accounts.access import WRITING_ROLES, NotFound, sees_identities
from kartoteka.accounts.models import User
from kartoteka.imports.models import ImportRun


def import_run_list_for_user(user: User) -> QuerySet[ImportRun]:
    if not (user.is_authenticated and sees_identities(user) and user.role in WRITING_ROLES):
        return ImportRun.objects.none()
    return ImportRun.objects.filter(team__in=user.teams.values_list("id", flat=True))


def import_run_get_for_user(user: User, run_id: uuid.UUID | str) -> ImportRun:
    try:
        return import_run_list_for_user(user).get(pk=run_id)
    except (ImportRun.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound from exc
