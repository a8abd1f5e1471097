"""Reference data in the database, and facility/region matching against it.

Regions and facilities are public reference data (no personal data), so loading them is not audited and
needs no actor: a migration calls :func:`reference_load`, and so may the demo. Matching wraps the
pure-Python matcher in kartoteka.lib.facilities around the database's facility rows, so facilities that
users add are matched too.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from kartoteka.lib import facilities as lib
from kartoteka.registry.models import Facility, Region


@dataclass(frozen=True, slots=True)
class FacilityMatch:
    """``exact`` only when the text names type, number and administration; otherwise a person chooses."""

    exact: Facility | None
    candidates: list[Facility]


def reference_load(*, region_model: Any = None, facility_model: Any = None) -> tuple[int, int]:
    """Upsert regions.csv and facilities.csv; returns (regions, facilities) in the files. Idempotent.

    The model arguments let a data migration pass its historical models; everyone else leaves them out.
    """
    regions_m = region_model or Region
    facilities_m = facility_model or Facility
    regions = lib.load_regions()
    facilities = lib.load_facilities()
    with transaction.atomic():
        for r in regions:
            regions_m.objects.update_or_create(
                code=r.code,
                defaults={
                    "name_ru": r.name_ru,
                    "name_en": r.name_en,
                    "status": r.status,
                    "federal_district": r.federal_district,
                },
            )
        for f in facilities:
            facilities_m.objects.update_or_create(
                key=f.id,
                defaults={
                    "type": f.type,
                    "number": int(f.number),
                    "administration": f.administration_code,
                    "region_id": f.region_code,
                    "official_name": f.official_name,
                    "regime": f.regime or "",
                    "locality": f.aliases[0] if f.aliases else "",
                    "confidence": f.confidence,
                },
            )
    facility_cache_clear()
    return len(regions), len(facilities)


# --- the facility index over the database -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Cached:
    stamp: int  # row count when built: a cheap check that catches inserts, deletes and rolled-back tests
    index: lib.FacilityIndex
    pk_by_key: dict[str, uuid.UUID]


_lock = threading.Lock()
_cache: _Cached | None = None


def facility_cache_clear() -> None:
    global _cache
    with _lock:
        _cache = None


def _aliases_by_key() -> dict[str, tuple[str, ...]]:
    # The model keeps one locality, the CSV every alias; an alias only ever helps a text name its facility.
    return {f.id: f.aliases for f in _seed_facilities()}


_seed: tuple[lib.Facility, ...] | None = None


def _seed_facilities() -> tuple[lib.Facility, ...]:
    global _seed
    if _seed is None:
        _seed = lib.load_facilities()
    return _seed


def _as_lib(row: Facility, aliases: dict[str, tuple[str, ...]]) -> lib.Facility:
    extra = (row.locality,) if row.locality else ()
    return lib.Facility(
        id=row.key,
        type=row.type,
        number=str(row.number) if row.number is not None else "",
        administration_code=row.administration,
        region_code=row.region_id,
        official_name=row.official_name,
        regime=row.regime or None,
        aliases=tuple(dict.fromkeys((*aliases.get(row.key, ()), *extra))),
        confidence=row.confidence,
    )


def _index() -> _Cached:
    global _cache
    stamp = Facility.objects.count()
    with _lock:
        cached = _cache
    if cached is not None and cached.stamp == stamp:
        return cached
    rows = list(Facility.objects.all())
    aliases = _aliases_by_key()
    built = _Cached(
        stamp=len(rows),
        index=lib.FacilityIndex((_as_lib(r, aliases) for r in rows), regions=lib.default_region_matcher()),
        pk_by_key={r.key: r.id for r in rows},
    )
    with _lock:
        _cache = built
    return built


def facility_match(text: str) -> FacilityMatch:
    """Resolve a facility spelling against the database's facilities (see kartoteka.lib.facilities)."""
    cached = _index()
    result = cached.index.match(text)
    wanted = [cached.pk_by_key[f.id] for f in result.candidates]
    if result.exact is not None:
        wanted.append(cached.pk_by_key[result.exact.id])
    rows = Facility.objects.select_related("region").in_bulk(wanted) if wanted else {}
    exact = rows.get(cached.pk_by_key[result.exact.id]) if result.exact is not None else None
    candidates = [rows[pk] for pk in (cached.pk_by_key[f.id] for f in result.candidates) if pk in rows]
    return FacilityMatch(exact=exact, candidates=candidates)


def region_match(text: str) -> Region | None:
    """The one region the text names ("Свердловская обл.", "Sverdlovsk oblast"), or None."""
    code = lib.default_region_matcher().match(text)
    if code is None:
        return None
    return Region.objects.filter(code=code).first()


def _invalidate(**_: object) -> None:
    facility_cache_clear()


post_save.connect(_invalidate, sender=Facility, dispatch_uid="registry.facility_cache.save")
post_delete.connect(_invalidate, sender=Facility, dispatch_uid="registry.facility_cache.delete")
