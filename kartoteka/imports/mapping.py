"""Saved, reusable mappings from a file's columns to Record fields: small JSON files a person reviews.

    {
      "format": "kartoteka-import-mapping/1",
      "columns": {"ФИО": "full_name", "Дата рождения": "birth_date", "Комментарий": "ignore"},
      "source_kind": "ngo_report",
      "sheet": null
    }

Columns are named by their header as written. A file column missing from the mapping is an error, never a
silently dropped column; write "ignore" to leave one out on purpose. No Django here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kartoteka.imports import detect

FORMAT = "kartoteka-import-mapping/1"


class MappingError(ValueError):
    """The mapping does not fit the file; ``code`` is stable, ``columns`` name the headers concerned."""

    def __init__(self, code: str, columns: Sequence[str] = ()) -> None:
        super().__init__(f"{code}: {', '.join(columns)}" if columns else code)
        self.code = code
        self.columns = list(columns)


@dataclass
class Mapping:
    columns: dict[str, str]
    source_kind: str = "ngo_report"
    sheet: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def fields_for(self, headers: Sequence[str]) -> list[str | None]:
        missing = [h for h in headers if h not in self.columns]
        if missing:
            raise MappingError("columns_unmapped", missing)
        return [None if self.columns[h] == "ignore" else self.columns[h] for h in headers]

    def to_json(self) -> str:
        obj = {
            "format": FORMAT,
            "columns": self.columns,
            "source_kind": self.source_kind,
            "sheet": self.sheet,
        }
        obj.update(self.extra)
        return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"


def from_proposal(proposal: detect.Proposal) -> Mapping:
    return Mapping(columns={h: (f or "") for h, f in proposal.columns})


def parse(obj: Any) -> Mapping:
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or not isinstance(obj.get("columns"), dict):
        raise MappingError("mapping_malformed")
    columns: dict[str, str] = {}
    bad = []
    for header, target in obj["columns"].items():
        if not isinstance(target, str) or target not in detect.FIELDS:
            bad.append(str(header))
        else:
            columns[str(header)] = target
    if bad:
        raise MappingError("fields_unknown", bad)
    used = [f for f in columns.values() if f != "ignore"]
    doubled = sorted({f for f in used if used.count(f) > 1})
    if doubled:
        raise MappingError("fields_doubled", doubled)
    known = {"format", "columns", "source_kind", "sheet"}
    return Mapping(
        columns=columns,
        source_kind=str(obj.get("source_kind") or "ngo_report"),
        sheet=obj.get("sheet") or None,
        extra={k: v for k, v in obj.items() if k not in known},
    )


def load(path: Path) -> Mapping:
    try:
        return parse(json.loads(path.read_text(encoding="utf-8-sig")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise MappingError("mapping_unreadable") from None
