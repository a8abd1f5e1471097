"""The ledger's caseworker pages: the overdue-and-broken queue and the analysts' aggregate figures.

Both read only through law.selectors, which start from the access gates; neither decrypts anything, so
no identity field can reach these pages and no identity read is logged.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from kartoteka.accounts.models import User
from kartoteka.casework import webkit
from kartoteka.law import selectors
from kartoteka.law.services import regimes_current

STATUS_LABELS: dict[str, Any] = {
    "kept": gettext_lazy("kept"),
    "partly_kept": gettext_lazy("partly kept"),
    "broken": gettext_lazy("broken"),
    "overdue": gettext_lazy("overdue"),
    "pending": gettext_lazy("pending"),
    "beyond_the_law": gettext_lazy("beyond the law"),
    "not_applicable": gettext_lazy("not applicable"),
    "unknown": gettext_lazy("unknown"),
}
BY_LABELS: dict[str, Any] = {
    "promise_kind": gettext_lazy("Promise kind"),
    "regime": gettext_lazy("Regime"),
    "recruiter": gettext_lazy("Recruiter"),
    "region": gettext_lazy("Region"),
    "year": gettext_lazy("Year due"),
}


class OverdueFilterForm(forms.Form):
    team = forms.ChoiceField(label=gettext_lazy("Team"), required=False)
    regime = forms.ChoiceField(label=gettext_lazy("Regime"), required=False)
    facility = forms.ChoiceField(label=gettext_lazy("Facility"), required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._set("team", [("", "—"), *((str(t.id), t.name) for t in user.teams.order_by("name"))])
        self._set("regime", [("", "—"), *((r, r) for r in sorted(regimes_current().regimes))])
        self._set("facility", webkit.facility_choices())

    def _set(self, name: str, choices: list[tuple[str, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices


class FiguresForm(forms.Form):
    by = forms.ChoiceField(label=gettext_lazy("Group by"), required=False, choices=list(BY_LABELS.items()))


@never_cache
@require_GET
def ledger_overdue(request: HttpRequest) -> HttpResponse:
    user = webkit.user_of(request)
    form = OverdueFilterForm(request.GET or None, user=user)
    filters: dict[str, str | None] = {}
    if form.is_valid():
        filters = {k: (v or None) for k, v in form.cleaned_data.items()}
    page = selectors.overdue_queue(
        user=user, page=webkit.page_number(request), per_page=webkit.PER_PAGE, **filters
    )
    context = {"form": form, "page": page, "statuses": STATUS_LABELS}
    return render(request, "law/overdue.html", context)


@never_cache
@require_GET
def ledger_figures(request: HttpRequest) -> HttpResponse:
    user = webkit.user_of(request)
    form = FiguresForm(request.GET or None)
    by = "promise_kind"
    if form.is_valid() and form.cleaned_data["by"]:
        by = form.cleaned_data["by"]
    rows = selectors.ledger_aggregates(user=user, by=by)
    order = {status: i for i, status in enumerate(STATUS_LABELS)}
    present = sorted({status for row in rows for status in row.counts}, key=lambda s: (order.get(s, 99), s))
    table = [(row.key, [row.counts.get(status, 0) for status in present], row.total) for row in rows]
    context = {
        "form": form,
        "by": by,
        "by_label": BY_LABELS[by],
        "columns": [(status, STATUS_LABELS.get(status, status)) for status in present],
        "table": table,
        "total": sum(row.total for row in rows),
        "title": _("Ledger figures"),
    }
    return render(request, "law/figures.html", context)
