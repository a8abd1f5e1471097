"""Shared fixtures. Tests are named test_it_<behaviour>."""

from __future__ import annotations

from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parent.parent / "kartoteka" / "data" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return REFERENCE
