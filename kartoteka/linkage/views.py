"""The clerical review queue, the pair page and its decision, a person's merge history and undo.

Thin: gates and reads in kartoteka.linkage.access/selectors, writes in services. A pair or event the user
may not see is a 404 like a missing one. Identity fields shown are logged as identity reads.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from kartoteka.accounts import access
from kartoteka.accounts import services as account_services
from kartoteka.casework import webkit
from kartoteka.linkage import access as link_access
from kartoteka.linkage import forms, selectors, services


def _decision_labels() -> dict[str, str]:
    return {"accepted": _("same person"), "rejected": _("different people"), "unsure": _("not sure")}


def _refusal_text(error: ValueError) -> str:
    """The service's refusal in the user's language (services speak English to code and logs)."""
    text = str(error)
    known = {
        "already decided": _("This pair has already been decided."),
        "already undone": _("This has already been undone."),
        "later merge": _("A later merge moved some of these records: undo that one first."),
        "only a merge or a link": _("Only a merge or a link can be undone."),
        "two teams": _("Records of two teams are never merged."),
    }
    return next((message for key, message in known.items() if key in text), text)


def _status_labels() -> dict[str, str]:
    return {
        "pending": _("awaiting review"),
        "unsure": _("not sure"),
        "accepted": _("same person"),
        "rejected": _("different people"),
        "auto": _("merged automatically"),
    }


def _field_labels() -> dict[str, str]:
    return {
        "name": _("Name"),
        "aliases": _("Other names"),
        "birth_date": _("Birth date"),
        "sex": _("Sex"),
        "region": _("Home region"),
        "facility": _("Facility"),
        "articles": _("Articles"),
        "sentence": _("Sentence (months)"),
        "recruited": _("Recruitment signed"),
        "recorded": _("Recorded on"),
    }


def _event_labels() -> dict[str, str]:
    return {
        "merge": _("merge"),
        "unmerge": _("merge undone"),
        "link": _("link with another team's record"),
        "unlink": _("link withdrawn"),
    }


@never_cache
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    user = webkit.user_of(request)
    queue = request.GET.get("queue", "open")
    queue = queue if queue in selectors.QUEUES else "open"
    page = selectors.review_queue(user=user, queue=queue, page=webkit.page_number(request))
    context = {
        "page": page,
        "queue": queue,
        "statuses": _status_labels(),
        "sees_identities": access.sees_identities(user),
    }
    return render(request, "linkage/queue.html", context)


def _pair_render(
    request: HttpRequest, pair_id: uuid.UUID, form: forms.DecisionForm, status: int
) -> HttpResponse:
    user = webkit.user_of(request)
    page = selectors.pair_page(user=user, pair_id=pair_id, lang=webkit.lang())
    shown = [s.person_id for s in (page.a, page.b) if s.visible and s.person_id is not None]
    account_services.identity_reads_log(user=user, person_ids=shown)
    context = {
        "pair": page,
        "form": form,
        "fields": _field_labels(),
        "statuses": _status_labels(),
        "decisions": _decision_labels(),
    }
    return render(request, "linkage/pair.html", context, status=status)


@never_cache
@require_GET
def pair_detail(request: HttpRequest, pair_id: uuid.UUID) -> HttpResponse:
    return _pair_render(request, pair_id, forms.DecisionForm(), 200)


@never_cache
@require_POST
def pair_decide(request: HttpRequest, pair_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    link_access.candidate_pair_get_for_user(user, pair_id, write=True)  # 404 before any form work
    form = forms.DecisionForm(request.POST)
    if not form.is_valid():
        return _pair_render(request, pair_id, form, 400)
    try:
        pair = services.review_decide(
            actor=user,
            pair_id=pair_id,
            decision=form.cleaned_data["decision"],
            note=form.cleaned_data["note"],
        )
    except ValueError as error:
        form.add_error(None, _refusal_text(error))
        return _pair_render(request, pair_id, form, 400)
    messages.success(
        request,
        _("Decision recorded: %(decision)s. Pair status: %(status)s.")
        % {
            "decision": _decision_labels()[form.cleaned_data["decision"]],
            "status": _status_labels()[pair.status],
        },
    )
    following = selectors.next_open_pair(user=user, after=pair.id)
    if following is not None:
        return HttpResponseRedirect(reverse("linkage:pair", args=[following]))
    return HttpResponseRedirect(reverse("linkage:queue"))


@never_cache
@require_GET
def person_merges(request: HttpRequest, person_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    history = selectors.merge_history(user=user, person_id=person_id)
    context = {
        "person_id": person_id,
        "events": history,
        "absorbed_into": selectors.absorbed_into(user=user, person_id=person_id),
        "labels": _event_labels(),
    }
    return render(request, "linkage/person_merges.html", context)


@never_cache
@require_POST
def merge_undo(request: HttpRequest, event_id: uuid.UUID) -> HttpResponse:
    user = webkit.user_of(request)
    person_id = webkit.uuid_or_none(request.POST.get("person"))
    try:
        services.merge_undo(actor=user, event_id=event_id)
    except ValueError as error:
        messages.error(request, _("Not undone: %(detail)s") % {"detail": _refusal_text(error)})
    else:
        messages.success(request, _("Undone: every record is back with the person it came from."))
    if person_id is not None:
        return HttpResponseRedirect(reverse("linkage:person_merges", args=[person_id]))
    return HttpResponseRedirect(reverse("linkage:queue"))
