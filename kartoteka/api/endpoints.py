"""The HTTP API: thin doors onto the same selectors, services and gates as the web UI.

Each view reads through a selector (which starts from an access gate) or writes through a service (which
checks the gate itself), so the API cannot see or change more than the pages can. Missing and forbidden
are both 404. Responses that show a person's identity fields are recorded with identity_reads_log.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Query, Router, Status
from ninja.errors import HttpError

from kartoteka.accounts import access, otp
from kartoteka.accounts import selectors as account_selectors
from kartoteka.accounts import services as account_services
from kartoteka.accounts.models import ApiToken, Team, User
from kartoteka.api import schemas as s
from kartoteka.api.security import (
    AUTH,
    Invalid,
    caller,
    handlers_install,
    service_errors,
    staff_only,
    via_token,
)
from kartoteka.casework import selectors as casework_selectors
from kartoteka.casework import services as casework_services
from kartoteka.casework.models import Promise
from kartoteka.estimation import api as estimation_api
from kartoteka.law import selectors as law_selectors
from kartoteka.lib import vocab
from kartoteka.lib.partialdate import PartialDate, PartialDateError, parse
from kartoteka.people import selectors as people_selectors
from kartoteka.people import services as people_services
from kartoteka.people.models import Person
from kartoteka.registry import selectors as registry_selectors

NOT_FOUND: dict[int | str, Any] = {404: s.Message}


def _identity_shown(user: User, person_ids: Iterable[uuid.UUID | None]) -> None:
    if access.sees_identities(user):
        account_services.identity_reads_log(user=user, person_ids=[p for p in person_ids if p is not None])


def _partial_date(field: str, text: str) -> PartialDate | None:
    if not text.strip():
        return None
    try:
        return parse(text)
    except PartialDateError:
        raise Invalid(field, "not a recognised date") from None


def _team(team_id: uuid.UUID) -> Team:
    # Only the lookup: whether the caller may write for this team is the service's decision.
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        raise access.NotFound
    return team


def _page_meta(page: int, per_page: int, total: int) -> dict[str, Any]:
    return {"page": page, "per_page": per_page, "total": total, "has_next": page * per_page < total}


# --- persons -------------------------------------------------------------------------------------------------

persons = Router(tags=["persons"])


@persons.post("/search", response={200: list[s.PersonHitOut], **NOT_FOUND})
def person_search(request: HttpRequest, body: s.PersonSearchIn) -> list[people_selectors.PersonHit]:
    """Name search in any spelling; the query travels in the body, never in a URL. Not for analysts."""
    user = caller(request)
    hits = people_selectors.person_find(
        user=user, query=body.query, limit=body.limit, birth_year=body.birth_year
    )
    _identity_shown(user, (h.person_id for h in hits))
    return hits


@persons.get("", response=s.PersonPageOut)
def person_list(request: HttpRequest, filters: Query[s.PersonFilters]) -> people_selectors.PersonPage:
    user = caller(request)
    page = people_selectors.person_list(
        user=user,
        region=filters.region,
        facility=filters.facility,
        recruiter=filters.recruiter,
        status=filters.status,
        team=filters.team,
        page=filters.page,
        per_page=filters.per_page,
    )
    _identity_shown(user, (p.id for p in page.items if p.full_name is not None))
    return page


@persons.get("/{person_id}", response={200: s.PersonOut, **NOT_FOUND})
def person_get(request: HttpRequest, person_id: uuid.UUID) -> people_selectors.PersonView:
    user = caller(request)
    view = people_selectors.person_get(user=user, person_id=person_id)
    _identity_shown(user, [view.id])
    return view


def _person_input(body: s.RecordIn) -> people_services.PersonInput:
    return people_services.PersonInput(
        full_name=body.full_name,
        aliases=tuple(body.aliases),
        birth_date=_partial_date("birth_date", body.birth_date),
        sex=body.sex,
        home_region_code=body.home_region_code,
        facility_id=body.facility_id,
        articles=tuple(body.articles),
        sentence_months=body.sentence_months,
        status=body.status,
        notes=body.notes,
        source_id=body.source_id,
    )


@persons.post("", response={201: s.PersonOut, **NOT_FOUND})
def person_create(request: HttpRequest, body: s.PersonIn) -> Status[people_selectors.PersonView]:
    user = caller(request)
    with service_errors():
        person = people_services.person_create(actor=user, team=_team(body.team_id), data=_person_input(body))
    view = people_selectors.person_get(user=user, person_id=person.id)
    _identity_shown(user, [view.id])
    return Status(201, view)


def _person_for_write(user: User, person_id: uuid.UUID) -> Person:
    return access.person_get_for_user(user, person_id, write=True)


@persons.post("/{person_id}/records", response={201: s.RecordOut, **NOT_FOUND})
def record_add(
    request: HttpRequest, person_id: uuid.UUID, body: s.RecordIn
) -> Status[people_selectors.RecordView]:
    """Another source's report of the same person."""
    user = caller(request)
    with service_errors():
        record = people_services.record_add(
            actor=user, person=_person_for_write(user, person_id), data=_person_input(body)
        )
    view = people_selectors.record_get(user=user, record_id=record.id)
    _identity_shown(user, [view.person_id])
    return Status(201, view)


