"""The review decision form: three submit buttons named ``decision`` and an optional note."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from kartoteka.linkage.models import Decision
from kartoteka.linkage.services import NOTE_MAX


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[
            (Decision.ACCEPTED, _("Same person")),
            (Decision.REJECTED, _("Different people")),
            (Decision.UNSURE, _("Not sure")),
        ],
        error_messages={"required": _("Choose a decision."), "invalid_choice": _("Choose a decision.")},
    )
    note = forms.CharField(
        label=_("Note (optional, stored encrypted)"),
        required=False,
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
