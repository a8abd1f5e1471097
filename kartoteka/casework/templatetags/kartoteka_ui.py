"""Template filters for the caseworkers' pages: vocabulary labels and partial dates in the page's language."""

from __future__ import annotations

from collections.abc import Mapping

from django import template

from kartoteka.casework import webkit

register = template.Library()


@register.filter
def vlabel(code: str | None, vocabulary: str) -> str:
    """``{{ incident.verification|vlabel:"verification" }}``"""
    return webkit.vocab_label(vocabulary, code or "")


@register.filter
def pdate(edtf: str | None) -> str:
    """An EDTF partial date as words ("апрель 2023", "April 2023")."""
    return webkit.date_display(edtf or "")


@register.filter
def lookup(mapping: Mapping[object, object] | None, key: object) -> object:
    if not mapping:
        return ""
    return mapping.get(key, "")
