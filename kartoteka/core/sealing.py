"""The Django side's door to the key agent: seal and open rows, blind-index terms, sign audit entries.

Web workers and commands hold no key material: every operation is a batched request to the agent
(kartoteka.lib.agent). One client per thread, created lazily from settings.AGENT_SOCKET.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings

from kartoteka.lib import keys
from kartoteka.lib.agent import AgentClient

_local = threading.local()

Plain = str | bytes | list[str] | None


def client() -> AgentClient:
    agent: AgentClient | None = getattr(_local, "client", None)
    if agent is None or agent.socket_path != settings.AGENT_SOCKET:
        agent = AgentClient(settings.AGENT_SOCKET)
        _local.client = agent
    return agent


def _encode(value: Plain) -> bytes | None:
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False).encode()
    return value.encode("utf-8")


def rows_seal(
    table: str, rows: Sequence[tuple[str, Mapping[str, Plain]]]
) -> list[tuple[bytes, dict[str, bytes]]]:
    """Encrypt each row's fields under a fresh per-row data key: (wrapped key, field → ciphertext).

    Empty values are not encrypted and come back absent (stored as NULL).
    """
    items = []
    for record_id, fields in rows:
        encoded = {name: data for name, v in fields.items() if (data := _encode(v)) is not None}
        items.append(keys.PlainRecord(table, str(record_id), encoded))
    sealed = client().seal_records(items)
    return [(s.wrapped_dek, dict(s.fields)) for s in sealed]


def rows_open(
    table: str, rows: Sequence[tuple[str, bytes, Mapping[str, bytes | None]]]
) -> list[dict[str, str]]:
    """Decrypt rows given as (record id, wrapped key, field → ciphertext or None); text values back."""
    items = [
        keys.SealedRecord(
            table, str(rid), bytes(wrapped), {k: bytes(v) for k, v in f.items() if v is not None}
        )
        for rid, wrapped, f in rows
    ]
    if not items:
        return []
    opened = client().open_records(items)
    return [{k: v.decode("utf-8") for k, v in fields.items()} for fields in opened]


def terms_index(purpose: str, terms: Sequence[str]) -> list[int]:
    """Blind-index values of normalised terms under the key for one purpose (e.g. people.record.name)."""
    if not terms:
        return []
    return client().blind_index(purpose, list(terms))


def json_list(text: str | None) -> list[str]:
    if not text:
        return []
    value: Any = json.loads(text)
    return [str(v) for v in value]
