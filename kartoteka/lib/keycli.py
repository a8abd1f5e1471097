"""``kartoteka agent …`` and ``kartoteka keys …``: thin doors onto :mod:`keys` and :mod:`agent`.

Mounted by the main CLI with :func:`register`. Passphrases and the recovery secret are read from the
terminal without echo (or one line each from stdin when it is not a terminal), never from arguments or
the environment, so they cannot show in ``ps`` or shell history.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

from kartoteka.lib import agent, crypto, keys

KEYS_DIR_ENV = "KARTOTEKA_KEYS_DIR"
SOCKET_ENV = "KARTOTEKA_AGENT_SOCKET"

StoreFactory = Callable[[], keys.EncryptedStore]
Command = Callable[[argparse.Namespace], int]


def keys_dir_of(args: argparse.Namespace) -> Path:
    raw = args.keys_dir or os.environ.get(KEYS_DIR_ENV)
    if not raw:
        raise keys.KeysError(f"no key directory: pass --keys-dir or set {KEYS_DIR_ENV}")
    return Path(raw)


def socket_of(args: argparse.Namespace) -> Path:
    raw = args.socket or os.environ.get(SOCKET_ENV)
    return Path(raw) if raw else keys_dir_of(args) / "run" / "agent.sock"


def _client(args: argparse.Namespace) -> agent.AgentClient:
    return agent.AgentClient(socket_of(args))


def read_secret(prompt: str, *, confirm: bool = False) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("Again: ") != first:
        raise keys.KeysError("the two entries differ")
    return first


def _guarded(fn: Command) -> Command:
    """Known failures become one line on stderr and exit code 1; their messages carry no secrets."""

    @wraps(fn)
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except (keys.KeysError, agent.AgentError, crypto.CryptoError) as exc:
            print(f"kartoteka: {exc}", file=sys.stderr)
            return 1

    return run


# --- agent ------------------------------------------------------------------------------------------------


@_guarded
def agent_start(args: argparse.Namespace) -> int:
    keys_dir, sock = keys_dir_of(args), socket_of(args)
    # A demo agent does not time out unless asked: nothing real to protect, and nobody to unlock it.
    demo = args.demo_key_file is not None
    idle = args.idle_timeout if args.idle_timeout is not None else (0 if demo else agent.DEFAULT_IDLE_TIMEOUT)
    life = args.max_lifetime if args.max_lifetime is not None else (0 if demo else agent.DEFAULT_MAX_LIFETIME)
    idle_s, life_s = idle or None, life or None
    if args.foreground:
        agent.serve(
            keys_dir, sock, idle_timeout=idle_s, max_lifetime=life_s, demo_key_file=args.demo_key_file
        )
        return 0
    proc = agent.spawn(
        keys_dir,
        sock,
        idle_timeout=idle_s,
        max_lifetime=life_s,
        demo_key_file=args.demo_key_file,
        log_file=sock.parent / "agent.log",
        detach=True,
    )
    print(f"key agent started (pid {proc.pid}), socket {sock}")
    if args.demo_key_file is None:
        print("It is locked: run `kartoteka keys unlock`.")
    return 0


@_guarded
def agent_stop(args: argparse.Namespace) -> int:
    agent.stop(socket_of(args))
    print("key agent stopped; its keys were wiped")
    return 0


@_guarded
def agent_status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        st = client.status()
    state = "unlocked" if st["unlocked"] else "locked"
    print(f"key agent pid {st['pid']}: {state}" + (" (DEMO key file)" if st["demo"] else ""))
    if st["unlocked"]:
        print(f"  via {st['via']}, keyring version {st['current_version']}, live {st['live_versions']}")
        print(f"  unlocked {st['unlocked_for']}s ago, idle {st['idle_for']}s")
    print(f"  idle timeout {_limit(st['idle_timeout'])}, lifetime {_limit(st['max_lifetime'])}")
    return 0


# --- keys -------------------------------------------------------------------------------------------------


@_guarded
def keys_init(args: argparse.Namespace) -> int:
    passphrase = None
    if not args.demo_key_file or not args.no_passphrase:
        passphrase = read_secret("New passphrase for slot 1: ", confirm=True)
    result = keys.init(keys_dir_of(args), passphrase, demo_key_file=args.demo_key_file)
    print(
        "Key directory initialised.\n\n"
        "RECOVERY SECRET — shown once, stored nowhere on this server. Write it on paper and keep it\n"
        "offline, apart from every passphrase. If every passphrase is forgotten it restores access;\n"
        "if it is lost as well, the data is UNRECOVERABLE.\n"
    )
    print(result.recovery_secret)
    print("\nThe same, in groups for copying by hand (either form is accepted back):\n")
    print(keys.recovery_secret_grouped(result.recovery_secret))
    print(f"\npassphrase slot: {result.slot_id or '(none: demo key file)'}")
    if args.demo_key_file:
        print(f"DEMO: the master key is in clear in {args.demo_key_file}. Never do this with real data.")
    return 0


@_guarded
def keys_unlock(args: argparse.Namespace) -> int:
    with _client(args) as client:
        st = client.unlock(read_secret("Passphrase: "))
    print(f"unlocked (keyring version {st['current_version']})")
    return 0


@_guarded
def keys_lock(args: argparse.Namespace) -> int:
    with _client(args) as client:
        client.lock()
    print("locked; the agent's keys were wiped")
    return 0


@_guarded
def keys_slots(args: argparse.Namespace) -> int:
    for slot in keys.slots_list(keys_dir_of(args)):
        print(f"{slot.id:12} {slot.kind:10} {slot.created}  {slot.detail}")
    return 0


@_guarded
def keys_add_slot(args: argparse.Namespace) -> int:
    with _client(args) as client:
        slot_id = client.slot_add(read_secret("New passphrase: ", confirm=True))
    print(f"added passphrase slot {slot_id}")
    return 0


@_guarded
def keys_revoke_slot(args: argparse.Namespace) -> int:
    with _client(args) as client:
        client.slot_revoke(args.slot_id, allow_last=args.allow_last)
    print(f"revoked slot {args.slot_id}. Copies of slots.json made before now (backups) still hold it.")
    return 0


@_guarded
def keys_recover(args: argparse.Namespace) -> int:
    with _client(args) as client:
        client.unlock_recovery(read_secret("Recovery secret (either form, spaces allowed): "))
        print("unlocked with the recovery secret")
        slot_id = client.slot_add(read_secret("New passphrase: ", confirm=True))
    print(f"added passphrase slot {slot_id}; keep the recovery secret where it was")
    return 0


def _keys_rotate(store_factory: StoreFactory | None) -> Command:
    @_guarded
    def run(args: argparse.Namespace) -> int:
        if store_factory is None:
            raise keys.KeysError("rotation needs the application's record store; run it from `kartoteka`")
        with _client(args) as client:
            report = keys.rotate(
                client, store_factory(), reencrypt=args.reencrypt, batch_size=args.batch_size
            )
        verb = "resumed rotation to" if report.resumed else "rotated to"
        print(f"{verb} keyring version {report.version}: {report.records_done} records updated")
        if report.dropped_versions:
            print(f"destroyed root keys of versions {list(report.dropped_versions)}")
        if report.still_in_use:
            print(f"versions {list(report.still_in_use)} are still in use; run the command again")
            return 1
        return 0

    return run


# --- mounting ---------------------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keys-dir", default=None, help=f"key directory (default ${KEYS_DIR_ENV})")
    p.add_argument(
        "--socket", default=None, help=f"agent socket (default ${SOCKET_ENV} or KEYS_DIR/run/agent.sock)"
    )


def _add(sub: Any, name: str, fn: Command, help_text: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    _common(p)
    p.set_defaults(func=fn)
    return p


def _limit(seconds: object) -> str:
    return "none" if seconds in (None, 0) else f"{seconds}s"


def register(subparsers: Any, *, store_factory: StoreFactory | None = None) -> None:
    """Add ``agent`` and ``keys`` to the main CLI's sub-parsers; each leaf sets ``func(args) -> int``."""
    agent_p = subparsers.add_parser("agent", help="run and query the key agent")
    agent_sub = agent_p.add_subparsers(dest="agent_command", required=True)
    start = _add(agent_sub, "start", agent_start, "start the key agent (locked, unless --demo-key-file)")
    start.add_argument("--foreground", action="store_true", help="stay in the foreground (systemd)")
    start.add_argument(
        "--idle-timeout", type=float, default=None, help="seconds idle before locking; 0 = never"
    )
    start.add_argument("--max-lifetime", type=float, default=None, help="seconds after unlock; 0 = never")
    start.add_argument(
        "--demo-key-file", type=Path, default=None, help="DEMO ONLY: unlock from a clear key file"
    )
    _add(agent_sub, "stop", agent_stop, "lock and stop the key agent")
    _add(agent_sub, "status", agent_status, "show whether the agent is locked")

    keys_p = subparsers.add_parser("keys", help="key slots, recovery, rotation")
    keys_sub = keys_p.add_subparsers(dest="keys_command", required=True)
    init = _add(
        keys_sub, "init", keys_init, "create the master key, a passphrase slot and the recovery secret"
    )
    init.add_argument(
        "--demo-key-file", type=Path, default=None, help="DEMO ONLY: also write the key in clear"
    )
    init.add_argument("--no-passphrase", action="store_true", help="with --demo-key-file: no passphrase slot")
    _add(keys_sub, "unlock", keys_unlock, "unlock the agent with a passphrase")
    _add(keys_sub, "lock", keys_lock, "lock the agent now (the panic button)")
    _add(keys_sub, "slots", keys_slots, "list key slots")
    _add(keys_sub, "add-slot", keys_add_slot, "add a passphrase slot (agent must be unlocked)")
    revoke = _add(
        keys_sub, "revoke-slot", keys_revoke_slot, "remove a passphrase slot (agent must be unlocked)"
    )
    revoke.add_argument("slot_id")
    revoke.add_argument("--allow-last", action="store_true", help="even the last one: only recovery remains")
    _add(keys_sub, "recover", keys_recover, "unlock with the recovery secret and set a new passphrase")
    rotate = _add(keys_sub, "rotate", _keys_rotate(store_factory), "move every record to a new root key")
    rotate.add_argument("--reencrypt", action="store_true", help="also new data keys and re-encrypted fields")
    rotate.add_argument("--batch-size", type=int, default=500)
