"""Persons: name search (POST only), filtered list, the person page, and the forms that add to a person.

The login wall (accounts.middleware) admits only verified staff; every object still goes through its
gate, so a person one may not see is a 404 like a missing one. Whenever identity fields reach the page,
accounts.services.identity_reads_log records who saw which persons.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from kartoteka.accounts import access
from kartoteka.accounts import selectors as account_selectors
from kartoteka.accounts import services as account_services
from kartoteka.accounts.models import User
from kartoteka.casework import selectors as casework_selectors
from kartoteka.casework import webkit
from kartoteka.casework.models import Incident
from kartoteka.law import selectors as law_selectors
from kartoteka.law import views as law_views
from kartoteka.people import forms, selectors, services


def _refusal(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "casework/refused.html", {"message": message}, status=403)


@never_cache
@require_http_methods(["GET", "POST"])
def person_search(request: HttpRequest) -> HttpResponse:
    """The query travels only in the POST body and is answered in the same response: no URL, log line or
    browser history ever holds a name."""
    user = webkit.user_of(request)
    if not access.sees_identities(user):
        return _refusal(request, _("Name search is not available to analysts: it is an identity operation."))
    form = forms.PersonSearchForm(request.POST if request.method == "POST" else None)
    hits: list[selectors.PersonHit] | None = None
    if request.method == "POST" and form.is_valid():
        try:
            hits = selectors.person_find(
                user=user, query=form.cleaned_data["q"], limit=50, birth_year=form.cleaned_data["birth_year"]
            )
        except PermissionDenied:
            return _refusal(
                request, _("Name search is not available to analysts: it is an identity operation.")
            )
        account_services.identity_reads_log(user=user, person_ids=[h.person_id for h in hits])
    return render(request, "people/search.html", {"form": form, "hits": hits})


@never_cache
@require_GET
def person_list(request: HttpRequest) -> HttpResponse:
    user = webkit.user_of(request)
    form = forms.PersonFilterForm(request.GET or None, user=user)
    filters: dict[str, str | None] = {}
    if form.is_valid():
        filters = {k: (v or None) for k, v in form.cleaned_data.items()}
    page = selectors.person_list(
        user=user, page=webkit.page_number(request), per_page=webkit.PER_PAGE, **filters
    )
    if access.sees_identities(user):
        account_services.identity_reads_log(user=user, person_ids=[p.id for p in page.items if p.full_name])
    return render(request, "people/list.html", {"form": form, "page": page})


def _may_write_person(user: User, person_id: uuid.UUID) -> bool:
    try:
        access.person_get_for_user(user, person_id, write=True)
    except access.NotFound:
        return False
    return True


@never_cache
@require_GET
def person_detail(request: HttpRequest, person_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    person = selectors.person_get(user=user, person_id=person_id)
    promises = casework_selectors.promise_list(user=user, person_id=person.id)
    recruitments = list(
        access.recruitment_list_for_user(user)
        .filter(person_id=person.id)
        .order_by(F("signed_start").asc(nulls_last=True), "id")
    )
    events = list(
        access.service_event_list_for_user(user)
        .filter(person_id=person.id)
        .order_by(F("date_start").asc(nulls_last=True), "id")
    )
    incident_rows: list[Incident] = list(
        access.incident_list_for_user(user)
        .filter(victims=person.id)
        .order_by(F("date_start").desc(nulls_last=True), "id")[:100]
    )
    incidents = webkit.incidents_of(user, incident_rows)
    cases = webkit.cases_of(
        user, list(access.case_list_for_user(user).filter(person_id=person.id).order_by("created_at", "id"))
    )
    source_ids: list[uuid.UUID | None] = [r.source_id for r in person.records]
    source_ids += [s.source_id for s in person.status_history]
    source_ids += [r.source_id for r in recruitments] + [e.source_id for e in events]
    source_ids += [p.source_id for p in promises] + [d.source_id for p in promises for d in p.deliveries]
    source_ids += [s for i in incidents for s in i.source_ids]
    assignees = dict(
        User.objects.filter(id__in={c.assignee_id for c in cases if c.assignee_id}).values_list(
            "id", "username"
        )
    )
    if access.sees_identities(user):
        account_services.identity_reads_log(user=user, person_ids=[person.id])
    context = {
        "person": person,
        "promises": promises,
        "recruitments": recruitments,
        "events": events,
        "incidents": incidents,
        "cases": cases,
        "assignees": assignees,
        "sources": webkit.sources_by_ids(user, source_ids),
        "readers": account_selectors.identity_readers(person.id),
        "facilities": webkit.facility_names(),
        "can_write": _may_write_person(user, person.id),
        "ledger": law_selectors.ledger_for_person(user=user, person_id=person.id, lang=webkit.lang()),
        "ledger_statuses": law_views.STATUS_LABELS,
        "sees_identities": access.sees_identities(user),
    }
    return render(request, "people/detail.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def person_create(request: HttpRequest) -> HttpResponse:
    user = webkit.user_of(request)
    teams = webkit.writable_teams(user)
    if not teams:
        return _refusal(request, _("You cannot add persons: your account does not write for any team."))
    form = forms.PersonCreateForm(request.POST or None, user=user, teams=teams)
    if request.method == "POST" and form.is_valid():
        team = next((t for t in teams if str(t.id) == form.cleaned_data["team"]), None)
        if team is None:
            form.add_error("team", _("Choose one of your teams."))
        else:
            try:
                person = services.person_create(actor=user, team=team, data=form.person_input())
            except ValueError as error:
                webkit.service_error(form, error)
            else:
                return HttpResponseRedirect(reverse("people:detail", args=[person.id]))
    return render(request, "casework/form.html", {"form": form, "title": _("New person")})


@never_cache
@require_http_methods(["GET", "POST"])
def record_add(request: HttpRequest, person_id: uuid.UUID) -> HttpResponse:
    """A further report, or a correction: records are never edited, so a correction is a new record."""
    user = webkit.user_of(request)
    person = access.person_get_for_user(user, person_id, write=True)
    form = forms.RecordForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            services.record_add(actor=user, person=person, data=form.person_input())
        except ValueError as error:
            webkit.service_error(form, error)
        else:
            return HttpResponseRedirect(reverse("people:detail", args=[person.id]))
    context = {
        "form": form,
        "title": _("Add a record or a correction"),
        "intro": _(
            "Records are kept exactly as a source gave them. To correct one, add a new record that "
            "says what is right and cite its source; the old record stays for provenance."
        ),
        "person_id": person.id,
    }
    return render(request, "casework/form.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def status_add(request: HttpRequest, person_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    person = access.person_get_for_user(user, person_id, write=True)
    form = forms.StatusForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            services.status_add(
                actor=user,
                person=person,
                status=form.cleaned_data["status"],
                date=form.cleaned_data["date"],
                source_id=webkit.uuid_or_none(form.cleaned_data["source"]),
            )
        except ValueError as error:
            webkit.service_error(form, error)
        else:
            return HttpResponseRedirect(reverse("people:detail", args=[person.id]))
    return render(
        request, "casework/form.html", {"form": form, "title": _("Add a status"), "person_id": person.id}
    )
