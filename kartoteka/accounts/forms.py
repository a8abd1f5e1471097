"""Forms for sign-in, second factor, tokens, teams and break-glass. Labels and errors are translated."""

from __future__ import annotations

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from kartoteka.accounts.models import Team


class LoginForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150, strip=True)
    password = forms.CharField(label=_("Password"), strip=False, widget=forms.PasswordInput)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "autofocus": True})
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from your authenticator app, or a recovery code"),
        max_length=16,
        strip=True,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}
        ),
    )

    def clean_code(self) -> str:
        return str(self.cleaned_data["code"]).replace(" ", "").lower()


class TokenCreateForm(forms.Form):
    name = forms.CharField(label=_("Name (what the token is for)"), max_length=80)
    days = forms.IntegerField(label=_("Valid for (days)"), min_value=1, max_value=365, initial=30)


class MemberAddForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)


class BreakGlassForm(forms.Form):
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.none())
    reason = forms.CharField(
        label=_("Reason (kept encrypted; the team's coordinators are told that you looked)"),
        min_length=10,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    password = forms.CharField(label=_("Your password, again"), strip=False, widget=forms.PasswordInput)

    def __init__(self, *args: object, teams: QuerySet[Team] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["team"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = teams if teams is not None else Team.objects.none()
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})
