"""Writes for exports: export keys, facility release approvals, and the exports themselves (each audited).

Staff exports (``staff``, ``huridocs``, ``uwazi``) are built from the acting user's access gates and sealed
to the user's registered age recipient (``export_key_set``); ``plaintext=True`` writes them in clear and
is recorded in the audit chain as such. The public data set is aggregate-only and written in clear.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from kartoteka.accounts import access
from kartoteka.accounts.models import Role, User
from kartoteka.audit.services import entry_append
from kartoteka.casework.selectors import IncidentView, SourceView
from kartoteka.core.fields import new_id
from kartoteka.estimation.selectors import published_estimates
from kartoteka.exports import huridocs, public, selectors
from kartoteka.exports.models import ExportKey, FacilityRelease
from kartoteka.exports.writers import ExportError, Sheet, csv_bytes, files_write, json_bytes, xlsx_bytes
from kartoteka.lib import crypto, disclosure
from kartoteka.registry.models import Facility

STAFF_FORMATS = ("csv", "xlsx", "json")
APPROVER_ROLES = frozenset({Role.ADMIN, Role.COORDINATOR})


@dataclass(frozen=True)
class ExportResult:
    kind: str
    files: list[Path]
    sealed: bool
    counts: dict[str, int]


def _audit(actor: User, action: str, object_type: str, object_id: str, **details: str | int | bool) -> None:
    with transaction.atomic():
        entry_append(
            actor=str(actor.id), action=action, object_type=object_type, object_id=object_id, details=details
        )


# --- keys -------------------------------------------------------------------------------------------------


def export_key_set(*, actor: User, recipient: str) -> ExportKey:
    """Register (or replace) the age public key the actor's staff exports are sealed to."""
    if not actor.is_active:
        raise access.NotFound
    try:
        normalised = crypto.recipient_check(recipient)
    except crypto.CryptoError as exc:
        raise ExportError(str(exc)) from None
    with transaction.atomic():
        key, _ = ExportKey.objects.update_or_create(user=actor, defaults={"recipient": normalised})
        _audit(actor, "export_key.set", "user", str(actor.id), recipient=normalised)
    return key


def _recipient(actor: User) -> str:
    key = ExportKey.objects.filter(user=actor).first()
    if key is None:
        raise ExportError(
            "no export key registered: run `kartoteka export key new --as USER --identity-file FILE` "
            "(or `key set` with your age public key), or pass --plaintext"
        )
    return key.recipient


# --- facility releases --------------------------------------------------------------------------------------


def _release_audit(actor: User, release: FacilityRelease, verb: str) -> None:
    _audit(
        actor,
        f"facility_release.{verb}",
        "facility_release",
        str(release.id),
        facility=str(release.facility_id),
    )


def facility_release_propose(*, actor: User, facility_key: str) -> FacilityRelease:
    if not actor.is_active or actor.role not in access.WRITING_ROLES:
        raise PermissionError("only staff who write may propose a facility for the public data set")
    facility = Facility.objects.filter(key=facility_key).first()
    if facility is None:
        raise ExportError(f"no facility {facility_key}")
    with transaction.atomic():
        if FacilityRelease.objects.filter(facility=facility).exclude(status="withdrawn").exists():
            raise ExportError(f"{facility_key} is already proposed or approved")
        release = FacilityRelease.objects.create(facility=facility, proposed_by=actor)
        _release_audit(actor, release, "propose")
    return release


def facility_release_approve(*, actor: User, release_id: uuid.UUID | str) -> FacilityRelease:
    """A second staff member (coordinator or admin, never the proposer) approves the facility's own row."""
    if not actor.is_active or actor.role not in APPROVER_ROLES:
        raise PermissionError("only a coordinator or an admin may approve a facility row")
    with transaction.atomic():
        release = FacilityRelease.objects.select_for_update().filter(id=release_id).first()
        if release is None or release.status != FacilityRelease.Status.PROPOSED:
            raise ExportError("no such proposal waiting for approval")
        if release.proposed_by_id == actor.id:
            raise PermissionError("the proposer cannot approve their own proposal: a second person must")
        release.status = FacilityRelease.Status.APPROVED
        release.decided_by = actor
        release.decided_at = timezone.now()
        release.save(update_fields=["status", "decided_by", "decided_at"])
        _release_audit(actor, release, "approve")
    return release


