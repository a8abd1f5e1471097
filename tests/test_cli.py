"""The `kartoteka` command end to end, in subprocesses, against a fresh data directory and a real agent."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kartoteka.lib import agent, keys

KARTOTEKA = [sys.executable, "-m", "kartoteka.cli"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    base = tmp_path_factory.mktemp("cli")
    data = base / "data"
    data.mkdir(mode=0o700)
    demo_key = base / "outside" / "demo.key"  # outside the data directory, as production would require
    keys_dir = data / "keys"
    keys.init(keys_dir, None, demo_key_file=demo_key)
    socket_path = keys_dir / "run" / "agent.sock"
    proc = agent.spawn(keys_dir, socket_path, demo_key_file=demo_key)
    environment = {
        **{
            k: v for k, v in os.environ.items() if not k.startswith(("KARTOTEKA_", "DJANGO_", "DATABASE_URL"))
        },
        "KARTOTEKA_DATA_DIR": str(data),
        "KARTOTEKA_SECRET_KEY": secrets.token_hex(32),
        "KARTOTEKA_AUDIT_HEAD_FILE": str(base / "audit-head"),
        "KARTOTEKA_SSL_REDIRECT": "0",
    }
    run(environment, "migrate")
    setup = (
        "import django; django.setup();"
        "from kartoteka.accounts.services import team_create, user_create;"
        "t = team_create(actor=None, name='Команда');"
        "user_create(actor=None, username='case', password='a long enough password', role='caseworker', teams=[t]);"
        "user_create(actor=None, username='outsider', password='a long enough password', role='caseworker')"
    )
    subprocess.run(
        [sys.executable, "-c", setup],
        env={**environment, "DJANGO_SETTINGS_MODULE": "kartoteka.settings"},
        check=True,
        capture_output=True,
    )
    try:
        yield environment
    finally:
        agent.stop(socket_path)
        proc.wait(timeout=10)


def run(
    env: dict[str, str], *args: str, stdin: str = "", check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*KARTOTEKA, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kartoteka {' '.join(args)} failed: {result.stderr}")
    return result


def test_it_refuses_to_act_without_a_session(env: dict[str, str]) -> None:
    result = run(env, "person", "find", "--as", "case", stdin="Иванов\n", check=False)
    assert result.returncode == 1
    assert "kartoteka login --as case" in result.stderr


def test_it_refuses_a_wrong_password_at_login(env: dict[str, str]) -> None:
    result = run(env, "login", "--as", "case", stdin="wrong password\n", check=False)
    assert result.returncode == 1
    assert "wrong user name or password" in result.stderr


def test_it_adds_and_finds_a_person_by_another_spelling(env: dict[str, str]) -> None:
    run(env, "login", "--as", "case", stdin="a long enough password\n")
    added = run(
        env, "person", "add", "--as", "case", "--birth-date", "1984", stdin="Кузнецов Дмитрий Алексеевич\n"
    )
    person_id = added.stdout.strip()
    assert len(person_id) == 36
    found = run(env, "person", "find", "--as", "case", stdin="KUZNETSOV DMITRII\n")
    assert found.stdout.splitlines() == [f"{person_id}\tКузнецов Дмитрий Алексеевич"]


def test_it_shows_an_outsider_nothing(env: dict[str, str]) -> None:
    run(env, "login", "--as", "case", stdin="a long enough password\n")
    run(env, "person", "add", "--as", "case", stdin="Орлов Роман Алексеевич\n")
    run(env, "login", "--as", "outsider", stdin="a long enough password\n")
    found = run(env, "person", "find", "--as", "outsider", stdin="Орлов Роман\n")
    assert found.stdout == ""


def test_it_verifies_the_audit_chain_and_prints_its_head(env: dict[str, str]) -> None:
    verified = run(env, "audit", "verify")
    assert verified.stdout.startswith("audit chain OK")
    head = run(env, "audit", "head")
    assert head.stdout.startswith("kartoteka-audit-head/1 seq=")


def test_it_refuses_to_start_with_a_key_file_in_the_data_directory(env: dict[str, str]) -> None:
    stray = Path(env["KARTOTEKA_DATA_DIR"]) / "master.key"
    stray.write_text(secrets.token_hex(32))
    try:
        result = run(env, "check", check=False)
        assert result.returncode != 0
        assert "kartoteka.E001" in result.stderr
        demo = run({**env, "KARTOTEKA_DEMO": "1"}, "check", check=False)
        assert "kartoteka.E001" not in demo.stderr
    finally:
        stray.unlink()


def test_it_reads_names_from_stdin_never_from_arguments(env: dict[str, str]) -> None:
    for command in (("person", "add"), ("person", "find")):
        result = run(env, *command, "--as", "case", "Иванов Иван", check=False)
        assert result.returncode == 2  # argparse refuses a positional name
