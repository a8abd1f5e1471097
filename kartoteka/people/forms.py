"""Forms for finding persons, listing them and adding what a source reports about them.

Choices come from the vocabularies and reference data in the page's language, built per request.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from kartoteka.accounts.models import Team, User
from kartoteka.casework import webkit
from kartoteka.lib.partialdate import PartialDate
from kartoteka.people.services import PersonInput


class PersonSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Name (any spelling: Cyrillic or Latin, full or partial)"),
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autofocus": True}),
    )
    birth_year = forms.IntegerField(
        label=_("Year of birth (optional)"), required=False, min_value=1900, max_value=2100
    )


class PersonFilterForm(forms.Form):
    region = forms.ChoiceField(label=_("Home region"), required=False)
    facility = forms.ChoiceField(label=_("Facility"), required=False)
    recruiter = forms.ChoiceField(label=_("Recruiter"), required=False)
    status = forms.ChoiceField(label=_("Status"), required=False)
    team = forms.ChoiceField(label=_("Team"), required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._set("region", webkit.region_choices())
        self._set("facility", webkit.facility_choices())
        self._set("recruiter", webkit.vocab_choices("recruiter", blank=True))
        self._set("status", webkit.vocab_choices("person_status", blank=True))
        self._set("team", [("", "—"), *((str(t.id), t.name) for t in user.teams.order_by("name"))])

    def _set(self, name: str, choices: list[tuple[str, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices


def _sex_choices() -> list[tuple[str, str]]:
    return [("", "—"), ("m", webkit.vocab_label("sex", "male")), ("f", webkit.vocab_label("sex", "female"))]


class RecordForm(forms.Form):
    """One source's report of a person. Never edited afterwards: a correction is another record."""

    full_name = forms.CharField(label=_("Full name, as the source gives it"), max_length=300)
    aliases = forms.CharField(
        label=_("Other spellings and names (one per line)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    birth_date = webkit.PartialDateField(label=_("Date of birth"))
    sex = forms.ChoiceField(label=_("Sex"), required=False)
    home_region = forms.ChoiceField(label=_("Home region"), required=False)
    facility = forms.ChoiceField(label=_("Facility"), required=False)
    articles = forms.CharField(
        label=_("Criminal Code articles (comma-separated, e.g. 105.1, 228.4)"), required=False, max_length=200
    )
    sentence_months = forms.IntegerField(
        label=_("Sentence (months)"), required=False, min_value=0, max_value=1200
    )
    status = forms.ChoiceField(label=_("Status"), required=False)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 4}))
    source = forms.ChoiceField(label=_("Source"), required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._set("sex", _sex_choices())
        self._set("home_region", webkit.region_choices())
        self._set("facility", webkit.facility_choices())
        self._set("status", webkit.vocab_choices("person_status"))
        self.fields["status"].initial = "unknown"
        self._set("source", webkit.source_choices(user))

    def _set(self, name: str, choices: list[tuple[str, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices

    def person_input(self) -> PersonInput:
        data = self.cleaned_data
        born: PartialDate | None = data["birth_date"]
        aliases = tuple(a.strip() for a in str(data["aliases"]).splitlines() if a.strip())
        articles = tuple(a.strip() for a in str(data["articles"]).split(",") if a.strip())
        return PersonInput(
            full_name=str(data["full_name"]).strip(),
            aliases=aliases,
            birth_date=born,
            sex=data["sex"] or "",
            home_region_code=data["home_region"] or None,
            facility_id=webkit.uuid_or_none(data["facility"]),
            articles=articles,
            sentence_months=data["sentence_months"],
            status=data["status"] or "unknown",
            notes=data["notes"],
            source_id=webkit.uuid_or_none(data["source"]),
        )


class PersonCreateForm(RecordForm):
    team = forms.ChoiceField(label=_("Team"))

    field_order = ["team"]

    def __init__(self, *args: Any, user: User, teams: list[Team], **kwargs: Any) -> None:
        super().__init__(*args, user=user, **kwargs)
        self._set("team", [(str(t.id), t.name) for t in teams])
        self.order_fields(["team", *[n for n in self.fields if n != "team"]])


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"))
    date = webkit.PartialDateField(label=_("Since (date)"))
    source = forms.ChoiceField(label=_("Source"), required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        status = self.fields["status"]
        source = self.fields["source"]
        assert isinstance(status, forms.ChoiceField)
        assert isinstance(source, forms.ChoiceField)
        status.choices = webkit.vocab_choices("person_status")
        source.choices = webkit.source_choices(user)
