"""Names for the few hot paths that write plain SQL over the models' own tables (name search, its access
check): Django builds some of those queries more slowly than the database runs them. Only model metadata
becomes SQL text here; every value stays a placeholder."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Field, Model


def model_field(model: type[Model], name: str) -> tuple[Field[Any, Any], str]:
    """A concrete field (for its value adapters) and its quoted column."""
    field = model._meta.get_field(name)
    assert isinstance(field, Field)
    assert field.column is not None
    return field, connection.ops.quote_name(field.column)


def column(model: type[Model], name: str) -> str:
    """A concrete field's quoted column."""
    return model_field(model, name)[1]


def table(model: type[Model]) -> str:
    """A model's quoted table name."""
    return connection.ops.quote_name(model._meta.db_table)


def placeholders(count: int) -> str:
    """``%s, %s, …`` for an ``IN (…)`` of ``count`` values."""
    return ", ".join(["%s"] * count)
