"""Reads of reference data. Regions and facilities are public: no gate, no sealed field, plain views."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from kartoteka.registry.models import Facility, Region


class FacilityNotFound(LookupError):
    """No facility with that id (the message carries no input)."""


@dataclass(frozen=True, slots=True)
class RegionView:
    code: str
    name_ru: str
    name_en: str
    status: str
    federal_district: str


@dataclass(frozen=True, slots=True)
class FacilityView:
    id: uuid.UUID
    key: str
    type: str
    number: int | None
    administration: str
    region_code: str
    region_name_ru: str
    official_name: str
    regime: str
    locality: str
    confidence: str  # reported | synthetic | user


def _region_view(r: Region) -> RegionView:
    return RegionView(
        code=r.code,
        name_ru=r.name_ru,
        name_en=r.name_en,
        status=r.status,
        federal_district=r.federal_district,
    )


def facility_view(f: Facility) -> FacilityView:
    return FacilityView(
        id=f.id,
        key=f.key,
        type=f.type,
        number=f.number,
        administration=f.administration,
        region_code=f.region.code,
        region_name_ru=f.region.name_ru,
        official_name=f.official_name,
        regime=f.regime,
        locality=f.locality,
        confidence=f.confidence,
    )


def region_list() -> list[RegionView]:
    # Sorted here, not by the database: collations differ, and the demo must be the same on every backend.
    return sorted((_region_view(r) for r in Region.objects.all()), key=lambda r: r.code)


def facility_list(
    *, region: str | None = None, type: str | None = None, confidence: str | None = None
) -> list[FacilityView]:
    """Facilities in key order (code points, whatever the collation).

    ``region`` is a region code, ``type`` a Cyrillic type code (ИК, СИЗО…), ``confidence`` reported,
    synthetic or user.
    """
    qs = Facility.objects.select_related("region")
    if region is not None:
        qs = qs.filter(region_id=region)
    if type is not None:
        qs = qs.filter(type=type)
    if confidence is not None:
        qs = qs.filter(confidence=confidence)
    return sorted((facility_view(f) for f in qs), key=lambda f: f.key)


def facility_get(facility_id: uuid.UUID | str) -> FacilityView:
    try:
        return facility_view(Facility.objects.select_related("region").get(pk=facility_id))
    except (Facility.DoesNotExist, ValidationError, ValueError) as exc:
        raise FacilityNotFound("no such facility") from exc
