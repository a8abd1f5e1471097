"""Batch reads the caseworkers' pages need beyond the selectors: the names of a page's persons at once."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from kartoteka.accounts import access, services
from kartoteka.accounts.models import User
from kartoteka.people import selectors


def names_of(user: User, person_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Each visible person's name from their first record (one decrypt batch), logged as identity reads.

    Empty for analysts: they see no names, so nothing is read or logged.
    """
    ids = list(dict.fromkeys(person_ids))
    if not ids or not access.sees_identities(user):
        return {}
    found = selectors.first_names(user, ids)
    if found:
        services.identity_reads_log(user=user, person_ids=list(found))
    return found
