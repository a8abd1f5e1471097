"""The dashboard page and the report pages: thin, over reports.selectors/services/figures.

Aggregates only: nothing here decrypts, so no identity can reach these pages and analysts may use them.
Links to the underlying lists are offered only to staff who see identities (never to analysts) and only
where they can open some of the records counted.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kartoteka.accounts import access
from kartoteka.accounts.models import User
from kartoteka.casework import webkit
from kartoteka.reports import drawn, selectors, services
from kartoteka.reports.charts import Lang
from kartoteka.reports.forms import DashboardFilterForm, ReportForm
from kartoteka.reports.models import ReportRequest, SummaryState
from kartoteka.reports.selectors import Count, Counts, Filters


def filters_from(form: DashboardFilterForm) -> Filters:
    if not form.is_valid():
        return Filters()
    d = form.cleaned_data
    return Filters(
        date_from=d["date_from"].earliest() if d["date_from"] is not None else None,
        date_to=d["date_to"].latest() if d["date_to"] is not None else None,
        region=d["region"] or None,
        facility_type=d["facility_type"] or None,
        recruiter=d["recruiter"] or None,
        category=d["category"] or None,
        verification=d["verification"] or None,
    )


def _month_text(day: date | None) -> str:
    return "" if day is None else f"{day:%Y-%m}"


def _link(name: str, **params: str | None) -> str:
    query = urlencode({k: v for k, v in params.items() if v})
    return reverse(name) + (f"?{query}" if query else "")


def _links(f: Filters) -> dict[str, Any]:
    """Per figure: a function from a row's code to the filtered list's URL."""
    inc = {
        "region": f.region, "category": f.category, "verification": f.verification,
        "date_from": _month_text(f.month_from), "date_to": _month_text(f.month_to),
    }  # fmt: skip

    def incidents(**extra: str) -> str:
        return _link("casework:incident_list", **{**inc, **extra})

    return {
        "incidents_by_month": lambda code: _link(
            "casework:incident_list", **{**inc, "date_from": code, "date_to": code}
        ),
        "tile_map": lambda code: incidents(region=code),
        "incidents_by_region": lambda code: incidents(region=code),
        "incidents_by_facility": lambda code: incidents(facility=code),
        "verification_mix": lambda code: incidents(verification=code),
        "recruitment_by_recruiter": lambda code: _link("people:list", region=f.region, recruiter=code),
        "persons_by_status": lambda code: _link("people:list", region=f.region, status=code),
        "ledger_by_regime": lambda code: _link("casework:ledger_overdue", regime=code),
    }


SECTIONS = (
    ("incidents", (
        "incidents_by_month", "tile_map", "incidents_by_region", "incidents_by_facility", "verification_mix",
    )),
    ("recruitments", ("recruitment_by_wave", "recruitment_by_recruiter", "recruitment_by_regime")),
    ("ledger", ("ledger_by_kind", "ledger_by_regime", "ledger_by_year")),
    ("persons", ("persons_by_status",)),
    ("visits", ("visits",)),
)  # fmt: skip


def _visible_note(c: Count) -> str:
    if not c.partial:
        return ""
    return _("%(visible)s of %(total)s visible to you") % {"visible": c.visible, "total": c.total}


def _page(user: User, f: Filters, lang: Lang, state: SummaryState | None) -> tuple[drawn.Page, Counts]:
    """The drawn figures (kept per summary build, filters and language) and this viewer's counts: a page
    drawn before costs only the count queries; otherwise every figure is queried and drawn, and kept."""
    build = drawn.build_of(state)
    page = drawn.page_load(build, f, lang)
    if page is not None:
        return page, selectors.dashboard_counts(user=user, filters=f)
    data = selectors.dashboard(user=user, filters=f, today=timezone.localdate())
    page = drawn.page_draw(data, lang=lang)
    drawn.page_store(build, f, lang, page)
    counts = Counts(data.incidents, data.recruitments, data.ledger, data.persons, data.visits.visits)
    return page, counts


@never_cache
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    user = webkit.user_of(request)
    form = DashboardFilterForm(request.GET or None)
    f = filters_from(form)
    fresh = services.summaries_ensure()
    state = SummaryState.objects.filter(id=1).first()
    page, c = _page(user, f, webkit.lang(), state)
    counts = {
        "incidents": c.incidents, "recruitments": c.recruitments, "ledger": c.ledger, "persons": c.persons,
        "visits": c.visits,
    }  # fmt: skip
    may_link = access.sees_identities(user)
    links = _links(f)
    sections = []
    for name, keys in SECTIONS:
        count = counts[name]
        linker = links if may_link and count.visible > 0 else {}
        items = []
        for key in keys:
            fig = page.figures[key]
            make = linker.get(key)
            rows = [(label, n, make(code) if make is not None else "") for code, label, n in fig.rows]
            items.append({"key": key, "fig": fig, "rows": rows})
        sections.append({"name": name, "count": count, "note": _visible_note(count), "figures": items})
    facility_names = {str(k): v for k, v in webkit.facility_names().items()}
    visit_rows = [(facility_names.get(fac, fac), v, b, a) for fac, v, b, a in page.visit_rows]
    # What the template reads of the figures beyond the charts (the drawn page keeps these too).
    data = {
        "undated_incidents": page.undated_incidents,
        "visits": {"before": page.visits_before, "after": page.visits_after, "visits": c.visits},
    }
    context = {
        "form": form,
        "sections": sections,
        "data": data,
        "visit_rows": visit_rows,
        "fresh": fresh,
        "state": state,
        "analyst": not may_link,
    }
    return render(request, "reports/dashboard.html", context)


# --- reports: download a draft, request publication, approve ---------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def report_list(request: HttpRequest) -> HttpResponse:
    user = webkit.user_of(request)
    form = ReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            services.report_request(
                actor=user, period_from=d["period_from"], period_to=d["period_to"], lang=d["lang"]
            )
        except PermissionDenied:
            messages.error(request, _("Your role may not request publication."))
        else:
            messages.success(request, _("Publication requested. Another staff member must approve it."))
            return redirect("reports:list")
    requests_ = ReportRequest.objects.select_related("requested_by", "decided_by").order_by("-requested_at")[
        :50
    ]
    context = {
        "form": form,
        "draft_form": ReportForm(auto_id="draft_%s"),
        "requests": requests_,
        "may_approve": user.role in services.APPROVERS,
    }
    return render(request, "reports/list.html", context)


@never_cache
@require_GET
def report_draft(request: HttpRequest) -> HttpResponse:
    """A draft PDF for the period (not published: marked DRAFT, nothing is stored)."""
    from kartoteka.reports.pdf import report_pdf

    form = ReportForm(request.GET)
    if not form.is_valid():
        messages.error(request, _("Choose whole quarters, e.g. 2024Q1 to 2024Q4."))
        return redirect("reports:list")
    d = form.cleaned_data
    pdf = report_pdf(period_from=d["period_from"], period_to=d["period_to"], lang=d["lang"], draft=True)
    return _pdf_response(pdf, f"kartoteka-draft-{d['period_from']}-{d['period_to']}.pdf")


def _pdf_response(pdf: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@never_cache
@require_POST
def report_decide(request: HttpRequest, request_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    approve = request.POST.get("decision") == "approve"
    try:
        services.report_decide(actor=user, request_id=request_id, approve=approve)
    except PermissionDenied as exc:
        messages.error(request, _("Not allowed: %(why)s") % {"why": _(str(exc))})
    except ValueError:
        messages.error(request, _("This request was already decided or does not exist."))
    else:
        messages.success(request, _("Approved and published.") if approve else _("Rejected."))
    return redirect("reports:list")


@never_cache
@require_GET
def report_download(request: HttpRequest, request_id: uuid.UUID) -> HttpResponse:
    req = ReportRequest.objects.filter(id=request_id, status=ReportRequest.Status.APPROVED).first()
    if req is None or req.pdf is None:
        raise access.NotFound
    return _pdf_response(bytes(req.pdf), f"kartoteka-{req.period_from}-{req.period_to}-{req.lang}.pdf")
