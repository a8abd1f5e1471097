"""`kartoteka intake pull` over real HTTP: the intake runs as its own public host (settings_intake, its own
SQLite database, public keys only) in a subprocess on 127.0.0.1; the casework side pulls from it."""

from __future__ import annotations

import http.client
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kartoteka.intake.models import Submission, SubmissionFile
from kartoteka.intake.pull import PullError, pull
from kartoteka.intake.triage import services as triage
from kartoteka.lib import crypto
from kartoteka.testing.factories import Cast, cast_make, user_make

ROOT = Path(__file__).resolve().parent.parent
PASSPHRASE = "triage passphrase for tests"
_BOUNDARY = "kartotekatest" + secrets.token_hex(6)


@dataclass(frozen=True)
class IntakeHost:
    url: str
    port: int
    token: str
    database: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stored(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT count(*) FROM intake_submission").fetchone()[0])


@pytest.fixture(scope="module")
def intake_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IntakeHost]:
    base = tmp_path_factory.mktemp("intake-host")
    (base / "public-keys").mkdir()
    token = secrets.token_urlsafe(24)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KARTOTEKA_", "DJANGO_", "DATABASE_URL", "PYTEST"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="kartoteka.settings_intake",
        KARTOTEKA_SECRET_KEY=secrets.token_hex(32),
        KARTOTEKA_DATA_DIR=str(base / "data"),
        KARTOTEKA_KEYS_DIR=str(base / "public-keys"),
        KARTOTEKA_INTAKE_SYNC_TOKEN_SHA256=crypto.digest(token.encode()).hex(),
        KARTOTEKA_INTAKE_RECOVERY_RECIPIENT=crypto.identity_new().recipient,
        KARTOTEKA_SSL_REDIRECT="0",
    )
    migrate = (
        "import django; django.setup(); from django.core.management import call_command;"
        "call_command('migrate', verbosity=0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", migrate], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kartoteka.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(600):  # until it answers; a server that exits or never answers fails the fixture
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        yield IntakeHost(f"http://127.0.0.1:{port}", port, token, base / "data" / "kartoteka.sqlite3")
    finally:
        proc.send_signal(signal.SIGINT)  # gunicorn's quick shutdown; SIGTERM waits for idle keep-alives
        proc.wait(30)


def _post_report(host: IntakeHost, text: str, attachment: bytes) -> str:
    """A browser with JavaScript off posting the form; returns the receipt page."""
    fields = {"relationship": "mother", "what_text": text, "person_name": "Петров Иван"}
    body = b"".join(
        f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    body += (
        (
            f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="note.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        + attachment
        + f"\r\n--{_BOUNDARY}--\r\n".encode()
    )
    conn = http.client.HTTPConnection("127.0.0.1", host.port, timeout=60)
    try:
        conn.request(
            "POST", "/report/?lang=ru", body, {"Content-Type": f"multipart/form-data; boundary={_BOUNDARY}"}
        )
        response = conn.getresponse()
        page = response.read().decode()
    finally:
        conn.close()
    assert response.status == 200, page[:500]
    return page


@pytest.fixture
def cast(agent_ready: Path) -> Cast:
    cast = cast_make()
    triage.triage_key_create(actor=user_make("boss", role="admin"), user=cast.owner, passphrase=PASSPHRASE)
    return cast


@pytest.mark.django_db
def test_it_pulls_sealed_submissions_from_a_separate_intake_host_over_http(
    intake_host: IntakeHost, cast: Cast
) -> None:
    # The first pull tells the fresh intake host whom to seal to; there is nothing to fetch yet.
    assert pull(intake_host.url, intake_host.token).stored == 0
    marker = "Pulled" + secrets.token_hex(6)
    receipt = _post_report(intake_host, marker, b"attached " + marker.encode())
    assert re.search(r'<p class="codename" id="codename">[^<]+</p>', receipt)
    assert _stored(intake_host.database) == 1
    with sqlite3.connect(intake_host.database) as db:
        assert marker.encode() not in b"".join(
            bytes(r[0]) for r in db.execute("SELECT sealed FROM intake_submission")
        )

    report = pull(intake_host.url, intake_host.token, batch=5)
    assert (report.stored, report.acknowledged) == (1, 1)
    assert _stored(intake_host.database) == 0  # the intake deleted it once the pull was acknowledged
    assert Submission.objects.count() == 1 and SubmissionFile.objects.count() == 1
    triage.triage_unlock(user=cast.owner, passphrase=PASSPHRASE)
    view = triage.submission_open(user=cast.owner, submission_id=Submission.objects.get().id)
    assert view.fields["what_text"] == marker and view.fields["relationship"] == "mother"
    triage.triage_lock(user=cast.owner)
    assert pull(intake_host.url, intake_host.token).stored == 0  # nothing is handed over twice


@pytest.mark.django_db
def test_it_refuses_a_pull_with_a_wrong_secret_or_without_https(intake_host: IntakeHost, cast: Cast) -> None:
    with pytest.raises(PullError, match="answered 401"):
        pull(intake_host.url, "not-the-secret")
    remote = urllib.parse.urlunsplit(("http", "intake.example.org", "/", "", ""))
    with pytest.raises(PullError, match="HTTPS"):
        pull(remote, intake_host.token)
    with pytest.raises(PullError, match="cannot reach"):
        pull(f"http://127.0.0.1:{_free_port()}", intake_host.token, timeout=5)


def test_it_serves_the_forms_stylesheet_from_its_own_origin(intake_host: IntakeHost) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", intake_host.port, timeout=60)
    try:
        conn.request("GET", "/report/?lang=ru")
        page = conn.getresponse().read().decode()
        (href,) = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
        conn.request("GET", href)
        response = conn.getresponse()
        css = response.read()
    finally:
        conn.close()
    assert href.startswith("/static/")  # CSP allows its own origin only
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/css")
    assert b"{" in css