@persons.post("/{person_id}/statuses", response={201: s.StatusOut, **NOT_FOUND})
def status_add(
    request: HttpRequest, person_id: uuid.UUID, body: s.StatusIn
) -> Status[people_selectors.StatusView]:
    user = caller(request)
    with service_errors():
        entry = people_services.status_add(
            actor=user,
            person=_person_for_write(user, person_id),
            status=body.status,
            date=_partial_date("date", body.date),
            source_id=body.source_id,
        )
    return Status(201, people_selectors.status_entry_get(user=user, entry_id=entry.id))


@persons.get("/{person_id}/promises", response={200: list[s.PromiseOut], **NOT_FOUND})
def promise_list(request: HttpRequest, person_id: uuid.UUID) -> list[casework_selectors.PromiseView]:
    """The person's promises, each with its deliveries and the amount delivered."""
    return casework_selectors.promise_list(user=caller(request), person_id=person_id)


@persons.get("/{person_id}/ledger", response={200: s.PersonLedgerOut, **NOT_FOUND})
def person_ledger(
    request: HttpRequest, person_id: uuid.UUID, query: Query[s.LedgerLangIn]
) -> law_selectors.PersonLedger:
    """The person's ledger evaluated today, explained in ``lang`` (default: the request's language)."""
    return law_selectors.ledger_for_person(user=caller(request), person_id=person_id, lang=query.lang)


def _promise_view(user: User, promise: Promise) -> casework_selectors.PromiseView:
    views = casework_selectors.promise_list(user=user, person_id=promise.person_id)
    return next(v for v in views if v.id == promise.id)


@persons.post("/{person_id}/promises", response={201: s.PromiseOut, **NOT_FOUND})
def promise_create(
    request: HttpRequest, person_id: uuid.UUID, body: s.PromiseIn
) -> Status[casework_selectors.PromiseView]:
    user = caller(request)
    with service_errors():
        promise = casework_services.promise_create(
            actor=user,
            person=_person_for_write(user, person_id),
            kind=body.kind,
            amount=body.amount,
            currency=body.currency,
            due=_partial_date("due", body.due),
            condition=body.condition,
            promised_by=body.promised_by,
            details=body.details,
            recruitment_id=body.recruitment_id,
            source_id=body.source_id,
        )
    return Status(201, _promise_view(user, promise))


promises = Router(tags=["promises"])


@promises.post("/{promise_id}/deliveries", response={201: s.PromiseOut, **NOT_FOUND})
def delivery_create(
    request: HttpRequest, promise_id: uuid.UUID, body: s.DeliveryIn
) -> Status[casework_selectors.PromiseView]:
    """Record what was delivered against a promise; answers with the promise and all its deliveries."""
    user = caller(request)
    promise = access.promise_get_for_user(user, promise_id, write=True)
    with service_errors():
        casework_services.delivery_create(
            actor=user,
            promise=promise,
            outcome=body.outcome,
            amount=body.amount,
            date=_partial_date("date", body.date),
            source_id=body.source_id,
        )
    return Status(201, _promise_view(user, promise))


# --- incidents -----------------------------------------------------------------------------------------------

incidents = Router(tags=["incidents"])


@incidents.get("", response={200: s.IncidentPageOut})
def incident_list(
    request: HttpRequest, filters: Query[s.IncidentFilters]
) -> casework_selectors.Page[casework_selectors.IncidentView]:
    return casework_selectors.incident_list(
        user=caller(request),
        facility=filters.facility,
        region=filters.region,
        category=filters.category,
        date_from=filters.date_from,
        date_to=filters.date_to,
        verification=filters.verification,
        page=filters.page,
        per_page=filters.per_page,
    )


