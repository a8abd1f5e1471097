"""System checks that make the application refuse to start in an unsafe configuration."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

_HEX_KEY = re.compile(rb"\s*[0-9a-fA-F]{64}\s*")


def master_key_files(data_dir: Path) -> Iterator[Path]:
    """Files under ``data_dir`` that hold a key in clear (a demo key file, or 32 bytes of hex)."""
    if not data_dir.is_dir():
        return
    for path in data_dir.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        if path.suffix == ".key":
            yield path
            continue
        if path.stat().st_size <= 80:
            try:
                if _HEX_KEY.fullmatch(path.read_bytes()) and path.name != "demo-secret-key":
                    yield path
            except OSError:
                continue


@register()
def master_key_not_beside_data(app_configs: Sequence[Any] | None, **kwargs: Any) -> list[CheckMessage]:
    """Outside demo mode a clear master key must never sit next to the data it protects."""
    if settings.DEMO:
        return []
    found = list(master_key_files(Path(settings.DATA_DIR)))
    return [
        Error(
            f"a key file lies inside the data directory: {path}",
            hint="Outside demo mode the master key lives only in key slots; remove the file "
            "(or set KARTOTEKA_DEMO=1 for a demo with synthetic data).",
            id="kartoteka.E001",
        )
        for path in found
    ]
