"""The triage queue (/intake/triage/): staff holding an active triage key only (404 for everyone else)."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from kartoteka.accounts.models import Team, User
from kartoteka.intake.triage import services
from kartoteka.lib import keys, vocab


class UnlockForm(forms.Form):
    passphrase = forms.CharField(
        label=gettext_lazy("Triage passphrase"), widget=forms.PasswordInput, strip=False
    )
    minutes = forms.IntegerField(label=gettext_lazy("Minutes"), min_value=5, max_value=240, initial=30)


class RecordsForm(forms.Form):
    team = forms.ModelChoiceField(label=gettext_lazy("Team"), queryset=Team.objects.none())
    full_name = forms.CharField(label=gettext_lazy("Full name"), required=False, max_length=300)
    birth_year = forms.IntegerField(
        label=gettext_lazy("Year of birth"), required=False, min_value=1900, max_value=2025
    )
    existing_person = forms.UUIDField(
        label=gettext_lazy("Existing person (from the suggestions)"), required=False
    )
    categories = forms.MultipleChoiceField(
        label=gettext_lazy("Incident categories"), required=False, widget=forms.CheckboxSelectMultiple
    )
    when = forms.CharField(label=gettext_lazy("When"), required=False, max_length=100)
    description = forms.CharField(
        label=gettext_lazy("Incident description"), required=False, widget=forms.Textarea
    )
    promise_kind = forms.ChoiceField(label=gettext_lazy("Promise kind"), required=False)
    promise_details = forms.CharField(
        label=gettext_lazy("Promise details"), required=False, widget=forms.Textarea
    )
    source_label = forms.CharField(label=gettext_lazy("Source label"), required=False, max_length=200)
    source_contact = forms.CharField(label=gettext_lazy("Source contact"), required=False, max_length=300)

    def __init__(self, *args: object, user: User, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        lang: vocab.Lang = "en" if get_language() == "en" else "ru"
        self.fields["team"].queryset = user.teams.all()  # type: ignore[attr-defined]
        self.fields["categories"].choices = vocab.choices("incident_category", lang)  # type: ignore[attr-defined]
        self.fields["promise_kind"].choices = [("", "—"), *vocab.choices("promise_kind", lang)]  # type: ignore[attr-defined]


class ReplyForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Reply to the reporter"), widget=forms.Textarea, max_length=20_000
    )


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # the login wall let only staff through
    return user


@never_cache
def queue(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    rows = services.queue(user=user)
    remaining = services.triage_remaining(user=user)
    return render(
        request,
        "intake_triage/queue.html",
        {"rows": rows, "remaining": int(remaining // 60), "form": UnlockForm()},
    )


@require_POST
def unlock(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = UnlockForm(request.POST)
    if form.is_valid():
        try:
            services.triage_unlock(
                user=user, passphrase=form.cleaned_data["passphrase"], minutes=form.cleaned_data["minutes"]
            )
            messages.success(request, _("Your triage key is unlocked."))
        except keys.UnlockError:
            messages.error(request, _("Wrong passphrase."))
    return HttpResponseRedirect(reverse("intake_triage:queue"))


@require_POST
def lock(request: HttpRequest) -> HttpResponse:
    services.triage_lock(user=_user(request))
    return HttpResponseRedirect(reverse("intake_triage:queue"))


def _opened(request: HttpRequest, submission_id: uuid.UUID) -> services.SubmissionView | None:
    try:
        return services.submission_open(user=_user(request), submission_id=submission_id)
    except keys.LockedError:
        messages.error(request, _("Unlock your triage key first."))
        return None


@never_cache
def detail(request: HttpRequest, submission_id: uuid.UUID) -> HttpResponse:
    user = _user(request)
    view = _opened(request, submission_id)
    if view is None:
        return HttpResponseRedirect(reverse("intake_triage:queue"))
    fields = view.fields
    initial = {
        "full_name": fields.get("person_name", ""),
        "birth_year": fields.get("birth_year") or None,
        "categories": fields.get("categories", []),
        "when": fields.get("when", ""),
        "description": fields.get("what_text", ""),
        "promise_details": "\n\n".join(
            x for x in (fields.get("promised", ""), fields.get("became", "")) if x
        ),
        "source_contact": fields.get("contact", ""),
    }
    return render(
        request,
        "intake_triage/detail.html",
        {
            "view": view,
            "duplicates": services.duplicates(user=user, view=view),
            "records_form": RecordsForm(initial=initial, user=user),
            "reply_form": ReplyForm(),
        },
    )


@require_POST
def records(request: HttpRequest, submission_id: uuid.UUID) -> HttpResponse:
    user = _user(request)
    form = RecordsForm(request.POST, user=user)
    if not form.is_valid():
        messages.error(request, _("Check the form: nothing was created."))
        return HttpResponseRedirect(reverse("intake_triage:detail", args=[submission_id]))
    d = form.cleaned_data
    try:
        services.submission_triage(
            actor=user,
            submission_id=submission_id,
            data=services.TriageInput(
                team=d["team"],
                full_name=d["full_name"],
                birth_year=d["birth_year"],
                existing_person_id=d["existing_person"],
                categories=tuple(d["categories"]),
                description=d["description"],
                when=d["when"],
                promise_kind=d["promise_kind"],
                promise_details=d["promise_details"],
                source_label=d["source_label"],
                source_contact=d["source_contact"],
            ),
        )
        messages.success(request, _("Records created and linked to the submission."))
    except keys.LockedError:
        messages.error(request, _("Unlock your triage key first."))
    except ValueError as exc:
        messages.error(request, str(exc))
    return HttpResponseRedirect(reverse("intake_triage:detail", args=[submission_id]))


@require_POST
def files(request: HttpRequest, submission_id: uuid.UUID) -> HttpResponse:
    try:
        moved = services.files_to_vault(actor=_user(request), submission_id=submission_id)
        messages.success(request, _("Files moved into the evidence vault: %(n)d.") % {"n": len(moved)})
    except keys.LockedError:
        messages.error(request, _("Unlock your triage key first."))
    return HttpResponseRedirect(reverse("intake_triage:detail", args=[submission_id]))


@require_POST
def reply(request: HttpRequest, submission_id: uuid.UUID) -> HttpResponse:
    form = ReplyForm(request.POST)
    if form.is_valid():
        services.reply_send(actor=_user(request), submission_id=submission_id, text=form.cleaned_data["text"])
        messages.success(request, _("Reply sealed for the reporter."))
    return HttpResponseRedirect(reverse("intake_triage:detail", args=[submission_id]))
