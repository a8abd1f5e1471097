"""The casework room's pages: incidents, sources, recruitments, service events, promises, deliveries,
visits, cases ("my cases") and the full-text search of sealed text.

Every object goes through its gate in accounts/access.py (404 for missing and forbidden alike); writes go
through casework.services, whose ValueErrors are shown on the form field they name. Each page decrypts
its sealed fields in batched agent calls, never one call per row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from kartoteka.accounts import access
from kartoteka.accounts.models import Team, User
from kartoteka.casework import forms, selectors, services, webkit
from kartoteka.casework.models import Delivery, Promise, Recruitment, ServiceEvent
from kartoteka.core import sealing
from kartoteka.lib.partialdate import PartialDate
from kartoteka.people import webreads
from kartoteka.people.models import Person


def _refusal(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "casework/refused.html", {"message": message}, status=403)


def _no_team(request: HttpRequest) -> HttpResponse:
    return _refusal(request, _("You cannot add this: your account does not write for any team."))


def _form_page(
    request: HttpRequest,
    form: Any,
    *,
    title: str,
    save: Callable[[], str],
    back: str = "",
    intro: str = "",
) -> HttpResponse:
    """Validate, call ``save`` (a service call returning where to go next), or show the form again."""
    if request.method == "POST" and form.is_valid():
        try:
            target = save()
        except ValueError as error:
            webkit.service_error(form, error)
        else:
            return HttpResponseRedirect(target)
    context = {"form": form, "title": title, "back": back, "intro": intro}
    return render(request, "casework/form.html", context, status=400 if form.errors else 200)


def _team(form: Any, teams: list[Team]) -> Team:
    chosen = str(form.cleaned_data["team"])
    team = next((t for t in teams if str(t.id) == chosen), None)
    if team is None:
        raise access.NotFound
    return team


def _may_write(gate: Callable[..., Model], user: User, object_id: uuid.UUID) -> bool:
    try:
        gate(user, object_id, write=True)
    except access.NotFound:
        return False
    return True


def _person_url(person_id: uuid.UUID) -> str:
    return reverse("people:detail", args=[person_id])


def _recruitment_choices(user: User, person_id: uuid.UUID) -> list[tuple[str, str]]:
    rows = access.recruitment_list_for_user(user).filter(person_id=person_id).order_by("signed_start", "id")
    return [
        (str(r.id), f"{webkit.vocab_label('recruiter', r.recruiter)}, {webkit.date_display(r.signed_edtf)}")
        for r in rows
    ]


# --- incidents -----------------------------------------------------------------------------------------


@never_cache
@require_GET
def incident_list(request: HttpRequest) -> HttpResponse:
    user = webkit.user_of(request)
    form = forms.IncidentFilterForm(request.GET or None)
    filters: dict[str, Any] = {}
    if form.is_valid():
        d = form.cleaned_data
        date_from: PartialDate | None = d["date_from"]
        date_to: PartialDate | None = d["date_to"]
        filters = {
            "facility": d["facility"] or None,
            "region": d["region"] or None,
            "category": d["category"] or None,
            "verification": d["verification"] or None,
            "date_from": date_from.earliest() if date_from is not None else None,
            "date_to": date_to.latest() if date_to is not None else None,
        }
    page = selectors.incident_list(
        user=user, page=webkit.page_number(request), per_page=webkit.PER_PAGE, **filters
    )
    context = {
        "form": form,
        "page": page,
        "facilities": webkit.facility_names(),
        "can_create": bool(webkit.writable_teams(user)),
    }
    return render(request, "casework/incident_list.html", context)


@never_cache
@require_GET
def incident_detail(request: HttpRequest, incident_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    incident = selectors.incident_get(user=user, id=incident_id)
    context = {
        "incident": incident,
        "facilities": webkit.facility_names(),
        "victim_names": webreads.names_of(user, incident.victim_ids),
        "sources": webkit.sources_by_ids(user, incident.source_ids),
        "can_write": _may_write(access.incident_get_for_user, user, incident.id),
    }
    return render(request, "casework/incident_detail.html", context)


def _victim_choices(user: User, ids: list[uuid.UUID]) -> list[tuple[str, str]]:
    visible = list(access.person_list_for_user(user).filter(id__in=ids).values_list("id", flat=True))
    names = webreads.names_of(user, visible)
    return [(str(i), names.get(i) or _("Person %(id)s") % {"id": str(i)[:8]}) for i in visible]


@never_cache
@require_http_methods(["GET", "POST"])
def incident_create(request: HttpRequest) -> HttpResponse:
    user = webkit.user_of(request)
    teams = webkit.writable_teams(user)
    if not teams:
        return _no_team(request)
    wanted = request.POST.getlist("victims") if request.method == "POST" else [request.GET.get("person", "")]
    victim_ids = [u for v in wanted if (u := webkit.uuid_or_none(v)) is not None]
    form = forms.IncidentForm(
        request.POST or None,
        user=user,
        teams=teams,
        victims=_victim_choices(user, victim_ids),
        initial={"victims": [str(v) for v in victim_ids]},
    )

    def save() -> str:
        incident = services.incident_create(actor=user, team=_team(form, teams), **form.service_kwargs())
        return reverse("casework:incident_detail", args=[incident.id])

    return _form_page(
        request, form, title=_("New incident"), save=save, back=reverse("casework:incident_list")
    )


@never_cache
@require_http_methods(["GET", "POST"])
def incident_edit(request: HttpRequest, incident_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    row = access.incident_get_for_user(user, incident_id, write=True)
    view = selectors.incident_get(user=user, id=row.id)
    initial = {
        "facility": str(view.facility_id or ""),
        "region": view.region_code or "",
        "date": view.date_edtf,
        "categories": list(view.categories),
        "perpetrator_roles": list(view.perpetrator_roles),
        "victim_count": view.victim_count,
        "victims": [str(v) for v in view.victim_ids],
        "officials": "\n".join(view.officials or ()),
        "description": view.description or "",
        "verification": view.verification,
        "sources": [str(s) for s in view.source_ids],
    }
    form = forms.IncidentForm(
        request.POST or None,
        user=user,
        teams=None,
        victims=_victim_choices(user, list(view.victim_ids)),
        keep={
            "categories": list(view.categories),
            "perpetrator_roles": list(view.perpetrator_roles),
            "verification": [view.verification],
        },
        initial=initial,
    )

    def save() -> str:
        services.incident_update(actor=user, incident=row, **form.service_kwargs())
        return reverse("casework:incident_detail", args=[row.id])

    back = reverse("casework:incident_detail", args=[row.id])
    return _form_page(request, form, title=_("Edit incident"), save=save, back=back)


# --- sources --------------------------------------------------------------------------------------------


@never_cache
@require_GET
def source_list(request: HttpRequest) -> HttpResponse:
    user = webkit.user_of(request)
    page = selectors.source_list(user=user, page=webkit.page_number(request), per_page=webkit.PER_PAGE)
    context = {"page": page, "can_create": bool(webkit.writable_teams(user))}
    return render(request, "casework/source_list.html", context)


@never_cache
@require_GET
def source_detail(request: HttpRequest, source_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    source = selectors.source_get(user=user, id=source_id)
    context = {"source": source, "can_write": _may_write(access.source_get_for_user, user, source.id)}
    return render(request, "casework/source_detail.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def source_create(request: HttpRequest) -> HttpResponse:
    user = webkit.user_of(request)
    teams = webkit.writable_teams(user)
    if not teams:
        return _no_team(request)
    form = forms.SourceForm(request.POST or None, teams=teams)

    def save() -> str:
        source = services.source_create(actor=user, team=_team(form, teams), **form.service_kwargs())
        return reverse("casework:source_detail", args=[source.id])

    return _form_page(request, form, title=_("New source"), save=save, back=reverse("casework:source_list"))


@never_cache
@require_http_methods(["GET", "POST"])
def source_edit(request: HttpRequest, source_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    row = access.source_get_for_user(user, source_id, write=True)
    view = selectors.source_get(user=user, id=row.id)
    initial = {
        "kind": view.kind,
        "reliability": view.reliability,
        "language": view.language,
        "consent": view.consent,
        "label": view.label or "",
        "contact": view.contact or "",
    }
    form = forms.SourceForm(request.POST or None, teams=None, initial=initial)

    def save() -> str:
        services.source_update(actor=user, source=row, **form.service_kwargs())
        return reverse("casework:source_detail", args=[row.id])

    back = reverse("casework:source_detail", args=[row.id])
    return _form_page(request, form, title=_("Edit source"), save=save, back=back)


# --- recruitments and service events ---------------------------------------------------------------------


def _recruitment_initial(r: Recruitment) -> dict[str, Any]:
    return {
        "recruiter": r.recruiter,
        "signed": r.signed_edtf,
        "facility": str(r.facility_id or ""),
        "legal_status": r.legal_status,
        "stated_term_months": r.stated_term_months,
        "unit": r.unit,
        "stated_regime": r.stated_regime,
        "source": str(r.source_id or ""),
    }


@never_cache
@require_http_methods(["GET", "POST"])
def recruitment_create(request: HttpRequest, person_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    person = access.person_get_for_user(user, person_id, write=True)
    form = forms.RecruitmentForm(request.POST or None, user=user)

    def save() -> str:
        services.recruitment_create(actor=user, person=person, **form.service_kwargs())
        return _person_url(person.id)

    return _form_page(request, form, title=_("New recruitment"), save=save, back=_person_url(person.id))


@never_cache
@require_http_methods(["GET", "POST"])
def recruitment_edit(request: HttpRequest, recruitment_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    row = access.recruitment_get_for_user(user, recruitment_id, write=True)
    form = forms.RecruitmentForm(
        request.POST or None, user=user, keep=row.recruiter, initial=_recruitment_initial(row)
    )

    def save() -> str:
        services.recruitment_update(actor=user, recruitment=row, **form.service_kwargs())
        return _person_url(row.person_id)

    return _form_page(request, form, title=_("Edit recruitment"), save=save, back=_person_url(row.person_id))


@never_cache
@require_http_methods(["GET", "POST"])
def event_create(request: HttpRequest, person_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    person = access.person_get_for_user(user, person_id, write=True)
    form = forms.ServiceEventForm(
        request.POST or None, user=user, recruitments=_recruitment_choices(user, person.id)
    )

    def save() -> str:
        services.service_event_create(actor=user, person=person, **form.service_kwargs())
        return _person_url(person.id)

    return _form_page(request, form, title=_("New service event"), save=save, back=_person_url(person.id))


@never_cache
@require_http_methods(["GET", "POST"])
def event_edit(request: HttpRequest, event_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    row: ServiceEvent = access.service_event_get_for_user(user, event_id, write=True)
    initial = {
        "kind": row.kind,
        "date": row.date_edtf,
        "recruitment": str(row.recruitment_id or ""),
        "discharge_ground": row.discharge_ground,
        "source": str(row.source_id or ""),
    }
    form = forms.ServiceEventForm(
        request.POST or None,
        user=user,
        recruitments=_recruitment_choices(user, row.person_id),
        initial=initial,
    )

    def save() -> str:
        services.service_event_update(actor=user, event=row, **form.service_kwargs())
        return _person_url(row.person_id)

    return _form_page(
        request, form, title=_("Edit service event"), save=save, back=_person_url(row.person_id)
    )


# --- promises and deliveries -----------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def promise_create(request: HttpRequest, person_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    person = access.person_get_for_user(user, person_id, write=True)
    form = forms.PromiseForm(
        request.POST or None, user=user, recruitments=_recruitment_choices(user, person.id)
    )

    def save() -> str:
        services.promise_create(actor=user, person=person, **form.service_kwargs())
        return _person_url(person.id)

    return _form_page(request, form, title=_("New promise"), save=save, back=_person_url(person.id))


@never_cache
@require_http_methods(["GET", "POST"])
def promise_edit(request: HttpRequest, promise_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    row: Promise = access.promise_get_for_user(user, promise_id, write=True)
    view = next(p for p in selectors.promise_list(user=user, person_id=row.person_id) if p.id == row.id)
    initial = {
        "kind": view.kind,
        "amount": view.amount,
        "currency": view.currency,
        "due": view.due_edtf,
        "condition": view.condition,
        "promised_by": view.promised_by,
        "recruitment": str(view.recruitment_id or ""),
        "details": view.details or "",
        "source": str(view.source_id or ""),
    }
    form = forms.PromiseForm(
        request.POST or None,
        user=user,
        recruitments=_recruitment_choices(user, row.person_id),
        initial=initial,
    )

    def save() -> str:
        services.promise_update(actor=user, promise=row, **form.service_kwargs())
        return _person_url(row.person_id)

    return _form_page(request, form, title=_("Edit promise"), save=save, back=_person_url(row.person_id))


@never_cache
@require_http_methods(["GET", "POST"])
def delivery_create(request: HttpRequest, promise_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    promise = access.promise_get_for_user(user, promise_id, write=True)
    form = forms.DeliveryForm(request.POST or None, user=user)

    def save() -> str:
        services.delivery_create(actor=user, promise=promise, **form.service_kwargs())
        return _person_url(promise.person_id)

    return _form_page(request, form, title=_("New delivery"), save=save, back=_person_url(promise.person_id))


@never_cache
@require_http_methods(["GET", "POST"])
def delivery_edit(request: HttpRequest, delivery_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    row: Delivery = access.delivery_get_for_user(user, delivery_id, write=True)
    person_id = Promise.objects.filter(pk=row.promise_id).values_list("person_id", flat=True).get()
    initial = {
        "outcome": row.outcome,
        "amount": row.amount,
        "date": row.date_edtf,
        "source": str(row.source_id or ""),
    }
    form = forms.DeliveryForm(request.POST or None, user=user, initial=initial)

    def save() -> str:
        services.delivery_update(actor=user, delivery=row, **form.service_kwargs())
        return _person_url(person_id)

    return _form_page(request, form, title=_("Edit delivery"), save=save, back=_person_url(person_id))


# --- recruitment visits ----------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def visit_create(request: HttpRequest) -> HttpResponse:
    user = webkit.user_of(request)
    teams = webkit.writable_teams(user)
    if not teams:
        return _no_team(request)
    facility = webkit.uuid_or_none(request.GET.get("facility"))
    form = forms.VisitForm(
        request.POST or None, user=user, teams=teams, initial={"facility": str(facility or "")}
    )

    def save() -> str:
        visit = services.visit_create(actor=user, team=_team(form, teams), **form.service_kwargs())
        return reverse("registry:detail", args=[visit.facility_id])

    return _form_page(request, form, title=_("New recruitment visit"), save=save)


@never_cache
@require_http_methods(["GET", "POST"])
def visit_edit(request: HttpRequest, visit_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    row = access.visit_get_for_user(user, visit_id, write=True)
    initial = {
        "facility": str(row.facility_id),
        "recruiter": row.recruiter,
        "date": row.date_edtf,
        "source": str(row.source_id or ""),
    }
    form = forms.VisitForm(request.POST or None, user=user, teams=None, initial=initial)

    def save() -> str:
        services.visit_update(actor=user, visit=row, **form.service_kwargs())
        return reverse("registry:detail", args=[row.facility_id])

    back = reverse("registry:detail", args=[row.facility_id])
    return _form_page(request, form, title=_("Edit recruitment visit"), save=save, back=back)


# --- cases ----------------------------------------------------------------------------------------------


def _assignee_choices(teams: list[Team], current: uuid.UUID | None = None) -> list[tuple[str, str]]:
    users = User.objects.filter(teams__in=teams, is_active=True)
    rows = {u.id: u.username for u in users.distinct().order_by("username")}
    if current is not None and current not in rows:
        rows.update(User.objects.filter(id=current).values_list("id", "username"))
    return [(str(i), name) for i, name in rows.items()]


def _assignee(value: str) -> User | None:
    uid = webkit.uuid_or_none(value)
    return None if uid is None else User.objects.filter(id=uid).first()


@never_cache
@require_GET
def my_cases(request: HttpRequest) -> HttpResponse:
    user = webkit.user_of(request)
    include_closed = request.GET.get("closed") == "1"
    page = selectors.case_list(
        user=user, include_closed=include_closed, page=webkit.page_number(request), per_page=webkit.PER_PAGE
    )
    context = {
        "page": page,
        "names": webreads.names_of(user, [c.person_id for c in page.items]),
        "today": timezone.now().date(),
        "include_closed": include_closed,
    }
    return render(request, "casework/my_cases.html", context)


@never_cache
@require_GET
def case_detail(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    case = selectors.case_get(user=user, id=case_id)
    assignee = None
    if case.assignee_id is not None:
        assignee = User.objects.filter(id=case.assignee_id).values_list("username", flat=True).first()
    context = {
        "case": case,
        "assignee": assignee or "",
        "person_name": webreads.names_of(user, [case.person_id]).get(case.person_id),
        "person_visible": access.person_list_for_user(user).filter(id=case.person_id).exists(),
        "can_write": _may_write(access.case_get_for_user, user, case.id),
        "today": timezone.now().date(),
    }
    return render(request, "casework/case_detail.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def case_create(request: HttpRequest, person_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    person: Person = access.person_get_for_user(user, person_id)
    teams = webkit.writable_teams(user)
    if not teams:
        return _no_team(request)
    default_team = next((t for t in teams if t.id == person.team_id), teams[0])
    form = forms.CaseForm(
        request.POST or None,
        teams=teams,
        assignees=_assignee_choices(teams),
        initial={"team": str(default_team.id), "assignee": str(user.id), "status": "open"},
    )

    def save() -> str:
        d = form.cleaned_data
        case = services.case_create(
            actor=user,
            team=_team(form, teams),
            person=person,
            assignee=_assignee(d["assignee"]),
            deadline=d["deadline"],
            notes=d["notes"],
            status=d["status"],
        )
        return reverse("casework:case_detail", args=[case.id])

    return _form_page(request, form, title=_("Open a case"), save=save, back=_person_url(person.id))


@never_cache
@require_http_methods(["GET", "POST"])
def case_edit(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    row = access.case_get_for_user(user, case_id, write=True)
    view = selectors.case_get(user=user, id=row.id)
    teams = list(Team.objects.filter(id=row.team_id))
    initial = {
        "assignee": str(view.assignee_id or ""),
        "deadline": view.deadline,
        "status": view.status,
        "notes": view.notes or "",
    }
    form = forms.CaseForm(
        request.POST or None,
        teams=None,
        assignees=_assignee_choices(teams, view.assignee_id),
        initial=initial,
    )

    def save() -> str:
        d = form.cleaned_data
        services.case_update(
            actor=user,
            case=row,
            assignee=_assignee(d["assignee"]),
            deadline=d["deadline"],
            notes=d["notes"],
            status=d["status"],
        )
        return reverse("casework:case_detail", args=[row.id])

    back = reverse("casework:case_detail", args=[row.id])
    return _form_page(request, form, title=_("Edit case"), save=save, back=back)


# --- full-text search ------------------------------------------------------------------------------------

SCAN_LIMIT = 5000  # sealed items decrypted per request; the page says so and offers the next range
SCAN_BATCH = 500  # items per agent call
HIT_LIMIT = 200


@dataclass(frozen=True, slots=True)
class _Scope:
    kind: str
    table: str
    columns: tuple[str, ...]
    rows: Callable[[User], QuerySet[Any]]
    link: Callable[[Any], str]
    person: Callable[[Any], uuid.UUID | None]


@dataclass(frozen=True, slots=True)
class TextHit:
    kind: str
    url: str
    snippet: str
    person_id: uuid.UUID | None


def _scopes() -> list[_Scope]:
    return [
        _Scope(
            "incident",
            "casework.incident",
            ("description", "officials"),
            lambda u: access.incident_list_for_user(u),
            lambda r: reverse("casework:incident_detail", args=[r.id]),
            lambda r: None,
        ),
        _Scope(
            "case",
            "casework.case",
            ("notes",),
            lambda u: access.case_list_for_user(u),
            lambda r: reverse("casework:case_detail", args=[r.id]),
            lambda r: None,
        ),
        _Scope(
            "promise",
            "casework.promise",
            ("details",),
            lambda u: access.promise_list_for_user(u),
            lambda r: _person_url(r.person_id),
            lambda r: None,
        ),
        _Scope(
            "record",
            "people.record",
            ("notes",),
            lambda u: access.record_list_for_user(u).exclude(person=None),
            lambda r: _person_url(r.person_id),
            lambda r: r.person_id,
        ),
    ]


def _fold(text: str) -> str:
    return text.casefold().replace("ё", "е")


def _snippet(text: str, word: str, width: int = 80) -> str:
    at = _fold(text).find(word)
    start = max(0, at - width)
    end = min(len(text), at + len(word) + width)
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


def _scan(user: User, query: str, offset: int) -> tuple[list[TextHit], int, int]:
    """Hits among the user's sealed items [offset, offset + SCAN_LIMIT); (hits, scanned up to, total)."""
    words = [_fold(w) for w in query.split() if w.strip()]
    hits: list[TextHit] = []
    position, end = 0, offset + SCAN_LIMIT
    total = 0
    for scope in _scopes():
        base = scope.rows(user).order_by("id")
        count = base.count()
        lo, hi = max(offset - position, 0), min(end - position, count)
        position += count
        total += count
        if lo >= hi:
            continue
        fields = [f"{c}_enc" for c in scope.columns]
        ids = list(base.values_list("id", flat=True)[lo:hi])
        for i in range(0, len(ids), SCAN_BATCH):
            rows = list(
                base.model._default_manager.filter(id__in=ids[i : i + SCAN_BATCH])
                .order_by("id")
                .only(
                    "id", "wrapped_key", "person_id" if scope.kind in ("record", "promise") else "id", *fields
                )
            )
            opened = sealing.rows_open(
                scope.table,
                [
                    (str(r.id), bytes(r.wrapped_key), {c: getattr(r, f"{c}_enc") for c in scope.columns})
                    for r in rows
                ],
            )
            for row, plain in zip(rows, opened, strict=True):
                text = "\n".join(
                    "; ".join(sealing.json_list(v)) if c == "officials" else v
                    for c in scope.columns
                    if (v := plain.get(c))
                )
                folded = _fold(text)
                if text and all(w in folded for w in words) and len(hits) < HIT_LIMIT:
                    hits.append(
                        TextHit(scope.kind, scope.link(row), _snippet(text, words[0]), scope.person(row))
                    )
    return hits, min(end, total), total


