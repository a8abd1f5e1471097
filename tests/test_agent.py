"""The key agent as a real separate process: locking, slots, recovery, the socket's three locks, errors
across the socket, and a canary scan proving no key byte or plaintext reached the disk."""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import secrets
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kartoteka.lib import agent, crypto, keycli, keys
from kartoteka.testing import canary

PASS = "correct horse battery staple"
NOBODY = 65534


def _fast() -> crypto.PassphraseParams:
    return crypto.PassphraseParams.new(iterations=1, memory_kib=8 * 1024, lanes=1)


@dataclass
class Env:
    keys_dir: Path
    socket: Path
    log: Path
    proc: subprocess.Popen[bytes]
    client: agent.AgentClient
    init: keys.InitResult


@pytest.fixture
def base_dir() -> Iterator[Path]:
    """A directory others can traverse (0711), so the socket directory's own mode is what keeps them out;
    pytest's tmp_path sits under an owner-only directory and would hide that."""
    path = Path(tempfile.mkdtemp(prefix="kartoteka-agent-test-"))
    os.chmod(path, 0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _start(base: Path, passphrase: str = PASS, **kwargs: float | None) -> Env:
    keys_dir = base / "keys"
    init = keys.init(keys_dir, passphrase, params=_fast())
    sock, log = base / "run" / "agent.sock", base / "agent.log"
    proc = agent.spawn(keys_dir, sock, log_file=log, **kwargs)  # type: ignore[arg-type]
    return Env(keys_dir, sock, log, proc, agent.AgentClient(sock), init)


def _stop(env: Env) -> None:
    env.client.close()
    if env.proc.poll() is None:
        env.proc.terminate()
        env.proc.wait(10)


@pytest.fixture
def env(base_dir: Path) -> Iterator[Env]:
    e = _start(base_dir)
    yield e
    _stop(e)


def _record(marker: str = "x" * 8) -> keys.PlainRecord:
    return keys.PlainRecord("person", str(crypto.record_id_new()), {"surname": marker.encode(), "note": b"n"})


# --- lock and unlock --------------------------------------------------------------------------------------


def test_it_starts_locked_and_unlocks_and_locks(env: Env) -> None:
    assert env.client.status()["unlocked"] is False
    with pytest.raises(keys.LockedError):
        env.client.seal_records([_record()])
    st = env.client.unlock(PASS)
    assert (st["unlocked"], st["via"], st["current_version"]) == (True, "passphrase", 1)
    sealed = env.client.seal_records([_record("Иванов Пётр")])
    assert env.client.open_records(sealed)[0]["surname"] == "Иванов Пётр".encode()
    env.client.lock()
    assert env.client.status()["unlocked"] is False
    with pytest.raises(keys.LockedError):
        env.client.open_records(sealed)


def test_it_refuses_a_wrong_passphrase(env: Env) -> None:
    with pytest.raises(keys.UnlockError):
        env.client.unlock(PASS + "!")
    assert env.client.status()["unlocked"] is False


def test_it_refuses_a_revoked_slot(env: Env) -> None:
    env.client.unlock(PASS)
    second = env.client.slot_add("the second administrator's passphrase")
    env.client.lock()
    env.client.unlock("the second administrator's passphrase")
    env.client.slot_revoke(second)
    env.client.lock()
    with pytest.raises(keys.UnlockError):
        env.client.unlock("the second administrator's passphrase")
    assert env.client.unlock(PASS)["unlocked"] is True


def test_it_needs_an_unlocked_agent_to_change_slots(env: Env) -> None:
    with pytest.raises(keys.LockedError):
        env.client.slot_add("a passphrase nobody approved")
    with pytest.raises(keys.LockedError):
        env.client.slot_revoke(str(env.init.slot_id), allow_last=True)
    assert [s.kind for s in keys.slots_list(env.keys_dir)] == ["passphrase", "recovery"]


def test_it_recovers_after_every_passphrase_slot_is_removed(env: Env) -> None:
    env.client.unlock(PASS)
    sealed = env.client.seal_records([_record("kept through recovery")])
    with pytest.raises(keys.SlotError):
        env.client.slot_revoke(str(env.init.slot_id))
    env.client.slot_revoke(str(env.init.slot_id), allow_last=True)
    env.client.lock()
    with pytest.raises(keys.UnlockError):
        env.client.unlock(PASS)
    st = env.client.unlock_recovery(keys.recovery_secret_grouped(env.init.recovery_secret))
    assert st["via"] == "recovery"
    env.client.slot_add("the passphrase set after recovery")
    env.client.lock()
    env.client.unlock("the passphrase set after recovery")
    assert env.client.open_records(sealed)[0]["surname"] == b"kept through recovery"


def test_it_locks_itself_when_idle(base_dir: Path) -> None:
    e = _start(base_dir, idle_timeout=1.0, max_lifetime=None)
    try:
        e.client.unlock(PASS)
        time.sleep(0.6)
        e.client.sign([b"activity"])  # resets the idle clock
        time.sleep(0.6)
        assert e.client.status()["unlocked"] is True
        time.sleep(1.2)
        assert e.client.status()["unlocked"] is False
    finally:
        _stop(e)


def test_it_locks_itself_after_its_lifetime_even_when_busy(base_dir: Path) -> None:
    e = _start(base_dir, idle_timeout=None, max_lifetime=1.5)
    try:
        e.client.unlock(PASS)
        start = time.monotonic()
        locked_after = None
        while locked_after is None and time.monotonic() - start < 3.0:
            try:
                e.client.sign([b"busy"])
            except keys.LockedError:
                locked_after = time.monotonic() - start
            time.sleep(0.1)
        assert locked_after is not None
        assert 1.4 < locked_after < 2.5
    finally:
        _stop(e)


def test_it_unlocks_from_a_demo_key_file_only_when_it_matches(base_dir: Path) -> None:
    keys_dir, demo = base_dir / "keys", base_dir / "demo.key"
    keys.init(keys_dir, None, demo_key_file=demo)
    assert stat.S_IMODE(demo.stat().st_mode) == 0o600
    proc = agent.spawn(keys_dir, base_dir / "run" / "agent.sock", demo_key_file=demo)
    try:
        with agent.AgentClient(base_dir / "run" / "agent.sock") as client:
            st = client.status()
            assert (st["unlocked"], st["demo"], st["via"]) == (True, True, "demo key file")
            client.shutdown()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    demo.write_text(secrets.token_hex(32))
    with pytest.raises(agent.AgentError, match="exited"):
        agent.spawn(keys_dir, base_dir / "run" / "agent.sock", demo_key_file=demo)


# --- the socket -------------------------------------------------------------------------------------------


def test_it_keeps_its_socket_owner_only(env: Env) -> None:
    assert stat.S_IMODE(env.socket.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(env.socket.stat().st_mode) == 0o600
    with pytest.raises(agent.AgentError, match="already answers"):
        agent.spawn(env.keys_dir, env.socket)


def test_it_removes_its_socket_and_wipes_on_sigterm(env: Env) -> None:
    env.client.unlock(PASS)
    env.proc.terminate()
    assert env.proc.wait(10) == 0
    assert not env.socket.exists()
    assert "locked (signal)" in env.log.read_text()


def _as_nobody(sock_path: Path) -> str:
    """Fork; the child drops to uid 65534, connects and asks for status. Returns what it saw."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        result = "?"
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                try:
                    s.connect(str(sock_path))
                except PermissionError:
                    result = "EACCES"
                else:
                    body = json.dumps({"op": "status", "args": {}}).encode()
                    # The agent may refuse and close first; its refusal is already waiting to be read.
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        s.sendall(struct.pack(">I", len(body)) + body)
                    head = s.recv(4)
                    reply = json.loads(s.recv(struct.unpack(">I", head)[0])) if len(head) == 4 else {}
                    result = "answered:" + str(reply.get("error") or sorted(reply.get("result", {})))
        except BaseException as exc:
            result = f"child error {type(exc).__name__}"
        finally:
            os.write(w, result.encode())
            os._exit(0)
    os.close(w)
    # The child only touches os, socket and json, but forking a threaded process (pytest-xdist) could in
    # principle deadlock it: never wait for it forever.
    deadline = time.monotonic() + 15
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            break
        time.sleep(0.02)
    with os.fdopen(r, "rb") as fh:
        return fh.read().decode()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to fork a child of another uid")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_it_refuses_another_uid_by_file_modes(env: Env) -> None:
    env.client.unlock(PASS)
    assert _as_nobody(env.socket) == "EACCES"  # the 0700 directory
    os.chmod(env.socket.parent, 0o755)
    assert _as_nobody(env.socket) == "EACCES"  # the 0600 socket alone also keeps it out


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to fork a child of another uid")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_it_refuses_another_uid_by_the_peer_check(env: Env) -> None:
    env.client.unlock(PASS)
    os.chmod(env.socket.parent, 0o777)
    os.chmod(env.socket, 0o666)
    assert _as_nobody(env.socket) == "answered:peer_refused"
    assert "refused a connection from uid 65534" in env.log.read_text()
    assert env.client.status()["unlocked"] is True  # the owner is still served


# --- errors across the socket -----------------------------------------------------------------------------


def test_it_maps_errors_to_their_classes_without_content(env: Env) -> None:
    env.client.unlock(PASS)
    (sealed,) = env.client.seal_records([_record("the surname that must not leak")])
    tampered = keys.SealedRecord(
        sealed.table, sealed.record_id, sealed.wrapped_dek, {"surname": sealed.fields["note"]}
    )
    with pytest.raises(crypto.IntegrityError) as info:
        env.client.open_records([tampered])
    assert sealed.record_id not in str(info.value)
    with pytest.raises(crypto.MalformedError):
        env.client.open_records([keys.SealedRecord("person", sealed.record_id, b"\x09junk", {})])
    with pytest.raises(keys.KeyVersionError):
        env.client.blind_index("person.surname", ["x"], version=7)
    with pytest.raises(agent.ProtocolError):
        env.client.call("no_such_operation")
    with pytest.raises(agent.ProtocolError):
        env.client.call("seal_records", items=[["person"]])
    assert env.client.status()["unlocked"] is True


def test_it_refuses_malformed_record_attachments_and_stays_up(env: Env) -> None:
    env.client.unlock(PASS)
    lengths_past_the_data = [b"\x00" * 8, b"\x05\x00\x00\x00", b"abc"]
    for blobs in ([], [b"\x01"], lengths_past_the_data):
        with pytest.raises(agent.ProtocolError):
            env.client.call_blobs("seal_records_raw", blobs)
        with pytest.raises(agent.ProtocolError):
            env.client.call_blobs("open_records_raw", blobs)
    with pytest.raises(agent.ProtocolError):
        env.client.call_blobs("blind_index_raw", [b"\x07"], purpose="person.surname")
    (sealed,) = env.client.seal_records([_record("still served")])
    assert env.client.open_records([sealed])[0]["surname"] == b"still served"


def test_it_serves_the_audit_signer_interface(env: Env) -> None:
    env.client.unlock(PASS)
    version, (sig,) = env.client.sign([b"entry hash"])
    crypto.signature_verify(env.client.public_keys()[version], b"entry hash", sig)
    env.client.lock()
    assert env.client.audit_public_keys() == keys.audit_public_keys(env.keys_dir)  # no secret needed


# --- nothing on disk --------------------------------------------------------------------------------------


def test_it_leaves_no_key_or_plaintext_on_disk_after_1000_operations(base_dir: Path) -> None:
    passphrase = "canary passphrase " + secrets.token_hex(8)
    e = _start(base_dir, passphrase)
    data_dir = base_dir / "data"
    data_dir.mkdir()
    try:
        e.client.unlock(passphrase)
        markers = [f"Канарейка-{secrets.token_hex(8)}" for _ in range(16)]
        with (data_dir / "records.jsonl").open("w") as out:
            for i in range(250):  # 250 rounds x 4 operations, each a batch of 4 records
                batch = [_record(markers[(i + j) % len(markers)]) for j in range(4)]
                sealed = e.client.seal_records(batch)
                opened = e.client.open_records(sealed)
                assert [o["surname"] for o in opened] == [b.fields["surname"] for b in batch]
                e.client.blind_index("person.surname", [m.casefold() for m in markers[:4]])
                e.client.sign([s.wrapped_dek for s in sealed])
                for s in sealed:
                    out.write(json.dumps({"id": s.record_id, "surname": s.fields["surname"].hex()}) + "\n")
        # The keys themselves, read in this process through the recovery path only.
        mk = bytes(keys.master_key_from_recovery(e.keys_dir, e.init.recovery_secret))
        ring = json.loads((e.keys_dir / keys.KEYRING_FILE).read_text())
        root = crypto.key_unwrap(
            mk, base64.b64decode(ring["versions"][0]["wrapped_root"]), context=b"keyring:v1"
        )
        key_markers: list[bytes | str] = [
            mk,
            root,
            crypto.derive_key(root, "field-kek"),
            crypto.derive_key(root, "blind-index/person.surname"),
            crypto.derive_key(root, "audit-sign"),
            e.init.recovery_secret,
            passphrase,
        ]
        all_markers = [*key_markers, *markers]
        paths = [e.keys_dir, data_dir, e.socket.parent, e.log]

        control = data_dir / "control.bin"  # proves the scan would see a leak here
        control.write_bytes(b"...." + mk.hex().upper().encode() + b"....")
        found = canary.scan(all_markers, paths, include_processes=True)
        assert [(f.marker, f.path) for f in found] == [(0, str(control))]
        control.unlink()

        canary.assert_clean(all_markers, paths, include_processes=True)
    finally:
        _stop(e)


# --- the command line -------------------------------------------------------------------------------------


def test_it_runs_the_agent_and_keys_commands(
    base_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="kartoteka")
    keycli.register(parser.add_subparsers(dest="command", required=True))
    monkeypatch.setenv(keycli.KEYS_DIR_ENV, str(base_dir / "keys"))
    monkeypatch.delenv(keycli.SOCKET_ENV, raising=False)

    def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        args = parser.parse_args(argv)
        code = args.func(args)
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = run("keys", "init", stdin=PASS + "\n")
    assert code == 0
    (secret,) = [
        line for line in out.splitlines() if line.startswith(keys.RECOVERY_PREFIX) and len(line) > 20
    ]
    assert keys.recovery_secret_grouped(secret) in out
    assert run("agent", "start", "--idle-timeout", "60")[0] == 0
    try:
        assert run("keys", "unlock", stdin=PASS + "\n")[0] == 0
        code, out, _ = run("agent", "status")
        assert "unlocked" in out
        code, _, err = run("keys", "unlock", stdin="not the passphrase at all\n")
        assert code == 1
        assert "cannot unlock" in err
        assert "not the passphrase" not in err
        one_line = " ".join(keys.recovery_secret_grouped(secret).split())
        assert run("keys", "recover", stdin=f"{one_line}\na new passphrase after recovery\n")[0] == 0
        code, out, _ = run("keys", "slots")
        assert out.count("passphrase") == 2
        code, _, err = run("keys", "rotate")
        assert code == 1
        assert "record store" in err
        assert run("keys", "lock")[0] == 0
        assert run("agent", "stop")[0] == 0
        assert not (base_dir / "keys" / "run" / "agent.sock").exists()
    finally:
        with contextlib.suppress(agent.AgentError):
            agent.AgentClient(base_dir / "keys" / "run" / "agent.sock").shutdown()


def test_it_refuses_a_socket_path_too_long_for_unix_sockets(tmp_path: Path) -> None:
    long_path = tmp_path / ("d" * 120) / "agent.sock"
    with pytest.raises(agent.AgentError, match="bytes long"):
        agent.spawn(tmp_path / "keys", long_path)
