"""Abuse limits that need no IP address: a global token bucket (in memory, per process: the cap of a
server is its workers times the rate) and a disk quota over what the intake stores."""

from __future__ import annotations

import threading
import time

from django.db.models import Sum

from kartoteka.intake import conf
from kartoteka.intake.models import Submission

_lock = threading.Lock()
_state = {"tokens": -1.0, "at": 0.0}


def _rate() -> tuple[float, float]:
    per_minute = float(conf.number("KARTOTEKA_INTAKE_RATE_PER_MINUTE", 600))
    burst = float(conf.number("KARTOTEKA_INTAKE_BURST", 60))
    return per_minute / 60.0, burst


def take() -> bool:
    """One token from the bucket, or False: refuse the submission (and say so)."""
    rate, burst = _rate()
    with _lock:
        now = time.monotonic()  # never stored: lives in this process's memory only
        tokens = burst if _state["tokens"] < 0 else _state["tokens"]
        tokens = min(burst, tokens + (now - _state["at"]) * rate)
        _state["at"] = now
        if tokens < 1.0:
            _state["tokens"] = tokens
            return False
        _state["tokens"] = tokens - 1.0
        return True


def reset() -> None:
    with _lock:
        _state["tokens"], _state["at"] = -1.0, 0.0


def quota_bytes() -> int:
    return conf.number("KARTOTEKA_INTAKE_QUOTA_MB", 2048) * 1024 * 1024


def quota_left(incoming: int) -> bool:
    used = Submission.objects.aggregate(total=Sum("size"))["total"] or 0
    return int(used) + incoming <= quota_bytes()
