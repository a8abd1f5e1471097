"""Pure types shared by the linkage engine and the review/merge services (no Django)."""

from __future__ import annotations

import uuid
from typing import NamedTuple


class PairScore(NamedTuple):
    """One scored pair of records. ``gamma`` holds the comparison level per comparison (e.g.
    ``{"name": 3, "birth_date": 1}``; -1 = a value missing): codes only, never plaintext."""

    record_a_id: uuid.UUID
    record_b_id: uuid.UUID
    match_probability: float
    match_weight: float
    gamma: dict[str, int]
