"""`kartoteka intake keys add|list|revoke`: an admin creates and revokes triage keys (the recipients new
submissions are sealed to), audited; a key's holder sees and revokes only their own; others see nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from kartoteka import cli
from kartoteka.accounts.models import Role, User
from kartoteka.audit.models import AuditEntry
from kartoteka.core import clisession
from kartoteka.intake.models import Recipient
from kartoteka.intake.triage import services as triage
from kartoteka.intake.triage.models import TriageKey
from kartoteka.testing.factories import Cast, cast_make, user_make

PASSPHRASE = "a triage passphrase long enough"


def _run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = ""
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = cli.main(["intake", "keys", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _session(*users: User) -> None:
    for user in users:
        clisession.open_for(user.username, minutes=5)


@pytest.fixture
def cast(agent_ready: Path) -> Cast:
    return cast_make()


@pytest.mark.django_db
def test_it_lets_an_admin_add_list_and_revoke_a_triage_key(
    cast: Cast, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = user_make("boss", role=Role.ADMIN)
    _session(admin)
    code, out, err = _run(
        capsys, monkeypatch, "add", "--as", "boss", "--user", "owner", stdin=PASSPHRASE + "\n"
    )
    assert code == 0, err
    key = TriageKey.objects.get(user=cast.owner)
    assert out.split()[:4] == [str(key.id), "owner", key.created_day.isoformat(), "active"]
    assert Recipient.objects.get(recipient=key.recipient).active
    # The holder unlocks it with the passphrase typed at creation; nothing secret was printed.
    assert triage.triage_unlock(user=cast.owner, passphrase=PASSPHRASE) > 0
    assert PASSPHRASE not in out and "AGE-SECRET-KEY" not in out

    code, out, _ = _run(capsys, monkeypatch, "list", "--as", "boss")
    assert code == 0 and out.splitlines() == [
        f"{key.id} owner {key.created_day.isoformat()} active {key.recipient}"
    ]

    code, out, err = _run(capsys, monkeypatch, "revoke", "--as", "boss", str(key.id))
    assert code == 0, err
    key.refresh_from_db()
    assert key.revoked_day is not None and not Recipient.objects.get(recipient=key.recipient).active
    assert "revoked" in out
    with pytest.raises(triage.NoTriageKey):
        triage.triage_unlock(user=cast.owner, passphrase=PASSPHRASE)
    actions = list(
        AuditEntry.objects.filter(object_id=str(key.id)).order_by("seq").values_list("actor", "action")
    )
    assert actions == [(str(admin.id), "triage_key.create"), (str(admin.id), "triage_key.revoke")]
    code, _, err = _run(capsys, monkeypatch, "revoke", "--as", "boss", str(key.id))
    assert code == 1 and "already revoked" in err


@pytest.mark.django_db
def test_it_shows_and_revokes_a_key_only_for_its_holder_or_an_admin(
    cast: Cast, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = user_make("boss", role=Role.ADMIN)
    triage.triage_key_create(actor=admin, user=cast.owner, passphrase=PASSPHRASE)
    key = TriageKey.objects.get(user=cast.owner)
    _session(cast.owner, cast.teammate, cast.outsider)

    code, out, _ = _run(capsys, monkeypatch, "list", "--as", "owner")
    assert code == 0 and out.split()[0] == str(key.id)
    for other in ("teammate", "outsider"):
        code, out, _ = _run(capsys, monkeypatch, "list", "--as", other)
        assert code == 0 and out == ""
        code, _, err = _run(capsys, monkeypatch, "revoke", "--as", other, str(key.id))
        assert code == 1 and f"no triage key {key.id} that you may revoke" in err
        # Someone else's key and a key that does not exist are refused alike.
        code, _, err_missing = _run(
            capsys, monkeypatch, "revoke", "--as", other, "00000000-0000-4000-8000-000000000000"
        )
        assert code == 1 and err_missing.replace("00000000-0000-4000-8000-000000000000", str(key.id)) == err
        code, _, err = _run(
            capsys, monkeypatch, "add", "--as", other, "--user", "owner", stdin=PASSPHRASE + "\n"
        )
        assert code == 1 and "only an admin" in err
    key.refresh_from_db()
    assert key.revoked_day is None and TriageKey.objects.count() == 1

    code, _, err = _run(capsys, monkeypatch, "revoke", "--as", "owner", str(key.id))
    assert code == 0, err
    key.refresh_from_db()
    assert key.revoked_day is not None


@pytest.mark.django_db
def test_it_refuses_bad_key_requests_clearly(
    cast: Cast, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    user_make("chief", role=Role.ADMIN)
    code, _, err = _run(capsys, monkeypatch, "list", "--as", "chief")
    assert code == 1 and "kartoteka login --as chief" in err  # no session, no listing
    _session(User.objects.get(username="chief"))
    cases = [
        (["add", "--as", "chief", "--user", "nobody"], PASSPHRASE, "no user nobody"),
        (["add", "--as", "chief", "--user", "analyst"], PASSPHRASE, "analysts and inactive users"),
        (["add", "--as", "chief", "--user", "owner"], "short", "passphrase"),
        (["revoke", "--as", "chief", "not-a-key-id"], "", "no triage key not-a-key-id"),
    ]
    for args, stdin, message in cases:
        code, _, err = _run(capsys, monkeypatch, *args, stdin=stdin + "\n")
        assert code == 1 and message in err, (args, err)
    assert not TriageKey.objects.exists()
    _run(capsys, monkeypatch, "add", "--as", "chief", "--user", "owner", stdin=PASSPHRASE + "\n")
    code, _, err = _run(
        capsys, monkeypatch, "add", "--as", "chief", "--user", "owner", stdin=PASSPHRASE + "\n"
    )
    assert code == 1 and "already holds an active triage key" in err
