"""Forms of the casework room. Codes are offered as their vocabulary's labels in the page's language;
dates are free text read by lib.partialdate, with its Russian or English message when unreadable.

Choice lists are built per request (the language and the user's sources differ between requests).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from kartoteka.accounts.models import Team, User
from kartoteka.casework import webkit
from kartoteka.casework.services import CASE_STATUSES, LEGAL_STATUSES

_CHECKBOXES = forms.CheckboxSelectMultiple


def _legal_status_choices() -> list[tuple[str, str]]:
    labels = {
        "convicted": _("convicted"),
        "suspect": _("suspect"),
        "accused": _("accused"),
        "on_trial": _("on trial"),
    }
    return [(c, str(labels[c])) for c in sorted(LEGAL_STATUSES)]


def case_status_choices() -> list[tuple[str, str]]:
    labels = {"open": _("open"), "on_hold": _("on hold"), "closed": _("closed")}
    return [(c, str(labels[c])) for c in ("open", "on_hold", "closed") if c in CASE_STATUSES]


class _ChoicesForm(forms.Form):
    def set_choices(self, name: str, choices: list[tuple[str, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices


class _TeamMixin(_ChoicesForm):
    def add_team(self, teams: list[Team] | None) -> None:
        """A team chooser on creation forms only; owners never change on edit."""
        if teams is None:
            return
        self.fields["team"] = forms.ChoiceField(label=_("Team"), choices=[(str(t.id), t.name) for t in teams])
        self.order_fields(["team", *[n for n in self.fields if n != "team"]])


class IncidentFilterForm(_ChoicesForm):
    facility = forms.ChoiceField(label=_("Facility"), required=False)
    region = forms.ChoiceField(label=_("Region"), required=False)
    category = forms.ChoiceField(label=_("Category"), required=False)
    date_from = webkit.PartialDateField(label=_("From (date)"), help_text="")
    date_to = webkit.PartialDateField(label=_("To (date)"), help_text="")
    verification = forms.ChoiceField(label=_("Verification"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_choices("facility", webkit.facility_choices())
        self.set_choices("region", webkit.region_choices())
        self.set_choices("category", webkit.vocab_choices("incident_category", blank=True))
        self.set_choices("verification", webkit.vocab_choices("verification", blank=True))


class IncidentForm(_TeamMixin):
    facility = forms.ChoiceField(label=_("Facility"), required=False)
    region = forms.ChoiceField(
        label=_("Region"), required=False, help_text=_("Taken from the facility when one is chosen.")
    )
    date = webkit.PartialDateField(label=_("Date"))
    categories = forms.MultipleChoiceField(label=_("What happened (categories)"), widget=_CHECKBOXES)
    perpetrator_roles = forms.MultipleChoiceField(
        label=_("Who did it (roles)"), required=False, widget=_CHECKBOXES
    )
    victim_count = forms.IntegerField(
        label=_("Number of victims"), required=False, min_value=0, max_value=100000
    )
    victims = forms.MultipleChoiceField(label=_("Victims on file"), required=False, widget=_CHECKBOXES)
    officials = forms.CharField(
        label=_("Officials named (one per line)"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    description = forms.CharField(
        label=_("Description / testimony"), required=False, widget=forms.Textarea(attrs={"rows": 8})
    )
    verification = forms.ChoiceField(label=_("Verification"))
    sources = forms.MultipleChoiceField(label=_("Sources"), required=False, widget=_CHECKBOXES)

    def __init__(
        self,
        *args: Any,
        user: User,
        teams: list[Team] | None,
        victims: list[tuple[str, str]],
        keep: dict[str, list[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        keep = keep or {}
        self.set_choices("facility", webkit.facility_choices())
        self.set_choices("region", webkit.region_choices())
        self.set_choices(
            "categories", webkit.vocab_choices("incident_category", keep=keep.get("categories", ()))
        )
        self.set_choices(
            "perpetrator_roles",
            webkit.vocab_choices("perpetrator_role", keep=keep.get("perpetrator_roles", ())),
        )
        self.set_choices(
            "verification", webkit.vocab_choices("verification", keep=keep.get("verification", ()))
        )
        self.fields["verification"].initial = "unverified"
        self.set_choices("victims", victims)
        self.set_choices("sources", webkit.source_choices(user, blank=False))
        self.add_team(teams)

    def service_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "facility_id": webkit.uuid_or_none(d["facility"]),
            "region_code": (d["region"] or None) if not d["facility"] else None,
            "date": d["date"],
            "categories": list(d["categories"]),
            "perpetrator_roles": list(d["perpetrator_roles"]),
            "victim_count": d["victim_count"],
            "victim_ids": [u for v in d["victims"] if (u := webkit.uuid_or_none(v)) is not None],
            "officials": [o.strip() for o in str(d["officials"]).splitlines() if o.strip()],
            "description": d["description"],
            "verification": d["verification"],
            "source_ids": [u for v in d["sources"] if (u := webkit.uuid_or_none(v)) is not None],
        }


class SourceForm(_TeamMixin):
    kind = forms.ChoiceField(label=_("Kind of source"))
    reliability = forms.ChoiceField(label=_("Reliability"))
    language = forms.CharField(label=_("Language (a tag such as ru, uk, ce)"), required=False, max_length=10)
    consent = forms.ChoiceField(label=_("Consent"))
    label = forms.CharField(
        label=_('How staff know this source (e.g. "mother of the recruit")'), required=False, max_length=300
    )
    contact = forms.CharField(label=_("Contact"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, teams: list[Team] | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_choices("kind", webkit.vocab_choices("source_kind"))
        self.set_choices("reliability", webkit.vocab_choices("reliability"))
        self.fields["reliability"].initial = "unknown"
        self.set_choices("consent", webkit.vocab_choices("consent"))
        self.add_team(teams)

    def service_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {k: d[k] for k in ("kind", "reliability", "language", "consent", "label", "contact")}


class _PersonLinkedForm(_ChoicesForm):
    source = forms.ChoiceField(label=_("Source"), required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_choices("source", webkit.source_choices(user))

    def source_id(self) -> Any:
        return webkit.uuid_or_none(self.cleaned_data["source"])


class RecruitmentForm(_PersonLinkedForm):
    recruiter = forms.ChoiceField(label=_("Recruited by"))
    signed = webkit.PartialDateField(label=_("Contract signed (date)"))
    facility = forms.ChoiceField(label=_("Recruited in facility"), required=False)
    legal_status = forms.ChoiceField(label=_("Legal status when signing"))
    stated_term_months = forms.IntegerField(
        label=_("Stated term (months)"), required=False, min_value=0, max_value=600
    )
    unit = forms.CharField(label=_("Unit"), required=False, max_length=120)
    stated_regime = forms.CharField(
        label=_("Regime as the source states it (a code, optional)"), required=False, max_length=40
    )

    field_order = ["recruiter", "signed", "facility", "legal_status", "stated_term_months", "unit"]

    def __init__(self, *args: Any, user: User, keep: str = "", **kwargs: Any) -> None:
        super().__init__(*args, user=user, **kwargs)
        self.set_choices("recruiter", webkit.vocab_choices("recruiter", keep=[keep]))
        self.set_choices("facility", webkit.facility_choices())
        self.set_choices("legal_status", _legal_status_choices())
        self.fields["legal_status"].initial = "convicted"

    def service_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "recruiter": d["recruiter"],
            "signed": d["signed"],
            "facility_id": webkit.uuid_or_none(d["facility"]),
            "legal_status": d["legal_status"],
            "stated_term_months": d["stated_term_months"],
            "unit": d["unit"],
            "stated_regime": d["stated_regime"],
            "source_id": self.source_id(),
        }


class ServiceEventForm(_PersonLinkedForm):
    kind = forms.ChoiceField(label=_("Event"))
    date = webkit.PartialDateField(label=_("Date"))
    recruitment = forms.ChoiceField(label=_("Recruitment"), required=False)
    discharge_ground = forms.ChoiceField(label=_("Discharge ground (discharges only)"), required=False)

    field_order = ["kind", "date", "recruitment", "discharge_ground"]

    def __init__(self, *args: Any, user: User, recruitments: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, user=user, **kwargs)
        self.set_choices("kind", webkit.vocab_choices("service_event_kind"))
        self.set_choices("recruitment", [("", "—"), *recruitments])
        self.set_choices("discharge_ground", webkit.vocab_choices("discharge_ground", blank=True))

    def service_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "kind": d["kind"],
            "date": d["date"],
            "recruitment_id": webkit.uuid_or_none(d["recruitment"]),
            "discharge_ground": d["discharge_ground"],
            "source_id": self.source_id(),
        }


class PromiseForm(_PersonLinkedForm):
    kind = forms.ChoiceField(label=_("What was promised"))
    amount = forms.DecimalField(
        label=_("Amount"), required=False, min_value=0, max_digits=14, decimal_places=2
    )
    currency = forms.CharField(label=_("Currency (ISO code)"), initial="RUB", max_length=3, min_length=3)
    due = webkit.PartialDateField(label=_("Due (date)"))
    condition = forms.CharField(
        label=_("Condition (a code, e.g. after_6_months; optional)"), required=False, max_length=40
    )
    promised_by = forms.ChoiceField(label=_("Promised by"), required=False)
    recruitment = forms.ChoiceField(label=_("Recruitment"), required=False)
    details = forms.CharField(label=_("Details"), required=False, widget=forms.Textarea(attrs={"rows": 4}))

    field_order = ["kind", "amount", "currency", "due", "condition", "promised_by", "recruitment", "details"]

    def __init__(self, *args: Any, user: User, recruitments: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, user=user, **kwargs)
        self.set_choices("kind", webkit.vocab_choices("promise_kind"))
        self.set_choices("promised_by", webkit.vocab_choices("perpetrator_role", blank=True))
        self.set_choices("recruitment", [("", "—"), *recruitments])

    def clean_currency(self) -> str:
        return str(self.cleaned_data["currency"]).upper()

    def service_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "kind": d["kind"],
            "amount": d["amount"],
            "currency": d["currency"],
            "due": d["due"],
            "condition": d["condition"],
            "promised_by": d["promised_by"],
            "details": d["details"],
            "recruitment_id": webkit.uuid_or_none(d["recruitment"]),
            "source_id": self.source_id(),
        }


class DeliveryForm(_PersonLinkedForm):
    outcome = forms.ChoiceField(label=_("Outcome"))
    amount = forms.DecimalField(
        label=_("Amount (in the promise's currency)"),
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=2,
    )
    date = webkit.PartialDateField(label=_("Date"))

    field_order = ["outcome", "amount", "date"]

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, user=user, **kwargs)
        self.set_choices("outcome", webkit.vocab_choices("delivery_outcome"))

    def service_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "outcome": d["outcome"],
            "amount": d["amount"],
            "date": d["date"],
            "source_id": self.source_id(),
        }


class VisitForm(_TeamMixin):
    facility = forms.ChoiceField(label=_("Facility"))
    recruiter = forms.ChoiceField(label=_("Recruiter"))
    date = webkit.PartialDateField(label=_("Date"))
    source = forms.ChoiceField(label=_("Source"), required=False)

    def __init__(self, *args: Any, user: User, teams: list[Team] | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_choices("facility", webkit.facility_choices(blank=False))
        self.set_choices("recruiter", webkit.vocab_choices("recruiter"))
        self.set_choices("source", webkit.source_choices(user))
        self.add_team(teams)

    def service_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "facility_id": webkit.uuid_or_none(d["facility"]),
            "recruiter": d["recruiter"],
            "date": d["date"],
            "source_id": webkit.uuid_or_none(d["source"]),
        }


class CaseForm(_TeamMixin):
    assignee = forms.ChoiceField(label=_("Assignee"), required=False)
    deadline = forms.DateField(
        label=_("Deadline"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    status = forms.ChoiceField(label=_("Status"))
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 5}))

    def __init__(
        self, *args: Any, teams: list[Team] | None, assignees: list[tuple[str, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.set_choices("assignee", [("", "—"), *assignees])
        self.set_choices("status", case_status_choices())
        self.add_team(teams)


class TextSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Words to find in testimony, descriptions and notes"),
        min_length=2,
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    offset = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