def facility_release_withdraw(*, actor: User, release_id: uuid.UUID | str) -> FacilityRelease:
    if not actor.is_active or actor.role not in APPROVER_ROLES:
        raise PermissionError("only a coordinator or an admin may withdraw a facility row")
    with transaction.atomic():
        release = FacilityRelease.objects.select_for_update().filter(id=release_id).first()
        if release is None or release.status == FacilityRelease.Status.WITHDRAWN:
            raise ExportError("no such live facility release")
        release.status = FacilityRelease.Status.WITHDRAWN
        release.save(update_fields=["status"])
        _release_audit(actor, release, "withdraw")
    return release


# --- staff exports ---------------------------------------------------------------------------------------


def _staff_sheets(actor: User) -> list[Sheet]:
    incidents = list(selectors.incidents_for_user(actor))
    return [
        _record_sheet(list(selectors.records_for_user(actor))),
        _incident_sheet(incidents, selectors.facility_keys([i.facility_id for i in incidents])),
        _source_sheet(list(selectors.sources_for_user(actor))),
    ]


def _record_sheet(records: list[selectors.RecordRow]) -> Sheet:
    return Sheet(
        "records",
        [
            "record_id",
            "person_id",
            "team",
            "source_id",
            "full_name",
            "aliases",
            "birth_date",
            "sex",
            "home_region",
            "facility",
            "articles",
            "sentence_months",
            "notes",
        ],
        [
            [
                r.id,
                r.person_id,
                r.team,
                r.source_id,
                r.full_name,
                r.aliases,
                r.birth_date,
                r.sex,
                r.home_region,
                r.facility,
                r.articles,
                r.sentence_months,
                r.notes,
            ]
            for r in records
        ],
    )


def _incident_sheet(incidents: list[IncidentView], fac: Mapping[uuid.UUID, str]) -> Sheet:
    return Sheet(
        "incidents",
        [
            "incident_id",
            "team_id",
            "facility",
            "region",
            "date",
            "date_start",
            "date_end",
            "categories",
            "perpetrator_roles",
            "victim_count",
            "victim_ids",
            "source_ids",
            "verification",
            "description",
            "officials",
        ],
        [
            [
                i.id,
                i.team_id,
                fac.get(i.facility_id) if i.facility_id else None,
                i.region_code,
                i.date_edtf,
                i.date_start,
                i.date_end,
                i.categories,
                i.perpetrator_roles,
                i.victim_count,
                [str(v) for v in i.victim_ids],
                [str(s) for s in i.source_ids],
                i.verification,
                i.description,
                i.officials,
            ]
            for i in incidents
        ],
    )


def _source_sheet(sources: list[SourceView]) -> Sheet:
    return Sheet(
        "sources",
        ["source_id", "team_id", "kind", "reliability", "language", "consent", "label", "contact"],
        [
            [s.id, s.team_id, s.kind, s.reliability, s.language, s.consent, s.label, s.contact]
            for s in sources
        ],
    )


def _staff_files(sheets: Sequence[Sheet], fmt: str) -> dict[str, bytes]:
    if fmt == "csv":
        return {f"{s.name}.csv": csv_bytes(s.header, s.rows) for s in sheets}
    if fmt == "xlsx":
        return {"kartoteka.xlsx": xlsx_bytes(sheets)}
    if fmt == "json":
        doc = {s.name: [dict(zip(s.header, row, strict=True)) for row in s.rows] for s in sheets}
        return {"kartoteka.json": json_bytes(doc)}
    raise ExportError(f"unknown format {fmt!r}: choose one of {', '.join(STAFF_FORMATS)}")


def _write_staff(
    actor: User, kind: str, out: Path, files: dict[str, bytes], *, plaintext: bool, counts: dict[str, int]
) -> ExportResult:
    recipient = None if plaintext else _recipient(actor)
    written = files_write(out, files, recipient=recipient)
    # Audited after writing: an export that failed half-way has written nothing under a final name.
    _audit(
        actor, f"export.{kind}", "export", str(new_id()), plaintext=plaintext, files=len(written), **counts
    )
    return ExportResult(kind=kind, files=written, sealed=not plaintext, counts=counts)


def staff_export(*, actor: User, out: Path, fmt: str = "csv", plaintext: bool = False) -> ExportResult:
    """Records, incidents and sources the actor may see, as CSV / XLSX / JSON, sealed to the actor."""
    if fmt not in STAFF_FORMATS:
        raise ExportError(f"unknown format {fmt!r}: choose one of {', '.join(STAFF_FORMATS)}")
    if not plaintext:
        _recipient(actor)  # fail before reading anything
    sheets = _staff_sheets(actor)
    counts = {s.name: len(s.rows) for s in sheets}
    return _write_staff(actor, "staff", out, _staff_files(sheets, fmt), plaintext=plaintext, counts=counts)


