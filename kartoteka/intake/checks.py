"""The public intake host refuses to start with any private key within reach (kartoteka.settings_intake)."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

TAG = "kartoteka_intake"
SECRET_FILES = ("slots.json", "keyring.json")


def _socket_answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def private_key_problems() -> list[str]:
    """What makes a private key reachable from this process; empty when the host holds public keys only."""
    from kartoteka.core.checks import master_key_files

    problems = []
    keys_dir = Path(settings.KEYS_DIR)
    for name in SECRET_FILES:
        if (keys_dir / name).exists():
            problems.append(f"the key directory holds {name} (wrapped secrets)")
    if keys_dir.is_dir() and any(p.suffix == ".key" for p in keys_dir.rglob("*")):
        problems.append("the key directory holds a key file")
    if any(True for _ in master_key_files(Path(settings.DATA_DIR))):
        problems.append("the data directory holds a key file")
    if os.environ.get("KARTOTEKA_AGENT_SOCKET"):
        problems.append("a key agent socket is configured (KARTOTEKA_AGENT_SOCKET)")
    socket_path = Path(settings.AGENT_SOCKET)
    if socket_path.exists() or _socket_answers(socket_path):
        problems.append("a key agent socket exists")
    if settings.DEMO or os.environ.get("KARTOTEKA_DEMO_KEY_FILE"):
        problems.append("demo mode or a demo key is set")
    return problems


@register(TAG)
def intake_holds_no_private_key(app_configs: Sequence[Any] | None, **kwargs: Any) -> list[CheckMessage]:
    if not getattr(settings, "KARTOTEKA_INTAKE_ONLY", False):
        return []
    return [
        Error(
            f"the public intake refuses to start: {problem}",
            hint="The intake host holds public keys only; keep slots, keyring, key files and the key "
            "agent on the casework host.",
            id="kartoteka.E101",
        )
        for problem in private_key_problems()
    ]