@incidents.get("/{incident_id}", response={200: s.IncidentOut, **NOT_FOUND})
def incident_get(request: HttpRequest, incident_id: uuid.UUID) -> casework_selectors.IncidentView:
    return casework_selectors.incident_get(user=caller(request), id=incident_id)


@incidents.post("", response={201: s.IncidentOut, **NOT_FOUND})
def incident_create(request: HttpRequest, body: s.IncidentIn) -> Status[casework_selectors.IncidentView]:
    user = caller(request)
    with service_errors():
        incident = casework_services.incident_create(
            actor=user,
            team=_team(body.team_id),
            facility_id=body.facility_id,
            region_code=body.region_code,
            date=_partial_date("date", body.date),
            categories=body.categories,
            victim_ids=body.victim_ids,
            victim_count=body.victim_count,
            perpetrator_roles=body.perpetrator_roles,
            officials=body.officials,
            description=body.description,
            verification=body.verification,
            source_ids=body.source_ids,
        )
    return Status(201, casework_selectors.incident_get(user=user, id=incident.id))


# --- sources -------------------------------------------------------------------------------------------------

sources = Router(tags=["sources"])


@sources.get("", response={200: s.SourcePageOut})
def source_list(
    request: HttpRequest, filters: Query[s.SourceFilters]
) -> casework_selectors.Page[casework_selectors.SourceView]:
    return casework_selectors.source_list(
        user=caller(request), kind=filters.kind, page=filters.page, per_page=filters.per_page
    )


@sources.get("/{source_id}", response={200: s.SourceOut, **NOT_FOUND})
def source_get(request: HttpRequest, source_id: uuid.UUID) -> casework_selectors.SourceView:
    return casework_selectors.source_get(user=caller(request), id=source_id)


@sources.post("", response={201: s.SourceOut, **NOT_FOUND})
def source_create(request: HttpRequest, body: s.SourceIn) -> Status[casework_selectors.SourceView]:
    user = caller(request)
    with service_errors():
        source = casework_services.source_create(
            actor=user,
            team=_team(body.team_id),
            kind=body.kind,
            reliability=body.reliability,
            language=body.language,
            consent=body.consent,
            label=body.label,
            contact=body.contact,
        )
    return Status(201, casework_selectors.source_get(user=user, id=source.id))


# --- cases ---------------------------------------------------------------------------------------------------

cases = Router(tags=["cases"])


@cases.get("", response={200: s.CasePageOut})
def case_list(
    request: HttpRequest, filters: Query[s.CaseFilters]
) -> casework_selectors.Page[casework_selectors.CaseView]:
    """My cases: assigned to me and visible to me, nearest deadline first."""
    return casework_selectors.case_list(
        user=caller(request),
        include_closed=filters.include_closed,
        page=filters.page,
        per_page=filters.per_page,
    )


@cases.get("/{case_id}", response={200: s.CaseOut, **NOT_FOUND})
def case_get(request: HttpRequest, case_id: uuid.UUID) -> casework_selectors.CaseView:
    return casework_selectors.case_get(user=caller(request), id=case_id)


# --- reference data --------------------------------------------------------------------------------------------

reference = Router(tags=["reference"])


@reference.get("/facilities", response={200: s.FacilityPageOut})
def facility_list(request: HttpRequest, filters: Query[s.FacilityFilters]) -> dict[str, Any]:
    found = registry_selectors.facility_list(
        region=filters.region, type=filters.type, confidence=filters.confidence
    )
    start = (filters.page - 1) * filters.per_page
    return {
        "items": found[start : start + filters.per_page],
        **_page_meta(filters.page, filters.per_page, len(found)),
    }


@reference.get("/facilities/{facility_id}", response={200: s.FacilityOut, **NOT_FOUND})
def facility_get(request: HttpRequest, facility_id: uuid.UUID) -> registry_selectors.FacilityView:
    return registry_selectors.facility_get(facility_id)


@reference.get("/regions", response={200: list[s.RegionOut]})
def region_list(request: HttpRequest) -> list[registry_selectors.RegionView]:
    return registry_selectors.region_list()


