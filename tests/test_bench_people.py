"""The people benchmarks still run: small sizes, their own data dir and agent, in a subprocess as a user
runs them (`python -m bench …`). Figures are not checked here (docs/benchmarks-people.md); that the
service path accepts the bench's rows and the search finds what the plaintext shadow finds is."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bench(*args: str) -> str:
    # As from a shell: none of the test run's own settings (its key directory, agent, database).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KARTOTEKA_") and k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_it_runs_the_import_bench() -> None:
    out = _bench("import", "--rows", "5000")
    assert "person_bulk_create: 5,000 persons on sqlite" in out
    assert re.search(r"persons/s \(service path.*?\s[\d.]+ /s", out)


def test_it_runs_the_search_bench_with_the_same_hits_as_the_shadow() -> None:
    out = _bench("search", "--rows", "5000", "--queries", "20")
    found = re.search(r"same hits as the shadow.*?([\d.]+) /50", out)
    assert found is not None, out
    assert float(found.group(1)) == 20
