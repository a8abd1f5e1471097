"""Small pieces the caseworkers' pages share (people, casework and registry views and forms).

Batch readers here reuse this app's selectors so a page decrypts its sealed fields in one agent call,
never one per row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Literal

from django import forms
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kartoteka.accounts import access
from kartoteka.accounts.models import Team, User
from kartoteka.casework import selectors
from kartoteka.casework.models import Case, Incident, Source
from kartoteka.lib import vocab
from kartoteka.lib.partialdate import PartialDate, PartialDateError, parse
from kartoteka.registry import selectors as registry

Lang = Literal["ru", "en"]
PER_PAGE = 50


def user_of(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # the login wall lets only signed-in staff through
    return user


def lang() -> Lang:
    return "en" if (translation.get_language() or "ru").startswith("en") else "ru"


def page_number(request: HttpRequest) -> int:
    try:
        return max(1, min(int(request.GET.get("page", "1")), 100_000))
    except ValueError:
        return 1


def writable_teams(user: User) -> list[Team]:
    return [t for t in user.teams.order_by("name") if access.team_writable(user, t)]


# --- labels ----------------------------------------------------------------------------------------------


@cache
def _labels(name: str, language: Lang) -> dict[str, str]:
    # vocab.label resolves the vocabulary directory on every call; a page shows hundreds of labels.
    return {t.code: t.label(language) for t in vocab.terms(name, include_retired=True)}


def vocab_label(name: str, code: str) -> str:
    if not code:
        return ""
    try:
        labels = _labels(name, lang())
    except LookupError:
        return code
    return labels.get(code, code)  # a code unknown to the vocabulary still shows as itself


def date_display(edtf: str) -> str:
    if not edtf:
        return _("date unknown")
    try:
        return parse(edtf).display(lang())
    except PartialDateError:
        return edtf


# --- form fields -------------------------------------------------------------------------------------------


class PartialDateField(forms.CharField):
    """A free-text date ("весна 2023", "04.2023", "2023-04/2023-06") read as a PartialDate; empty is None."""

    max_text = 60

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text",
            gettext_lazy("For example: 10.04.2023, April 2023, spring 2023, 2023, 2023-04/2023-06"),
        )
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.widget.attrs["maxlength"] = str(self.max_text)

    def to_python(self, value: object) -> PartialDate | None:  # type: ignore[override]
        text = super().to_python(value)
        if not text:
            return None
        if len(text) > self.max_text:
            raise forms.ValidationError(
                gettext_lazy("At most %(n)d characters.") % {"n": self.max_text}, code="max_length"
            )
        try:
            return parse(text)
        except PartialDateError as error:
            raise forms.ValidationError(error.message(lang()), code=error.code) from None

    def prepare_value(self, value: object) -> object:
        return value.to_edtf() if isinstance(value, PartialDate) else value


def vocab_choices(name: str, *, blank: bool = False, keep: Iterable[str] = ()) -> list[tuple[str, str]]:
    """The vocabulary's offered terms, plus any retired codes in ``keep`` (an edit keeps old values)."""
    choices = vocab.choices(name, lang())
    offered = {c for c, _label in choices}
    for code in keep:
        if code and code not in offered:
            choices.append((code, vocab_label(name, code)))
    return ([("", "—")] if blank else []) + choices


def facility_choices(*, blank: bool = True) -> list[tuple[str, str]]:
    items = [(str(f.id), f"{f.key} — {f.official_name}") for f in registry.facility_list()]
    return ([("", "—")] if blank else []) + items


def region_choices(*, blank: bool = True) -> list[tuple[str, str]]:
    english = lang() == "en"
    items = [(r.code, f"{r.name_en if english else r.name_ru} ({r.code})") for r in registry.region_list()]
    return ([("", "—")] if blank else []) + items


def source_choices(user: User, *, blank: bool = True) -> list[tuple[str, str]]:
    """Sources the user may cite, newest first, with their labels (one decrypt batch)."""
    page = selectors.source_list(user=user, page=1, per_page=selectors.PER_PAGE_MAX)
    items = []
    for s in page.items:
        label = s.label or _("no label")
        items.append((str(s.id), f"{label} · {vocab_label('source_kind', s.kind)} · {s.created_at:%Y-%m-%d}"))
    return ([("", "—")] if blank else []) + items


def facility_names() -> dict[uuid.UUID, str]:
    """Facility id → key (reference data: a few hundred rows at most, read once per page)."""
    return {f.id: f.key for f in registry.facility_list()}


def uuid_or_none(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def service_error(form: forms.Form, error: ValueError) -> None:
    """Show a service's refusal on the field it names ("field: problem"), or on the form."""
    text = str(error)
    field, sep, _problem = text.partition(":")
    message = _("Not accepted: %(detail)s") % {"detail": text}
    if sep and field.strip() in form.fields:
        form.add_error(field.strip(), message)
    else:
        form.add_error(None, message)


# --- batch readers ----------------------------------------------------------------------------------------


def sources_by_ids(user: User, ids: Iterable[uuid.UUID | None]) -> list[selectors.SourceView]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return []
    rows: list[Source] = list(
        access.source_list_for_user(user).filter(id__in=wanted).order_by("-created_at", "id")
    )
    return selectors.source_views(user=user, rows=rows)


def incidents_of(user: User, rows: Sequence[Incident]) -> list[selectors.IncidentView]:
    return selectors.incident_views(user=user, rows=list(rows))


def cases_of(user: User, rows: Sequence[Case]) -> list[selectors.CaseView]:
    return selectors.case_views(user=user, rows=list(rows))
