"""Access gates for declared lists and saved estimates (the same rules as accounts/access.py).

A declared list is visible exactly when its source is; a saved estimate to members of its team, and, once
approved, to every staff member (it holds figures only). Missing and forbidden answer the same NotFound.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from kartoteka.accounts import access
from kartoteka.accounts.models import User
from kartoteka.estimation.models import DeclaredList, SavedEstimate


def declared_list_list_for_user(user: User) -> QuerySet[DeclaredList]:
    sources = access.source_list_for_user(user).values("id")
    return DeclaredList.objects.filter(source_id__in=sources)


def declared_list_get_for_user(user: User, list_id: uuid.UUID | str) -> DeclaredList:
    try:
        return declared_list_list_for_user(user).get(pk=list_id)
    except (DeclaredList.DoesNotExist, ValidationError, ValueError) as exc:
        raise access.NotFound from exc


def saved_estimate_list_for_user(user: User) -> QuerySet[SavedEstimate]:
    if not user.is_active:
        return SavedEstimate.objects.none()
    teams = list(user.teams.values_list("id", flat=True))
    return SavedEstimate.objects.filter(Q(team_id__in=teams) | Q(approved_at__isnull=False))


def saved_estimate_get_for_user(user: User, estimate_id: uuid.UUID | str) -> SavedEstimate:
    try:
        return saved_estimate_list_for_user(user).get(pk=estimate_id)
    except (SavedEstimate.DoesNotExist, ValidationError, ValueError) as exc:
        raise access.NotFound from exc
