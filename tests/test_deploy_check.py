"""`manage.py check --deploy` on the production settings (DEBUG off, a real secret key) reports nothing."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_SCRIPT = (
    "import django; django.setup();"
    "from django.core.management import call_command;"
    "call_command('check', '--deploy', '--fail-level', 'WARNING')"
)


def _check(tmp_path: Path, secret_key: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KARTOTEKA_", "DJANGO_", "DATABASE_URL"))}
    env.update(
        DJANGO_SETTINGS_MODULE="kartoteka.settings",
        KARTOTEKA_SECRET_KEY=secret_key,
        KARTOTEKA_DATA_DIR=str(tmp_path / "data"),
        KARTOTEKA_AUDIT_HEAD_FILE=str(tmp_path / "audit-head"),
    )
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_it_passes_the_deploy_check_with_production_settings(tmp_path: Path) -> None:
    result = _check(tmp_path, secrets.token_urlsafe(50))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_fails_the_deploy_check_on_a_weak_secret_key(tmp_path: Path) -> None:
    result = _check(tmp_path, "x" * 60)
    assert result.returncode != 0
    assert "security.W009" in result.stderr
