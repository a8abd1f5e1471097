"""schemathesis against the API's own OpenAPI schema, in-process through Django's WSGI application, as the
demo's caseworker (Bearer token, team 0) on a small demo plus a canary dossier of another team (team 1).

Every operation gets a bounded number of derandomized examples, positive and negative. Path parameters
and team ids are swapped, now and then, for real ids of both teams, so the gates are probed with ids that
exist: no answer may be a 5xx, and none may carry a canary of the other team.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from kartoteka.accounts import services as account_services
from kartoteka.accounts.models import Team, User
from kartoteka.api.testing import Dossier, dossier_plant, leaks
from kartoteka.casework.models import Case, Incident, Promise, Source
from kartoteka.demo.generate import TEAM_NAMES, demo_load
from kartoteka.people.models import Person
from kartoteka.registry.models import Facility

EXAMPLES_PER_OPERATION = 10


@contextmanager
def connection_kept() -> Iterator[None]:
    """As Django's test client does: a request must not close the connection that holds the test's
    transaction (close_old_connections would, since autocommit is off inside it)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _id_pools(own_team: Team, other: Dossier) -> dict[str, list[str]]:
    """Per path parameter: a few ids of the caller's team and every id of the other team's dossier."""

    def own(model: Any, **where: Any) -> list[str]:
        return [str(i) for i in model.objects.filter(**where).order_by("id").values_list("id", flat=True)[:3]]

    return {
        "person_id": [*own(Person, team=own_team), str(other.person_id), str(other.sibling_id)],
        "incident_id": [*own(Incident, team=own_team), str(other.incident_id)],
        "source_id": [*own(Source, team=own_team), str(other.source_id)],
        "case_id": [*own(Case, team=own_team), str(other.case_id)],
        "promise_id": [*own(Promise, person__team=own_team), str(other.promise_id)],
        "facility_id": [str(f) for f in Facility.objects.order_by("key").values_list("id", flat=True)[:2]],
        "team_id": [str(own_team.id), str(other.team.id)],
    }


def _aim(case: Any, pools: dict[str, list[str]], pick: int) -> None:
    """Point a generated case at real ids: ``pick`` indexes every pool (modulo); negative leaves it be."""
    if pick < 0:
        return
    for name in list(case.path_parameters or {}):
        if name in pools:
            case.path_parameters[name] = pools[name][pick % len(pools[name])]
    if isinstance(case.body, dict) and "team_id" in case.body:
        case.body["team_id"] = pools["team_id"][pick % 2]


@pytest.mark.django_db
@override_settings(ALLOWED_HOSTS=["localhost"])  # schemathesis's WSGI client sends Host: localhost
def test_it_answers_generated_requests_without_5xx_or_another_teams_data(agent_ready: object) -> None:
    demo_load(persons=60, seed=1)
    caseworker = User.objects.get(username="demo-caseworker")
    own_team, other_team = (Team.objects.get(name=n) for n in TEAM_NAMES[:2])
    other = dossier_plant(actor=User.objects.get(username="demo-caseworker-2"), team=other_team)
    raw, _ = account_services.api_token_create(user=caseworker, name="schemathesis", days=1)
    auth = {"Authorization": f"Bearer {raw}"}
    pools = _id_pools(own_team, other)
    statuses: Counter[int] = Counter()
    leaked: list[str] = []

    with connection_kept():
        schema = schemathesis.openapi.from_wsgi("/api/openapi.json", WSGIHandler(), headers=auth)
        operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @given(case=operation.as_strategy(generation_mode=mode), pick=st.integers(-2, 5))
                @hypothesis_settings(
                    max_examples=EXAMPLES_PER_OPERATION,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                def probe(case: Any, pick: int) -> None:
                    _aim(case, pools, pick)
                    response = case.call(headers=auth)
                    statuses[response.status_code] += 1
                    where = f"{case.method} {case.formatted_path}"
                    assert response.status_code < 500, f"{where}: {response.status_code}"
                    found = leaks(response.content, other.canaries)
                    if found:
                        leaked.append(f"{where}: {', '.join(found)}")
                    assert not found, where

                probe()

    assert not leaked
    # The run reached real objects and real writes, not only 404s and 422s.
    assert statuses[200] > 0 and statuses[201] > 0 and statuses[404] > 0 and statuses[422] > 0
    paths = {re.sub(r"\{\w+\}", "{}", o.path) for o in operations}
    assert len(paths) >= 15, paths
