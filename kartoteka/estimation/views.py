"""The analysts' estimation pages: estimate from an overlap table or from declared lists, save, approve.

Thin: forms validate, selectors and services do the work. Nothing here decrypts: declared lists are read
as record and person ids, and the pages show figures only, so analysts may use them.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kartoteka.accounts import access
from kartoteka.casework import webkit
from kartoteka.estimation import report, selectors, services, tables
from kartoteka.estimation.access import declared_list_list_for_user, saved_estimate_list_for_user
from kartoteka.estimation.errors import EstimationError

MAX_TABLE_BYTES = 200_000


class TableForm(forms.Form):
    table = forms.CharField(
        label=gettext_lazy("Overlap table (CSV)"), widget=forms.Textarea(attrs={"rows": 8}), required=False,
        help_text=gettext_lazy("One 0/1 column per list and a `count` column, e.g. A,B,C,count."),
    )  # fmt: skip
    table_file = forms.FileField(label=gettext_lazy("…or a CSV file"), required=False)
    population = forms.CharField(label=gettext_lazy("Population the lists count"), max_length=60)
    period = forms.CharField(label=gettext_lazy("Period the lists cover"), max_length=40)
    by_stratum = forms.BooleanField(label=gettext_lazy("Estimate per `stratum` column"), required=False)

    def table_text(self) -> str:
        upload = self.cleaned_data.get("table_file")
        if upload is not None:
            if upload.size > MAX_TABLE_BYTES:
                raise EstimationError(_("file: at most 200 kB"))
            raw: bytes = upload.read()
            return raw.decode("utf-8-sig")
        text: str = self.cleaned_data.get("table") or ""
        if not text.strip():
            raise EstimationError(_("table: paste a table or choose a file"))
        return text


class ListsForm(forms.Form):
    lists = forms.MultipleChoiceField(
        label=gettext_lazy("Declared lists"), widget=forms.CheckboxSelectMultiple, choices=[]
    )
    by_region = forms.BooleanField(label=gettext_lazy("Estimate per region and sum"), required=False)
    save = forms.BooleanField(label=gettext_lazy("Save for approval and publication"), required=False)

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["lists"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = choices


class DeclareForm(forms.Form):
    source = forms.ChoiceField(label=gettext_lazy("Source"), choices=[])
    name = forms.CharField(label=gettext_lazy("List name"), max_length=60)
    population = forms.CharField(label=gettext_lazy("Population the list counts"), max_length=60)
    period = forms.CharField(label=gettext_lazy("Period the list covers"), max_length=40)

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["source"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices


def _list_choices(request: HttpRequest) -> list[tuple[str, str]]:
    user = webkit.user_of(request)
    return [
        (str(d.id), f"{d.name} — {d.population}, {d.period}")
        for d in declared_list_list_for_user(user).order_by("name")
    ]


def _page(request: HttpRequest, **extra: Any) -> HttpResponse:
    user = webkit.user_of(request)
    context: dict[str, Any] = {
        "table_form": TableForm(),
        "lists_form": ListsForm(choices=_list_choices(request)),
        "saved": saved_estimate_list_for_user(user).order_by("-created_at")[:50],
        "user_id": user.id,
        **extra,
    }
    return render(request, "estimation/estimate.html", context, status=400 if extra.get("error") else 200)


@never_cache
@require_GET
def estimate_page(request: HttpRequest) -> HttpResponse:
    return _page(request)


@never_cache
@require_POST
def estimate_table(request: HttpRequest) -> HttpResponse:
    form = TableForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, table_form=form, error=_("Check the fields marked below."))
    try:
        text = form.table_text()
        data = form.cleaned_data
        if data["by_stratum"]:
            strata = tables.strata_from_csv_text(text, population=data["population"], period=data["period"])
            result = report.estimate_stratified(strata)
        else:
            table = tables.table_from_csv_text(text, population=data["population"], period=data["period"])
            result = report.estimate(table)
    except (tables.TableError, EstimationError, UnicodeDecodeError) as exc:
        return _page(request, table_form=form, error=str(exc))
    return _page(request, table_form=form, result=report.view(result, webkit.lang()))


@never_cache
@require_POST
def estimate_lists(request: HttpRequest) -> HttpResponse:
    user = webkit.user_of(request)
    form = ListsForm(request.POST, choices=_list_choices(request))
    if not form.is_valid():
        return _page(request, lists_form=form, error=_("Choose two or more lists."))
    ids: list[str] = form.cleaned_data["lists"]
    try:
        result, counted = selectors.lists_estimate(
            user=user, list_ids=ids, by_region=form.cleaned_data["by_region"]
        )
        saved = None
        if form.cleaned_data["save"]:
            team = selectors.lists_get(user=user, list_ids=ids[:1])[0].team
            saved = services.estimate_save(actor=user, team=team, result=result)
    except (tables.TableError, EstimationError) as exc:
        return _page(request, lists_form=form, error=str(exc))
    return _page(
        request, lists_form=form, result=report.view(result, webkit.lang()), counted=counted, saved_now=saved
    )


@never_cache
@require_http_methods(["GET", "POST"])
def list_declare(request: HttpRequest) -> HttpResponse:
    user = webkit.user_of(request)
    choices = [(str(s.id), f"{s.kind} · {s.created_at:%Y-%m-%d} · {str(s.id)[:8]}")
               for s in access.source_list_for_user(user).order_by("-created_at")[:500]]  # fmt: skip
    form = DeclareForm(request.POST or None, choices=choices)
    if request.method == "POST" and form.is_valid():
        try:
            services.declared_list_create(actor=user, source_id=form.cleaned_data["source"], **{
                k: form.cleaned_data[k] for k in ("name", "population", "period")
            })  # fmt: skip
        except EstimationError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("estimation:page")
    intro = _("A declared list is one source's records read as a list: say what it counts and when.")
    context = {"form": form, "title": _("Declare a list"), "back": "../", "intro": intro}
    return render(request, "casework/form.html", context)


@never_cache
@require_POST
def estimate_approve(request: HttpRequest, estimate_id: str) -> HttpResponse:
    user = webkit.user_of(request)
    try:
        services.estimate_approve(actor=user, estimate_id=estimate_id)
    except EstimationError as exc:
        return _page(request, error=str(exc))
    return redirect("estimation:page")
