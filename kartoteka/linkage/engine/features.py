"""From opened records to the in-memory frame the linkage model compares. Pure Python, no Django.

A record's name (and aliases) becomes a set of forms from :mod:`kartoteka.lib.names`: the script-neutral
phonetic key of each part by role (every romanisation convention and the Cyrillic original map to the same
key, so the key is where the romanisations meet), the first sound class of the given name and patronymic
(so «Иванов П. С.» meets «Pyotr Sergeevich Ivanov»), every part key (so a misread order still meets) and
the given name's diminutive expansions. The birth date keeps its precision: the earliest and latest day it
can be, the year when it is known, and month and day when they are. Nothing here is written anywhere: the
frame lives in memory and is dropped with the run.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from kartoteka.lib import names
from kartoteka.lib.partialdate import PartialDate, PartialDateError, Precision, parse

# Columns of the prepared frame, in order (the model's comparisons and blocking rules read these).
COLUMNS = (
    "unique_id", "surname", "given", "patronymic", "given_init", "patronymic_init", "initials",
    "name_keys", "given_forms", "sex", "birth_lo", "birth_hi", "birth_year", "birth_month", "birth_day",
    "birth_date", "region", "facility", "recruited",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class OpenedRecord:
    """One record as linkage needs it, decrypted in memory (never stored in this form)."""

    id: uuid.UUID
    full_name: str
    aliases: tuple[str, ...] = ()
    birth_date: str = ""  # EDTF or anything partialdate.parse reads; "" when unknown
    sex: str = ""  # "m", "f" or ""
    region: str | None = None
    facility: str | None = None
    recruited: dt.date | None = None


@dataclass(frozen=True, slots=True)
class BirthFeatures:
    lo: int | None  # proleptic ordinal of the earliest possible day
    hi: int | None
    year: int | None  # only when the whole interval lies in one year
    month: int | None  # only at month or day precision
    day: int | None  # only at day precision
    date: str | None  # ISO day, only at day precision


_NO_BIRTH = BirthFeatures(None, None, None, None, None, None)


@lru_cache(maxsize=1 << 16)
def birth_features(text: str) -> BirthFeatures:
    """Features of a birth date as written; unreadable counts as unknown (linkage never fails on it)."""
    if not text:
        return _NO_BIRTH
    try:
        value: PartialDate = parse(text)
    except PartialDateError:
        return _NO_BIRTH
    lo, hi = value.earliest(), value.latest()
    if lo is None or hi is None:
        return _NO_BIRTH
    precision = value.precision
    point = value.start
    month = point.month if point is not None and precision in (Precision.MONTH, Precision.DAY) else None
    day = point.day if point is not None and precision == Precision.DAY else None
    return BirthFeatures(
        lo=lo.toordinal(),
        hi=hi.toordinal(),
        year=lo.year if lo.year == hi.year else None,
        month=month,
        day=day,
        date=lo.isoformat() if day is not None else None,
    )


@lru_cache(maxsize=1 << 17)
def _name(raw: str) -> names.LinkageParts:
    return names.linkage_parts(raw)


def _or_none(value: str) -> str | None:
    return value or None


def _row(record: OpenedRecord) -> tuple[object, ...]:
    main = _name(record.full_name)
    keys = dict.fromkeys(main.keys)
    given_forms = dict.fromkeys(main.given_forms)
    for alias in record.aliases:
        parts = _name(alias)
        keys.update(dict.fromkeys(parts.keys))
        given_forms.update(dict.fromkeys(parts.given_forms))
    sex = record.sex if record.sex in ("m", "f") else (main.sex or None)
    birth = birth_features(record.birth_date)
    initials = (main.surname[:1] + (main.given_sound or "_") + (main.patronymic_sound or "_")) or None
    return (
        str(record.id),
        _or_none(main.surname),
        _or_none(main.given),
        _or_none(main.patronymic),
        _or_none(main.given_sound),
        _or_none(main.patronymic_sound),
        initials if main.surname else None,
        list(keys) or None,
        list(given_forms) or None,
        sex,
        birth.lo,
        birth.hi,
        birth.year,
        birth.month,
        birth.day,
        birth.date,
        record.region or None,
        record.facility or None,
        record.recruited.toordinal() if record.recruited is not None else None,
    )


_INT_COLUMNS = frozenset(("birth_lo", "birth_hi", "birth_year", "birth_month", "birth_day", "recruited"))
_LIST_COLUMNS = frozenset(("name_keys", "given_forms"))


def prepare_records(records: Iterable[OpenedRecord]) -> pd.DataFrame:
    """The frame the model compares, one row per record, in memory only.

    Records stream in (the caller may be decrypting the next batch meanwhile) and are kept as columns,
    not row objects; the frame's columns are Arrow-backed (compact, and DuckDB reads them without a copy).
    Name parts come from the per-name cache, so equal strings share one object until Arrow packs them."""
    columns: list[list[object]] = [[] for _ in COLUMNS]
    appends = [c.append for c in columns]
    for record in records:
        for append, value in zip(appends, _row(record), strict=True):
            append(value)
    return pd.DataFrame({name: _arrow(name, values) for name, values in zip(COLUMNS, columns, strict=True)})


def _arrow(name: str, values: list[object]) -> pd.Series:
    import pyarrow as pa

    kind = (
        pa.int32()
        if name in _INT_COLUMNS
        else pa.list_(pa.string())
        if name in _LIST_COLUMNS
        else pa.string()
    )
    return pd.Series(pd.arrays.ArrowExtensionArray(pa.array(values, type=kind)), name=name, copy=False)
