"""The dashboard's "visible to you" counts per viewer: the owner and a teammate see their team's part, an
outsider their own team's and what was shared with them, the whole installation only when named, and no
viewer nothing."""

from __future__ import annotations

import secrets
from datetime import date
from pathlib import Path

import pytest

from kartoteka.accounts.models import Team, User
from kartoteka.accounts.services import share_grant
from kartoteka.casework import services as casework
from kartoteka.casework.models import Incident
from kartoteka.lib.partialdate import parse
from kartoteka.people.services import PersonInput, person_create
from kartoteka.reports import selectors, services
from kartoteka.reports.selectors import WHOLE_INSTALLATION, Count, Filters
from kartoteka.testing.factories import Cast, cast_make


def _incident(actor: User, team: Team) -> Incident:
    return casework.incident_create(
        actor=actor, team=team, date=parse("2024-02-10"), categories=["beating"], verification="unverified"
    )


@pytest.fixture
def cast(agent_ready: Path, db: None) -> Cast:
    """Three incidents of the owner's team (one shared with the outsider), one of the outsider's team, and
    one person of the owner's team; the summaries built over them."""
    cast = cast_make()
    shared = _incident(cast.owner, cast.team)
    _incident(cast.owner, cast.team)
    _incident(cast.teammate, cast.team)
    _incident(cast.outsider, cast.other_team)
    share_grant(actor=cast.owner, object_type="incident", object_id=shared.id, user=cast.outsider)
    person_create(
        actor=cast.owner, team=cast.team, data=PersonInput(full_name="Синтетический " + secrets.token_hex(3))
    )
    services.summaries_refresh()
    return cast


@pytest.mark.django_db
def test_it_counts_for_the_owner_a_teammate_and_an_outsider(cast: Cast) -> None:
    counts = {
        name: selectors.dashboard_counts(user=viewer, filters=Filters())
        for name, viewer in (("owner", cast.owner), ("teammate", cast.teammate), ("outsider", cast.outsider))
    }
    assert counts["owner"].incidents == Count(total=4, visible=3)
    assert counts["teammate"].incidents == Count(total=4, visible=3)  # the team's, not only their own
    assert counts["outsider"].incidents == Count(total=4, visible=2)  # their team's and the one shared
    assert counts["owner"].persons == counts["teammate"].persons == Count(total=1, visible=1)
    assert counts["outsider"].persons == Count(total=1, visible=0)
    full = selectors.dashboard(user=cast.outsider, filters=Filters(), today=date(2024, 3, 1))
    assert (full.incidents, full.persons) == (counts["outsider"].incidents, counts["outsider"].persons)


@pytest.mark.django_db
def test_it_counts_everything_visible_only_for_the_whole_installation_named(cast: Cast) -> None:
    whole = selectors.dashboard_counts(user=WHOLE_INSTALLATION, filters=Filters())
    assert (whole.incidents, whole.persons) == (Count(4, 4), Count(1, 1))
    nobody = selectors.dashboard_counts(user=None, filters=Filters())
    assert (nobody.incidents, nobody.persons, nobody.ledger) == (Count(4, 0), Count(1, 0), Count(0, 0))
    assert not any(c.visible for c in (nobody.recruitments, nobody.visits))
    cast.owner.is_active = False
    cast.owner.save(update_fields=["is_active"])
    gone = selectors.dashboard_counts(user=cast.owner, filters=Filters())
    assert (gone.incidents, gone.persons) == (Count(4, 0), Count(1, 0))