@never_cache
@require_http_methods(["GET", "POST"])
def text_search(request: HttpRequest) -> HttpResponse:
    """Decrypts and scans only what the user may see, SCAN_LIMIT items per request; the words are in the
    POST body only. Analysts are refused: they see no sealed text at all."""
    user = webkit.user_of(request)
    if not access.sees_identities(user):
        return _refusal(request, _("Full-text search reads sealed text, which your role does not see."))
    form = forms.TextSearchForm(request.POST if request.method == "POST" else None)
    context: dict[str, Any] = {"form": form, "limit": SCAN_LIMIT, "hit_limit": HIT_LIMIT}
    if request.method == "POST" and form.is_valid():
        offset = form.cleaned_data["offset"] or 0
        hits, scanned_to, total = _scan(user, form.cleaned_data["q"], offset)
        record_persons = [h.person_id for h in hits if h.person_id is not None]
        if record_persons:
            from kartoteka.accounts import services as account_services

            account_services.identity_reads_log(user=user, person_ids=record_persons)
        context.update(
            {
                "hits": hits,
                "scanned_from": offset + 1 if total else 0,
                "scanned_to": scanned_to,
                "total": total,
                "next_offset": scanned_to if scanned_to < total else None,
            }
        )
    return render(request, "casework/text_search.html", context)
