"""The dashboard's filter form (GET, works without JavaScript) and the publication request form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from kartoteka.casework import webkit
from kartoteka.lib import disclosure


class DashboardFilterForm(forms.Form):
    date_from = webkit.PartialDateField(label=_("From (month)"), help_text="")
    date_to = webkit.PartialDateField(label=_("To (month)"), help_text="")
    region = forms.ChoiceField(label=_("Region"), required=False)
    facility_type = forms.ChoiceField(label=_("Facility type"), required=False)
    recruiter = forms.ChoiceField(label=_("Recruiter"), required=False)
    category = forms.ChoiceField(label=_("Category"), required=False)
    verification = forms.ChoiceField(label=_("Verification"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._set("region", webkit.region_choices())
        self._set("facility_type", webkit.vocab_choices("facility_type", blank=True))
        self._set("recruiter", webkit.vocab_choices("recruiter", blank=True))
        self._set("category", webkit.vocab_choices("incident_category", blank=True))
        self._set("verification", webkit.vocab_choices("verification", blank=True))

    def _set(self, name: str, choices: list[tuple[str, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices


def _quarter(value: str) -> str:
    text = value.strip().upper()
    try:
        disclosure.quarter_bounds(text)
    except disclosure.DisclosureError:
        raise forms.ValidationError(_("A quarter such as 2024Q1."), code="quarter") from None
    return text


class ReportForm(forms.Form):
    period_from = forms.CharField(label=_("First quarter"), max_length=6, initial="2024Q1")
    period_to = forms.CharField(label=_("Last quarter"), max_length=6, initial="2024Q4")
    lang = forms.ChoiceField(label=_("Language"), choices=[("ru", "русский"), ("en", "English")])

    def clean_period_from(self) -> str:
        return _quarter(self.cleaned_data["period_from"])

    def clean_period_to(self) -> str:
        return _quarter(self.cleaned_data["period_to"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, last = data.get("period_from"), data.get("period_to")
        if first and last:
            try:
                disclosure.quarters_between(first, last)
            except disclosure.DisclosureError:
                raise forms.ValidationError(_("The last quarter comes before the first.")) from None
        return data