def _interchange_inputs(
    actor: User, publishable_only: bool
) -> tuple[
    list[IncidentView],
    dict[uuid.UUID, selectors.RecordRow],
    dict[uuid.UUID, SourceView],
    dict[uuid.UUID, str],
]:
    sources = {s.id: s for s in selectors.sources_for_user(actor)}
    incidents = list(selectors.incidents_for_user(actor))
    if publishable_only:
        ok = {sid for sid, s in sources.items() if s.consent in selectors.PUBLISHABLE_CONSENT}
        incidents = [i for i in incidents if ok.intersection(i.source_ids)]
        sources = {sid: s for sid, s in sources.items() if sid in ok}
    victim_ids = sorted({v for i in incidents for v in i.victim_ids})
    victims = selectors.first_records(actor, victim_ids)
    fac = selectors.facility_keys([i.facility_id for i in incidents])
    return incidents, victims, sources, fac


def huridocs_export(
    *, actor: User, out: Path, plaintext: bool = False, publishable_only: bool = False
) -> ExportResult:
    if not plaintext:
        _recipient(actor)
    incidents, victims, sources, fac = _interchange_inputs(actor, publishable_only)
    doc = huridocs.document(
        incidents=incidents,
        victims=victims,
        sources=sources,
        facility_keys=fac,
        generated_at=timezone.now().isoformat(),
    )
    counts = {k: len(doc[k]) for k in ("events", "acts", "victims", "perpetrators", "sources")}
    return _write_staff(
        actor, "huridocs", out, {"huridocs.json": json_bytes(doc)}, plaintext=plaintext, counts=counts
    )


def uwazi_export(
    *, actor: User, out: Path, plaintext: bool = False, publishable_only: bool = False
) -> ExportResult:
    if not plaintext:
        _recipient(actor)
    incidents, victims, _, fac = _interchange_inputs(actor, publishable_only)
    files = huridocs.uwazi_files(incidents=incidents, victims=victims, facility_keys=fac)
    counts = {"incidents": len(incidents), "victims": len(victims)}
    return _write_staff(actor, "uwazi", out, files, plaintext=plaintext, counts=counts)


# --- the public data set -------------------------------------------------------------------------------------


def public_period(start: date | None, end: date | None, *, today: date) -> list[str]:
    """Whole quarters from ``start`` to ``end`` (default: 2022Q1 to the last quarter that has ended).
    A quarter still running is refused: published now and again later, its two versions could be
    differenced."""
    current = disclosure.quarter_of(today)
    first = disclosure.quarter_of(start) if start else "2022Q1"
    if end is None:
        last = disclosure.quarters_between("2000Q1", current)[-2]
    else:
        last = disclosure.quarter_of(end)
        if last >= current:
            raise ExportError(f"the period must end before the current quarter ({current}) has ended")
    try:
        return disclosure.quarters_between(first, last)
    except disclosure.DisclosureError as exc:
        raise ExportError(str(exc)) from None


def public_release(*, actor: User, quarters: list[str], k: int = 5) -> public.PublicRelease:
    events = selectors.publishable_victim_events(actor, quarters)
    regions = [public.RegionLabel(r.code, r.name_ru, r.name_en) for r in selectors.regions_all()]
    facilities = [
        public.FacilityLabel(f.id, f.key, f.official_name, f.region_id)
        for f in selectors.facilities_released()
    ]
    return public.release_build(
        events,
        quarters=quarters,
        k=k,
        regions=regions,
        facilities=facilities,
        generated_on=timezone.now().date(),
        estimates=_estimates_published(),
    )


def _estimates_published() -> list[public.EstimateLine]:
    return [
        public.EstimateLine(
            e.population, e.period, len(e.lists), e.n_observed, e.method, round(e.estimate), round(e.lower),
            round(e.upper),
        )
        for e in published_estimates()
    ]  # fmt: skip


def public_export(*, actor: User, out: Path, quarters: list[str], k: int = 5) -> ExportResult:
    if k < 2:
        raise ExportError("k must be at least 2")
    release = public_release(actor=actor, quarters=quarters, k=k)
    files = public.release_files(release)
    written = files_write(out, files, recipient=None)
    counts = {"quarters": len(quarters), "k": k}
    _audit(
        actor,
        "export.public",
        "export",
        str(new_id()),
        period=f"{quarters[0]}:{quarters[-1]}".lower(),
        **counts,
    )
    return ExportResult(kind="public", files=written, sealed=False, counts=counts)