@reference.get("/vocabularies", response={200: list[s.VocabularyOut]})
def vocabulary_list(request: HttpRequest) -> list[vocab.Vocabulary]:
    """Every vocabulary with all its terms (retired ones marked), labelled in Russian and English."""
    loaded = vocab.load()
    return [loaded[name] for name in loaded.names()]


@reference.get("/vocabularies/{name}", response={200: s.VocabularyOut, **NOT_FOUND})
def vocabulary_get(request: HttpRequest, name: str) -> vocab.Vocabulary:
    return vocab.load()[name]


# --- tokens ----------------------------------------------------------------------------------------------------

tokens = Router(tags=["tokens"])


@tokens.get("", response={200: list[s.TokenOut]})
def token_list(request: HttpRequest) -> list[account_selectors.TokenView]:
    """The caller's own tokens (never the token itself, which is not stored)."""
    return account_selectors.api_token_list(user=caller(request))


@tokens.post("", response={201: s.TokenCreatedOut, 403: s.Message})
def token_create(request: HttpRequest, body: s.TokenIn) -> Status[dict[str, Any]]:
    """A new token, from a session that passed the second factor; never from another token."""
    user = caller(request)
    if via_token(request) or not otp.is_verified(user):
        raise HttpError(403, "tokens are created from a signed-in session with a verified second factor")
    with service_errors():
        raw, row = account_services.api_token_create(user=user, name=body.name, days=body.days)
    listed = next(t for t in account_selectors.api_token_list(user=user) if t.id == row.id)
    return Status(201, {**_token_fields(listed), "token": raw})


def _token_fields(view: account_selectors.TokenView) -> dict[str, Any]:
    return {
        "id": view.id,
        "name": view.name,
        "created_at": view.created_at,
        "expires_at": view.expires_at,
        "revoked_at": view.revoked_at,
        "live": view.live,
    }


@tokens.delete("/{token_id}", response={204: None, **NOT_FOUND})
def token_revoke(request: HttpRequest, token_id: uuid.UUID) -> Status[None]:
    user = caller(request)
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise access.NotFound
    account_services.api_token_revoke(actor=user, token=token)
    return Status(204, None)


# --- the ledger ------------------------------------------------------------------------------------------------

ledger = Router(tags=["ledger"])


@ledger.get("/overdue", response={200: s.QueuePageOut})
def ledger_overdue(request: HttpRequest, filters: Query[s.QueueFilters]) -> law_selectors.QueuePage:
    """Overdue and broken lines of persons the caller may see, oldest due first."""
    return law_selectors.overdue_queue(
        user=caller(request),
        team=filters.team,
        regime=filters.regime,
        facility=filters.facility,
        page=filters.page,
        per_page=filters.per_page,
    )


@ledger.get("/figures", response={200: list[s.AggregateRowOut]})
def ledger_figures(
    request: HttpRequest, filters: Query[s.FiguresFilters]
) -> list[law_selectors.AggregateRow]:
    """Ledger lines counted per status and per ``by``; no identity, so open to analysts."""
    return law_selectors.ledger_aggregates(user=caller(request), by=filters.by)


# --- the API -----------------------------------------------------------------------------------------------------


class KartotekaAPI(NinjaAPI):
    def create_response(self, request: HttpRequest, data: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().create_response(request, data, *args, **kwargs)
        # Answers carry case data and, once, a token: no browser or proxy may keep a copy.
        response["Cache-Control"] = "no-store"
        return response


def api_build() -> NinjaAPI:
    api = KartotekaAPI(
        title="Kartoteka API",
        version="1",
        description="Casework API. Authenticate with `Authorization: Bearer <token>` or a 2FA session.",
        urls_namespace="api:v1",  # nested under the "api" namespace of kartoteka/urls.py
        openapi_url="/openapi.json",
        docs_url=None,  # the interactive page loads its assets from a CDN
        docs_decorator=staff_only,
        auth=AUTH,
    )
    handlers_install(api)
    api.add_router("/persons", persons)
    api.add_router("/promises", promises)
    api.add_router("/incidents", incidents)
    api.add_router("/sources", sources)
    api.add_router("/cases", cases)
    api.add_router("/ledger", ledger)
    api.add_router("", reference)
    api.add_router("/tokens", tokens)
    api.add_router("/estimates", estimation_api.router)
    return api


api = api_build()
