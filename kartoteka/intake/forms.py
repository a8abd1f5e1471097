"""The public form's fields; labels come from intake.texts and vocabulary labels in the reporter's language."""

from __future__ import annotations

from typing import Any

from django import forms

from kartoteka.intake.texts import Lang, texts
from kartoteka.lib import vocab

TEXT_MAX = 20_000
LINE_MAX = 300


def _line(label: str, *, max_length: int = LINE_MAX) -> forms.CharField:
    return forms.CharField(label=label, required=False, max_length=max_length, strip=True)


def _area(label: str) -> forms.CharField:
    return forms.CharField(
        label=label, required=False, max_length=TEXT_MAX, strip=True, widget=forms.Textarea(attrs={"rows": 5})
    )


class ReportForm(forms.Form):
    def __init__(self, *args: Any, lang: Lang, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        t = texts(lang)
        self.fields["relationship"] = forms.ChoiceField(
            label=t["relationship"],
            required=False,
            choices=[("", "—"), *vocab.choices("reporter_relationship", lang)],
        )
        self.fields["person_name"] = _line(t["person_name"])
        self.fields["birth_year"] = forms.IntegerField(
            label=t["birth_year"], required=False, min_value=1900, max_value=2025
        )
        self.fields["facility"] = _line(t["facility"])
        self.fields["categories"] = forms.MultipleChoiceField(
            label=t["categories"],
            required=False,
            choices=vocab.choices("incident_category", lang),
            widget=forms.CheckboxSelectMultiple,
        )
        self.fields["what_text"] = _area(t["what_text"])
        self.fields["when"] = _line(t["when"], max_length=100)
        self.fields["promised"] = _area(t["promised"])
        self.fields["became"] = _area(t["became"])
        self.fields["contact"] = _line(t["contact"])

    def envelope_fields(self) -> dict[str, object]:
        data = self.cleaned_data
        out: dict[str, object] = {k: data.get(k) or "" for k in self.fields}
        out["categories"] = list(data.get("categories") or [])
        out["birth_year"] = "" if data.get("birth_year") is None else str(data["birth_year"])
        return out


class ReturnForm(forms.Form):
    codename = forms.CharField(max_length=300, strip=True, widget=forms.PasswordInput(render_value=False))
    add_text = forms.CharField(
        required=False, max_length=TEXT_MAX, strip=True, widget=forms.Textarea(attrs={"rows": 5})
    )

    def __init__(self, *args: Any, lang: Lang, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        t = texts(lang)
        self.fields["codename"].label = t["codename"]
        self.fields["add_text"].label = t["add_text"]
