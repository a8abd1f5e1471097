"""Shared fixtures. Tests are named test_it_<behaviour>.

Database tests carry ``@pytest.mark.django_db``: `make test` runs them on SQLite and again on the real
PostgreSQL (``-m django_db`` with DATABASE_URL set); everything else runs once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

REFERENCE = Path(__file__).resolve().parent.parent / "kartoteka" / "data" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return REFERENCE


@pytest.fixture(scope="session")
def key_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real key agent unlocked with a demo key, for the whole session (one per xdist worker)."""
    from kartoteka.lib import agent, keys

    keys_dir: Path = settings.KEYS_DIR
    demo_key = tmp_path_factory.mktemp("demo-key") / "demo.key"
    keys.init(keys_dir, None, demo_key_file=demo_key)
    proc = agent.spawn(keys_dir, settings.AGENT_SOCKET, demo_key_file=demo_key)
    try:
        yield settings.AGENT_SOCKET
    finally:
        agent.stop(settings.AGENT_SOCKET)
        proc.wait(timeout=10)


@pytest.fixture
def agent_ready(key_agent: Path) -> Path:
    return key_agent
