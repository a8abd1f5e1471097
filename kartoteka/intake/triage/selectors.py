"""Reads of triage keys, behind one access gate: an admin sees every key, anyone else only their own."""

from __future__ import annotations

import uuid

from kartoteka.accounts import access
from kartoteka.accounts.models import Role, User
from kartoteka.intake.triage.models import TriageKey


def triage_key_list_for_user(*, user: User) -> list[TriageKey]:
    """Keys ``user`` may see, newest first (active before revoked on the same day)."""
    if not user.is_active:
        return []
    keys = TriageKey.objects.select_related("user").order_by("-created_day", "revoked_day", "user__username")
    if user.role != Role.ADMIN:
        keys = keys.filter(user=user)
    return list(keys)


def triage_key_get_for_user(*, user: User, key_id: uuid.UUID | str) -> TriageKey:
    """One key, or :class:`access.NotFound` alike for a missing key and someone else's."""
    try:
        key_uuid = uuid.UUID(str(key_id))
    except ValueError:
        raise access.NotFound from None
    keys = TriageKey.objects.select_related("user").filter(pk=key_uuid)
    if user.role != Role.ADMIN:
        keys = keys.filter(user=user)
    key = keys.first() if user.is_active else None
    if key is None:
        raise access.NotFound
    return key
