"""The HTTP API over the gates: teammate yes, outsider 404, share-holder only what was shared, analyst no
identity (a crawl of every GET operation in the OpenAPI schema with canaries planted in every sealed field),
token life and death, token creation only from a 2FA session, the schema for staff only."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from kartoteka.accounts import services as account_services
from kartoteka.accounts.models import ApiToken, IdentityRead, User
from kartoteka.accounts.testing import login_verified
from kartoteka.api.testing import Dossier, dossier_plant, leaks
from kartoteka.lib import names
from kartoteka.registry.models import Facility
from kartoteka.testing.factories import Cast, cast_make

pytestmark = pytest.mark.django_db


@dataclass
class World:
    cast: Cast
    a: Dossier  # team A's; its case is assigned to the analyst, so "my cases" is not empty for them
    b: Dossier  # team B's (the outsider's team)


@pytest.fixture
def world(agent_ready: object) -> World:
    cast = cast_make()
    a = dossier_plant(actor=cast.owner, team=cast.team, case_assignee=cast.analyst)
    b = dossier_plant(actor=cast.outsider, team=cast.other_team)
    return World(cast, a, b)


def session(user: User) -> Client:
    client = Client()
    login_verified(client, user)
    return client


def bearer(user: User) -> Client:
    raw, _ = account_services.api_token_create(user=user, name="test", days=1)
    return Client(headers={"Authorization": f"Bearer {raw}"})


def post(client: Client, path: str, body: object) -> Any:
    return client.post(path, data=json.dumps(body), content_type="application/json")


def path_params(d: Dossier) -> dict[str, str]:
    return {
        "person_id": str(d.person_id),
        "incident_id": str(d.incident_id),
        "source_id": str(d.source_id),
        "case_id": str(d.case_id),
        "promise_id": str(d.promise_id),
        "facility_id": str(Facility.objects.order_by("key").values_list("id", flat=True)[0]),
        "name": "incident_category",
        "token_id": str(uuid.uuid4()),
    }


def crawl(
    client: Client, params: dict[str, str], *, person_ids: tuple[uuid.UUID, ...] = ()
) -> dict[str, Any]:
    """GET every operation the OpenAPI schema lists, path parameters filled from ``params``; the
    person pages once more for each of ``person_ids``."""
    schema = client.get("/api/openapi.json").json()
    answers = {}
    for template, operations in schema["paths"].items():
        if "get" not in operations:
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], template)
        answers[template] = client.get(path, {"per_page": 200} if "{" not in template else {})
        for extra in person_ids if "{person_id}" in template else ():
            answers[f"{template} ({extra})"] = client.get(path.replace(params["person_id"], str(extra)))
    return answers


# --- teammate, outsider, share-holder -----------------------------------------------------------------------


def test_it_serves_a_teammate_the_team_dossier_with_identity(world: World) -> None:
    client, a = session(world.cast.teammate), world.a
    person = client.get(f"/api/persons/{a.person_id}").json()
    assert person["full_name"].startswith(a.surname)
    assert person["records"][0]["notes"] == a.canaries["person"][3]
    promises = client.get(f"/api/persons/{a.person_id}/promises").json()
    assert [p["details"] for p in promises] == a.canaries["promise"]
    assert promises[0]["delivered_amount"] == "50000.00"
    incident = client.get(f"/api/incidents/{a.incident_id}").json()
    assert incident["description"] == a.canaries["incident"][0]
    assert incident["victim_ids"] == [str(a.person_id)] and incident["source_ids"] == [str(a.source_id)]
    assert client.get(f"/api/sources/{a.source_id}").json()["label"] == a.canaries["source"][0]
    assert client.get(f"/api/cases/{a.case_id}").json()["notes"] == a.canaries["case"][0]
    listed = client.get("/api/persons", {"per_page": 200})
    assert {i["id"] for i in listed.json()["items"]} == {str(a.person_id), str(a.sibling_id)}
    assert not leaks(listed.content, world.b.canaries)


def test_it_finds_a_person_by_a_latin_spelling_in_a_post_body(world: World) -> None:
    a = world.a
    latin = names.display_forms(f"{a.surname} Пётр Иванович")["icao_9303"]
    found = post(session(world.cast.teammate), "/api/persons/search", {"query": latin}).json()
    assert [h["person_id"] for h in found] == [str(a.person_id)]
    assert post(session(world.cast.outsider), "/api/persons/search", {"query": latin}).json() == []


def test_it_answers_an_outsider_404_for_every_object_and_every_write(world: World) -> None:
    client, a = session(world.cast.outsider), world.a
    answers = crawl(client, path_params(a))
    for template, response in answers.items():
        if "{" in template and template not in ("/api/facilities/{facility_id}", "/api/vocabularies/{name}"):
            assert response.status_code == 404, template
        assert not leaks(response.content, a.canaries), template
    record = {"full_name": "Иванов Иван"}
    writes = {
        f"/api/persons/{a.person_id}/records": record,
        f"/api/persons/{a.person_id}/statuses": {"status": "killed"},
        f"/api/persons/{a.person_id}/promises": {"kind": "pardon"},
        f"/api/promises/{a.promise_id}/deliveries": {"outcome": "delivered"},
        "/api/persons": {**record, "team_id": str(a.team.id)},
        "/api/sources": {"team_id": str(a.team.id), "kind": "media"},
        "/api/incidents": {"team_id": str(a.team.id), "categories": ["beating"]},
    }
    for path, body in writes.items():
        assert post(client, path, body).status_code == 404, path
    # A cited source or a victim of another team is just as missing.
    own = {"team_id": str(world.b.team.id), "categories": ["beating"]}
    assert post(client, "/api/incidents", {**own, "victim_ids": [str(a.person_id)]}).status_code == 404
    assert post(client, "/api/incidents", {**own, "source_ids": [str(a.source_id)]}).status_code == 404


def test_it_shows_a_share_holder_only_what_was_shared(world: World) -> None:
    cast, a = world.cast, world.a
    account_services.share_grant(actor=cast.owner, object_type="case", object_id=a.case_id, user=cast.lawyer)
    lawyer = session(cast.lawyer)
    assert lawyer.get(f"/api/cases/{a.case_id}").status_code == 200
    assert lawyer.get(f"/api/persons/{a.person_id}").json()["full_name"].startswith(a.surname)
    for path in (
        f"/api/persons/{a.sibling_id}",
        f"/api/incidents/{a.incident_id}",
        f"/api/sources/{a.source_id}",
    ):
        assert lawyer.get(path).status_code == 404, path
    for template, response in crawl(lawyer, path_params(a)).items():
        assert not leaks(response.content, a.only("sibling", "incident", "source")), template

    account_services.share_grant(
        actor=cast.owner, object_type="incident", object_id=a.incident_id, team=cast.other_team
    )
    outsider = session(cast.outsider)
    incident = outsider.get(f"/api/incidents/{a.incident_id}").json()
    assert incident["description"] == a.canaries["incident"][0]
    assert incident["victim_ids"] == [] and incident["source_ids"] == []  # a link is no share
    assert outsider.get(f"/api/persons/{a.person_id}").status_code == 404


# --- analysts ------------------------------------------------------------------------------------------------


def test_it_never_shows_an_analyst_identity_or_sealed_text(world: World) -> None:
    a = world.a
    # The control: the same crawl by a teammate finds every canary of the team, so the scan can see them.
    teammate = crawl(bearer(world.cast.teammate), path_params(a), person_ids=(a.sibling_id,))
    seen = {found for response in teammate.values() for found in leaks(response.content, a.canaries)}
    assert seen == {f"{name}#{i}" for name, strings in a.canaries.items() for i in range(len(strings))}
    client = bearer(world.cast.analyst)
    answers = crawl(client, path_params(a), person_ids=(a.sibling_id,))
    ok = {t for t, r in answers.items() if r.status_code == 200}
    for template, response in answers.items():
        assert not leaks(response.content, a.canaries | world.b.canaries), template
    # The crawl reached the team's objects, so the absence of canaries means something.
    assert {
        "/api/persons",
        "/api/persons/{person_id}",
        "/api/persons/{person_id}/promises",
        "/api/incidents/{incident_id}",
        "/api/sources/{source_id}",
        "/api/cases",
        "/api/cases/{case_id}",
    } <= ok
    person = answers["/api/persons/{person_id}"].json()
    assert person["full_name"] is None and person["records"][0]["notes"] is None
    assert answers["/api/cases"].json()["total"] == 1
    search = post(client, "/api/persons/search", {"query": a.surname})
    assert search.status_code == 404 and not leaks(search.content, a.canaries)
    assert post(client, "/api/sources", {"team_id": str(a.team.id), "kind": "media"}).status_code == 404
    assert not IdentityRead.objects.filter(user=world.cast.analyst).exists()


def test_it_logs_identity_reads_for_answers_that_carry_identity(world: World) -> None:
    user, a = world.cast.teammate, world.a
    client = bearer(user)
    client.get(f"/api/incidents/{a.incident_id}")
    assert not IdentityRead.objects.filter(user=user).exists()  # victims by id only: no identity shown
    client.get(f"/api/persons/{a.person_id}")
    client.get("/api/persons")
    reads = list(IdentityRead.objects.filter(user=user).values_list("person_id", flat=True))
    assert sorted(reads) == sorted([a.person_id, a.person_id, a.sibling_id])


# --- writes and validation ----------------------------------------------------------------------------------


def test_it_creates_through_the_services_for_a_teammate(world: World) -> None:
    client, a = bearer(world.cast.teammate), world.a
    team = str(a.team.id)
    source = post(client, "/api/sources", {"team_id": team, "kind": "media", "label": "газета"})
    assert source.status_code == 201 and source.json()["label"] == "газета"
    person = post(
        client,
        "/api/persons",
        {
            "team_id": team,
            "full_name": "Сидоров Олег",
            "birth_date": "весна 1990",
            "source_id": source.json()["id"],
        },
    )
    assert person.status_code == 201, person.content
    pid = person.json()["id"]
    record = post(client, f"/api/persons/{pid}/records", {"full_name": "Sidorov Oleg", "aliases": ["Олежка"]})
    assert record.status_code == 201 and record.json()["aliases"] == ["Олежка"]
    status = post(client, f"/api/persons/{pid}/statuses", {"status": "killed", "date": "2024-02"})
    assert status.status_code == 201 and status.json()["date"] == "2024-02"
    promise = post(client, f"/api/persons/{pid}/promises", {"kind": "pardon", "amount": "10.50"})
    assert promise.status_code == 201
    delivery = post(
        client, f"/api/promises/{promise.json()['id']}/deliveries", {"outcome": "delivered", "amount": 4}
    )
    assert delivery.status_code == 201 and delivery.json()["delivered_amount"] == "4.00"
    incident = post(
        client, "/api/incidents", {"team_id": team, "categories": ["beating"], "victim_ids": [pid]}
    )
    assert incident.status_code == 201 and incident.json()["victim_ids"] == [pid]
    got = client.get(f"/api/persons/{pid}").json()
    assert got["status"] == "killed" and len(got["records"]) == 2


def test_it_answers_422_with_the_field_and_never_the_input(world: World) -> None:
    client, team = bearer(world.cast.teammate), str(world.a.team.id)
    secret = "Секретов Тайна Ивановна"
    cases = [
        ({"team_id": team, "full_name": "Иванов", "sex": secret}, ["body", "sex"]),
        ({"team_id": team, "full_name": "Иванов", "birth_date": secret}, ["body", "birth_date"]),
        ({"team_id": team, "full_name": "Иванов", "status": "no_such_status"}, ["body", "status"]),
        ({"team_id": secret, "full_name": "Иванов"}, ["body", "team_id"]),
        ({"team_id": team, "full_name": "Иванов\x00"}, ["body", "full_name"]),
    ]
    for body, loc in cases:
        response = post(client, "/api/persons", body)
        assert response.status_code == 422, body
        assert loc in [e["loc"] for e in response.json()["detail"]], response.json()
        assert not leaks(response.content, {"secret": [secret, "Секретов"]})
    assert client.get("/api/persons", {"region": secret}).status_code == 422


# --- tokens, sessions, the schema --------------------------------------------------------------------------


def test_it_refuses_anonymous_callers_with_401(world: World) -> None:
    for path in (
        "/api/persons",
        f"/api/persons/{world.a.person_id}",
        "/api/vocabularies",
        "/api/openapi.json",
    ):
        assert Client().get(path).status_code == 401, path
    assert Client(headers={"Authorization": "Bearer kt_forged"}).get("/api/persons").status_code == 401


def test_it_creates_a_token_in_a_2fa_session_that_works_until_revoked(world: World) -> None:
    user = world.cast.teammate
    created = post(session(user), "/api/tokens", {"name": "script", "days": 7})
    assert created.status_code == 201 and created["Cache-Control"] == "no-store"
    body = created.json()
    assert body["live"] and body["token"].startswith(account_services.TOKEN_PREFIX)
    assert not ApiToken.objects.filter(token_hash__contains=body["token"]).exists()
    client = Client(headers={"Authorization": f"Bearer {body['token']}"})
    assert client.get("/api/persons").status_code == 200
    assert [t["id"] for t in client.get("/api/tokens").json()] == [body["id"]]
    assert "token" not in client.get("/api/tokens").json()[0]
    assert client.delete(f"/api/tokens/{body['id']}").status_code == 204
    assert client.get("/api/persons").status_code == 401


def test_it_refuses_expired_tokens_and_those_of_deactivated_users_at_once(world: World) -> None:
    cast = world.cast
    raw, token = account_services.api_token_create(user=cast.teammate, name="t", days=1)
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    assert client.get("/api/persons").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get("/api/persons").status_code == 401

    client = bearer(cast.teammate)
    assert client.get("/api/persons").status_code == 200
    coordinator = User.objects.create_user(username="coord", password="x", role="coordinator")
    account_services.membership_add(actor=None, user=coordinator, team=cast.team)
    account_services.user_deactivate(actor=coordinator, user=cast.teammate)
    assert client.get("/api/persons").status_code == 401


def test_it_refuses_to_make_a_token_from_a_token_or_without_a_second_factor(world: World) -> None:
    user = world.cast.teammate
    before = ApiToken.objects.count()
    from_token = post(bearer(user), "/api/tokens", {"name": "more", "days": 7})
    assert from_token.status_code == 403 and "token" not in from_token.json()
    password_only = Client()
    password_only.force_login(user)
    assert post(password_only, "/api/tokens", {"name": "more", "days": 7}).status_code == 401
    assert ApiToken.objects.count() == before + 1  # only the one bearer() made
    other = bearer(world.cast.outsider)
    mine = account_services.api_token_create(user=user, name="mine", days=1)[1]
    assert other.delete(f"/api/tokens/{mine.id}").status_code == 404
    mine.refresh_from_db()
    assert mine.revoked_at is None


def test_it_requires_the_csrf_token_for_session_writes(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    login_verified(client, world.cast.teammate)
    assert client.get("/api/persons").status_code == 200
    body = {"team_id": str(world.a.team.id), "kind": "media"}
    assert post(client, "/api/sources", body).status_code == 403
    # A bearer request carries no cookie to forge, so it needs no CSRF token.
    raw, _ = account_services.api_token_create(user=world.cast.teammate, name="t", days=1)
    tokened = Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {raw}"})
    assert post(tokened, "/api/sources", body).status_code == 201


def test_it_serves_the_openapi_schema_to_staff_only_and_no_docs_page(world: World) -> None:
    assert Client().get("/api/openapi.json").status_code == 401
    password_only = Client()
    password_only.force_login(world.cast.teammate)
    assert password_only.get("/api/openapi.json").status_code == 401
    for client in (session(world.cast.teammate), bearer(world.cast.analyst)):
        schema = client.get("/api/openapi.json").json()
        assert "/api/persons/{person_id}" in schema["paths"]
        assert {"BearerAuth", "VerifiedSessionAuth"} <= set(schema["components"]["securitySchemes"])
    assert session(world.cast.teammate).get("/api/docs").status_code == 404


def test_it_lists_vocabularies_with_both_labels_and_facilities(world: World) -> None:
    client = bearer(world.cast.teammate)
    category = client.get("/api/vocabularies/incident_category").json()
    beating = next(t for t in category["terms"] if t["code"] == "beating")
    assert beating["ru"] and beating["en"] and beating["ru"] != beating["en"]
    assert client.get("/api/vocabularies/no_such_vocabulary").status_code == 404
    assert len(client.get("/api/vocabularies").json()) >= 10
    facilities = client.get("/api/facilities", {"per_page": 5}).json()
    assert len(facilities["items"]) == 5 and facilities["total"] == Facility.objects.count()
    first = facilities["items"][0]
    assert client.get(f"/api/facilities/{first['id']}").json()["key"] == first["key"]
    assert client.get(f"/api/facilities/{uuid.uuid4()}").status_code == 404
