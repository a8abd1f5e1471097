"""Facility pages: the public reference list with the counts the user may see, and one facility's page
(incidents by month, recruitment visits, recruits). Counts come from the gates' querysets, so nobody learns
of records they may not see; no sealed field is read here.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from kartoteka.accounts import access
from kartoteka.casework import selectors as casework_selectors
from kartoteka.casework import webkit
from kartoteka.core.pages import Page
from kartoteka.registry import selectors
from kartoteka.registry.forms import FacilityFilterForm

type FacilityPage = Page[tuple[selectors.FacilityView, int, int]]  # facility, incidents, recruitments


@never_cache
@require_GET
def facility_list(request: HttpRequest) -> HttpResponse:
    user = webkit.user_of(request)
    form = FacilityFilterForm(request.GET or None)
    region = form.cleaned_data["region"] or None if form.is_valid() else None
    facilities = selectors.facility_list(region=region)
    page_no, per_page = webkit.page_number(request), webkit.PER_PAGE
    shown = facilities[(page_no - 1) * per_page : page_no * per_page]
    ids = [f.id for f in shown]
    incidents = dict(
        access.incident_list_for_user(user)
        .filter(facility_id__in=ids)
        .values("facility_id")
        .annotate(n=Count("id"))
        .values_list("facility_id", "n")
    )
    recruitments = dict(
        access.recruitment_list_for_user(user)
        .filter(facility_id__in=ids)
        .values("facility_id")
        .annotate(n=Count("id"))
        .values_list("facility_id", "n")
    )
    page: FacilityPage = Page(
        items=tuple((f, incidents.get(f.id, 0), recruitments.get(f.id, 0)) for f in shown),
        page=page_no,
        per_page=per_page,
        total=len(facilities),
    )
    return render(request, "registry/list.html", {"form": form, "page": page})


@never_cache
@require_GET
def facility_detail(request: HttpRequest, facility_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    try:
        facility = selectors.facility_get(facility_id)
    except selectors.FacilityNotFound:
        raise Http404 from None
    incident_dates = (
        access.incident_list_for_user(user)
        .filter(facility_id=facility.id)
        .values_list("date_start", flat=True)
    )
    months: Counter[tuple[int, int] | None] = Counter(
        (d.year, d.month) if d is not None else None for d in incident_dates
    )
    by_month = [(f"{y:04d}-{m:02d}", n) for (y, m), n in sorted((k, v) for k, v in months.items() if k)]
    recruiters = (
        access.recruitment_list_for_user(user)
        .filter(facility_id=facility.id)
        .values("recruiter")
        .annotate(n=Count("person_id", distinct=True))
        .order_by("-n", "recruiter")
    )
    held = (
        access.record_list_for_user(user)
        .filter(facility_id=facility.id)
        .exclude(person=None)
        .values("person_id")
        .distinct()
        .count()
    )
    visits = casework_selectors.visit_list(
        user=user, facility=facility.id, page=webkit.page_number(request), per_page=webkit.PER_PAGE
    )
    context: dict[str, Any] = {
        "facility": facility,
        "by_month": by_month,
        "undated": months.get(None, 0),
        "incident_total": sum(months.values()),
        "recruiters": list(recruiters),
        "recruit_total": sum(r["n"] for r in recruiters),
        "held": held,
        "page": visits,
        "can_write": bool(webkit.writable_teams(user)),
        "writable_visits": set(
            access.visit_list_for_user(user, write=True)
            .filter(id__in=[v.id for v in visits.items])
            .values_list("id", flat=True)
        ),
    }
    return render(request, "registry/detail.html", context)
