"""Interchange exports: a HURIDOCS Events Standard Formats (ESF)-style JSON and Uwazi-importable CSVs.

ESF models a human-rights record as *events* (what happened, where, when), *acts* (one act against one
victim within an event, typed by MT04 "Types of acts" and MT05 "Methods of violence"), *victims*,
*perpetrators* (their involvement) and *sources*. Our incidents are events; each (incident, victim,
category) is an act; the ESF codes come from the incident_category vocabulary, which takes them from
data/reference/huridocs-mapping.md (HURIDOCS' thesauri are referenced by code, not republished).

These exports carry identities (for users who may see them): they are staff exports, built through the
access gates and sealed to the requesting user like any other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from kartoteka.casework.selectors import IncidentView, SourceView
from kartoteka.exports.selectors import RecordRow
from kartoteka.exports.writers import csv_bytes
from kartoteka.lib import vocab

FORMAT = "kartoteka-huridocs-esf/1"
PRISONERS = {"list": "MT23", "code": "040600000000", "label": "Prisoners"}  # MT23 general characteristics


def _esf(code: str) -> dict[str, Any]:
    """The ESF coding of one incident category: type of act (MT04) and method of violence (MT05) when the
    mapping has them, plus the other related codes; match quality as the mapping states it."""
    term = vocab.term("incident_category", code)
    refs: list[tuple[str, str]] = []
    if term.esf_list and term.esf_code:
        refs.append((term.esf_list, term.esf_code))
    refs += [(r.esf_list, r.esf_code) for r in term.esf_related]
    type_of_act = next(({"list": lst, "code": c} for lst, c in refs if lst == "MT04"), None)
    method = next(({"list": lst, "code": c} for lst, c in refs if lst == "MT05"), None)
    return {
        "category": code,
        "label_en": term.en,
        "label_ru": term.ru,
        "type_of_act": type_of_act,
        "method_of_violence": method,
        "primary": {"list": term.esf_list, "code": term.esf_code} if term.esf_code else None,
        "related": [{"list": lst, "code": c} for lst, c in refs[1 if term.esf_code else 0 :]],
        "match": term.esf_match.value if term.esf_match else "none",
    }


def _dates(start: date | None, end: date | None, edtf: str) -> dict[str, Any]:
    return {"initial_date": start, "final_date": end, "date_edtf": edtf}


def document(
    *,
    incidents: Sequence[IncidentView],
    victims: dict[uuid.UUID, RecordRow],
    sources: dict[uuid.UUID, SourceView],
    facility_keys: dict[uuid.UUID, str],
    generated_at: str,
) -> dict[str, Any]:
    events, acts, perpetrators = [], [], []
    for inc in incidents:
        event_id = f"E-{inc.id}"
        act_ids = []
        for victim_id in inc.victim_ids:
            for code in inc.categories:
                act_id = f"A-{inc.id}-{victim_id}-{code}"
                act_ids.append(act_id)
                acts.append(
                    {
                        "act_record_number": act_id,
                        "event": event_id,
                        "victim": f"P-{victim_id}",
                        **_esf(code),
                        **_dates(inc.date_start, inc.date_end, inc.date_edtf),
                        "victim_characteristics": [PRISONERS],
                    }
                )
        for n, role in enumerate(inc.perpetrator_roles):
            perpetrators.append(
                {
                    "involvement_record_number": f"I-{inc.id}-{n}",
                    "event": event_id,
                    "acts": act_ids,
                    "type_of_perpetrator": {"vocabulary": "perpetrator_role", "code": role},
                    "label_en": vocab.term("perpetrator_role", role).en,
                }
            )
        events.append(
            {
                "event_record_number": event_id,
                **_dates(inc.date_start, inc.date_end, inc.date_edtf),
                "geographical_term": inc.region_code,
                "local_geographical_area": facility_keys.get(inc.facility_id) if inc.facility_id else None,
                "violation_status": inc.verification,
                "number_of_victims_stated": inc.victim_count,
                "description": inc.description,
                "named_officials": list(inc.officials) if inc.officials is not None else None,
                "acts": act_ids,
                "sources": [f"S-{s}" for s in inc.source_ids],
            }
        )
    people = [
        {
            "person_record_number": f"P-{pid}",
            "name": r.full_name,
            "other_names": list(r.aliases) if r.aliases is not None else None,
            "date_of_birth_edtf": r.birth_date,
            "sex": r.sex or None,
            "origin": r.home_region,
            "general_characteristics": [PRISONERS],
        }
        for pid, r in victims.items()
    ]
    source_rows = [
        {
            "source_record_number": f"S-{s.id}",
            "type_of_source": {"vocabulary": "source_kind", "code": s.kind},
            "reliability": s.reliability,
            "consent": s.consent,
            "language": s.language or None,
            "name": s.label,
            "contact": s.contact,
        }
        for s in sources.values()
    ]
    return {
        "format": FORMAT,
        "generated_at": generated_at,
        "standard": "HURIDOCS Events Standard Formats (codes only; thesauri belong to HURIDOCS)",
        "events": events,
        "acts": acts,
        "victims": people,
        "perpetrators": perpetrators,
        "sources": source_rows,
    }


# --- Uwazi ----------------------------------------------------------------------------------------------


def uwazi_files(
    *,
    incidents: Sequence[IncidentView],
    victims: dict[uuid.UUID, RecordRow],
    facility_keys: dict[uuid.UUID, str],
) -> dict[str, bytes]:
    """Two CSVs for Uwazi's "Import CSV": one per template (Incident, Victim). Uwazi matches columns to
    template property names (lower case, no spaces), needs a ``title``, separates multiple values with "|"
    and relationship columns hold the titles of related entities. Dates are ISO (YYYY-MM-DD). UTF-8
    without BOM (Uwazi would read a BOM into the first header)."""

    def victim_title(pid: uuid.UUID) -> str:
        row = victims.get(pid)
        if row is not None and row.full_name:
            return f"{row.full_name} ({str(pid)[:8]})"
        return f"P-{pid}"

    incident_rows = []
    for inc in incidents:
        labels = [vocab.term("incident_category", c).en for c in inc.categories]
        incident_rows.append(
            [
                f"{', '.join(labels)} — {inc.date_edtf or 'undated'} ({str(inc.id)[:8]})",
                inc.date_start,
                inc.date_end,
                inc.date_edtf,
                inc.region_code,
                facility_keys.get(inc.facility_id) if inc.facility_id else "",
                "|".join(inc.categories),
                "|".join(_esf(c)["primary"]["code"] for c in inc.categories if _esf(c)["primary"]),
                "|".join(inc.perpetrator_roles),
                inc.verification,
                inc.victim_count,
                "|".join(victim_title(v) for v in inc.victim_ids),
                inc.description,
                str(inc.id),
            ]
        )
    incident_header = [
        "title",
        "date_start",
        "date_end",
        "date_edtf",
        "region",
        "facility",
        "categories",
        "esf_codes",
        "perpetrators",
        "verification",
        "victim_count",
        "victims",
        "description",
        "kartoteka_id",
    ]
    victim_rows = [
        [
            victim_title(pid),
            r.full_name,
            "|".join(r.aliases) if r.aliases else "",
            r.birth_date,
            r.sex,
            r.home_region,
            r.facility,
            str(pid),
        ]
        for pid, r in victims.items()
    ]
    victim_header = [
        "title",
        "name",
        "other_names",
        "birth_date",
        "sex",
        "home_region",
        "facility",
        "kartoteka_id",
    ]
    return {
        "uwazi_incidents.csv": csv_bytes(incident_header, incident_rows, bom=False),
        "uwazi_victims.csv": csv_bytes(victim_header, victim_rows, bom=False),
    }
