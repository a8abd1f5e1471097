"""The intake's settings: a Django setting when given (settings_intake, tests), else the environment,
so the embedded default needs no change to the base settings."""

from __future__ import annotations

from django.conf import settings

from kartoteka.envconfig import env_int, env_str


def number(name: str, default: int) -> int:
    value = getattr(settings, name, None)
    return int(value) if value is not None else env_int(name, default)


def text(name: str, default: str = "") -> str:
    value = getattr(settings, name, None)
    return str(value) if value is not None else env_str(name, default)
