"""The key agent: one local process that holds the unlocked keys and performs every key operation.

Web workers and commands reach it through :class:`AgentClient` over a Unix socket and get back results
(ciphertexts, plaintexts, index values, signatures), never key bytes. Three locks on the door: the socket
lives in an owner-only directory (0700), the socket itself is 0600, and every connection's peer uid
(``SO_PEERCRED``) must equal the agent's uid — the last matters because root ignores file modes.

Frames are a 4-byte big-endian length and a JSON object; bytes travel as base64. Operations are batched
so a bulk import pays one round trip per batch, not per record. Bulk byte payloads (evidence chunks) travel
instead as raw attachments after the JSON: its ``blobs`` member lists their lengths, and each follows in
order, so a gigabyte file costs no base64 or JSON scanning. Record batches (seal, open, blind index) use
attachments too: a list of byte strings travels as two attachments, their lengths as an array of
unsigned 32-bit integers and their concatenation (:func:`_pack`), so neither side pays JSON and base64
per field. Errors travel as a code only and are
raised again on the client side as the matching :mod:`kartoteka.lib.keys` or :mod:`~kartoteka.lib.crypto`
class, with a fixed message: nothing sensitive crosses the socket inside an error.

Evidence files do not cross the socket at all: ``vault_ingest_fds`` hands the agent the open source file
and the empty destination as descriptors (``SCM_RIGHTS``, on the frame's first bytes), and the agent
reads, hashes, seals and writes itself (:func:`kartoteka.lib.vault.seal_stream`). The peer-uid check
applies as to every request; the agent accepts only regular files, the destination empty and writable.

The agent locks itself (overwriting its key buffers, best effort) after an idle timeout and after an
absolute lifetime counted from unlocking. No Django here.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import fcntl
import json
import logging
import os
import resource
import signal
import socket
import socketserver
import stat
import struct
import subprocess
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from kartoteka.lib import crypto, intakekeys, keys, vault

DEFAULT_IDLE_TIMEOUT = 15 * 60.0
DEFAULT_MAX_LIFETIME = 12 * 3600.0
MAX_FRAME = 256 * 1024 * 1024
MAX_BLOBS = 4096
MAX_FDS = 2  # descriptors one request may carry (SCM_RIGHTS): an evidence source and its destination
_LENGTH = struct.Struct(">I")
_PEERCRED = struct.Struct("3i")  # pid, uid, gid
_PR_SET_DUMPABLE = 4

log = logging.getLogger("kartoteka.agent")


class AgentError(Exception):
    code = "internal"


class AgentUnavailableError(AgentError):
    """Nothing answers on the socket (agent not started, or gone)."""

    code = "unavailable"


class PeerRefusedError(AgentError):
    code = "peer_refused"


class ProtocolError(AgentError):
    code = "bad_request"


_CRYPTO_CODES: dict[type[Exception], str] = {
    crypto.IntegrityError: "integrity",
    crypto.MalformedError: "malformed",
    crypto.CryptoError: "crypto",
}
_ERRORS: dict[str, type[Exception]] = {
    **keys.ERRORS,
    **{code: cls for cls, code in _CRYPTO_CODES.items()},
    **{cls.code: cls for cls in (AgentError, AgentUnavailableError, PeerRefusedError, ProtocolError)},
}
# crypto messages may name tables, fields and record ids; only these fixed texts cross the socket.
_CRYPTO_MESSAGES = {
    "integrity": "authenticated decryption failed: tampered, moved, or wrong key",
    "malformed": "input is not in a format Kartoteka wrote",
    "crypto": "cryptographic operation refused",
}


def _error_code(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, keys.KeysError | AgentError):
        return exc.code, str(exc)
    for cls, code in _CRYPTO_CODES.items():
        if isinstance(exc, cls):
            return code, _CRYPTO_MESSAGES[code]
    return "internal", "internal error in the key agent (see its log)"


# --- framing -----------------------------------------------------------------------------------------------


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            return None
        got += k
    return bytes(buf)


def _recv_blob(sock: socket.socket, n: int) -> bytes | None:
    # recv(n) fills one new bytes object in place, so a megabyte chunk is not copied again afterwards.
    data = sock.recv(n, socket.MSG_WAITALL)
    if len(data) == n:
        return data
    parts, got = [data], len(data)
    while got < n:
        part = sock.recv(n - got, socket.MSG_WAITALL)
        if not part:
            return None
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _recv_head(sock: socket.socket, fds: list[int]) -> bytes | None:
    """The frame's length prefix, and the descriptors sent with it (appended to ``fds``, which the caller
    closes). Read with recvmsg, so descriptors on any other byte are dropped by the kernel."""
    data, received, flags, _ = socket.recv_fds(sock, _LENGTH.size, MAX_FDS)
    fds.extend(received)
    if flags & socket.MSG_CTRUNC:
        raise ProtocolError("too many descriptors")
    if not data:
        return None
    if len(data) < _LENGTH.size:
        rest = _recv_exact(sock, _LENGTH.size - len(data))
        if rest is None:
            raise ProtocolError("connection closed mid-frame")
        data += rest
    return data


def _recv_frame(sock: socket.socket, fds: list[int] | None = None) -> Any:
    """The next JSON object, or None at a clean end of stream. Attachments announced in ``blobs`` (a list
    of lengths) are read too and replace it as a list of bytes. With ``fds``, descriptors sent with the
    frame are accepted into it (the agent's side)."""
    head = _recv_exact(sock, _LENGTH.size) if fds is None else _recv_head(sock, fds)
    if head is None:
        return None
    (length,) = _LENGTH.unpack(head)
    if length > MAX_FRAME:
        raise ProtocolError("frame too large")
    body = _recv_exact(sock, length)
    if body is None:
        raise ProtocolError("connection closed mid-frame")
    obj = json.loads(body)
    if isinstance(obj, dict) and "blobs" in obj:
        sizes = obj["blobs"]
        if (
            not isinstance(sizes, list)
            or len(sizes) > MAX_BLOBS
            or not all(type(n) is int and n >= 0 for n in sizes)
            or sum(sizes) > MAX_FRAME
        ):
            raise ProtocolError("malformed attachments")
        blobs = []
        for n in sizes:
            blob = _recv_blob(sock, n) if n else b""
            if blob is None:
                raise ProtocolError("connection closed mid-frame")
            blobs.append(blob)
        obj["blobs"] = blobs
    return obj


def _send_frame(sock: socket.socket, obj: Any, blobs: Sequence[bytes] = (), fds: Sequence[int] = ()) -> None:
    if blobs:
        obj = {**obj, "blobs": [len(b) for b in blobs]}
    body = json.dumps(obj, separators=(",", ":")).encode()
    frame = _LENGTH.pack(len(body)) + body
    if fds:
        sent = socket.send_fds(sock, [frame], list(fds))  # the descriptors ride on the first bytes
        sock.sendall(frame[sent:])
    else:
        sock.sendall(frame)
    for blob in blobs:
        sock.sendall(blob)


def _b(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb(text: str) -> bytes:
    return base64.b64decode(text)


def _fields_out(fields: dict[str, bytes] | Any) -> dict[str, str]:
    return {k: _b(v) for k, v in fields.items()}


def _fields_in(fields: dict[str, str]) -> dict[str, bytes]:
    return {k: _unb(v) for k, v in fields.items()}


def _sealed_in(items: list[list[Any]]) -> list[keys.SealedRecord]:
    return [keys.SealedRecord(t, r, _unb(w), _fields_in(f)) for t, r, w, f in items]


def _sealed_out(items: Sequence[keys.SealedRecord]) -> list[list[Any]]:
    return [[i.table, i.record_id, _b(i.wrapped_dek), _fields_out(i.fields)] for i in items]


def _pack(parts: Sequence[bytes]) -> list[bytes]:
    """A list of byte strings as two attachments: lengths (uint32, this machine's byte order: both ends
    share it over a Unix socket) and the bytes end to end."""
    return [array("I", map(len, parts)).tobytes(), b"".join(parts)]


def _unpack(blobs: Sequence[bytes], first: int = 0) -> list[bytes]:
    """The inverse of :func:`_pack` over ``blobs[first]`` and ``blobs[first + 1]``."""
    if len(blobs) < first + 2:
        raise ProtocolError("malformed attachments")
    sizes, data = array("I"), blobs[first + 1]
    if len(blobs[first]) % sizes.itemsize:
        raise ProtocolError("malformed attachments")
    sizes.frombytes(blobs[first])
    if sum(sizes) != len(data):
        raise ProtocolError("malformed attachments")
    out, pos = [], 0
    for n in sizes:
        out.append(data[pos : pos + n])
        pos += n
    return out


def _pack_ints(values: Sequence[int]) -> bytes:
    return array("q", values).tobytes()


def _unpack_ints(blob: bytes) -> list[int]:
    values = array("q")
    if len(blob) % values.itemsize:
        raise ProtocolError("malformed attachments")
    values.frombytes(blob)
    return values.tolist()


def _plain_pack(items: Sequence[keys.PlainRecord]) -> list[bytes]:
    """Per record: table, id, then name and value of each field; the field counts as a third attachment."""
    flat: list[bytes] = []
    counts = []
    for item in items:
        flat.append(item.table.encode())
        flat.append(item.record_id.encode())
        for name, value in item.fields.items():
            flat.append(name.encode())
            flat.append(value)
        counts.append(len(item.fields))
    return [_pack_ints(counts), *_pack(flat)]


def _plain_flat(blobs: Sequence[bytes]) -> tuple[list[int], list[bytes]]:
    """The field counts and the flat list of a plain record list, checked to agree."""
    counts, flat = _unpack_ints(blobs[0]) if blobs else [], _unpack(blobs, 1)
    if any(n < 0 for n in counts) or 2 * (len(counts) + sum(counts)) != len(flat):
        raise ProtocolError("malformed attachments")
    return counts, flat


def _sealed_pack(items: Sequence[keys.SealedRecord]) -> list[bytes]:
    """Per record: table, id, wrapped key, then name and ciphertext of each field; counts as for plain."""
    flat: list[bytes] = []
    counts = []
    for item in items:
        flat.append(item.table.encode())
        flat.append(item.record_id.encode())
        flat.append(item.wrapped_dek)
        for name, value in item.fields.items():
            flat.append(name.encode())
            flat.append(value)
        counts.append(len(item.fields))
    return [_pack_ints(counts), *_pack(flat)]


def _sealed_unpack(blobs: Sequence[bytes]) -> list[keys.SealedRecord]:
    counts, flat = _unpack_ints(blobs[0]) if blobs else [], _unpack(blobs, 1)
    if any(n < 0 for n in counts) or 3 * len(counts) + 2 * sum(counts) != len(flat):
        raise ProtocolError("malformed attachments")
    out, pos = [], 0
    for n in counts:
        pairs = flat[pos + 3 : pos + 3 + 2 * n]
        out.append(
            keys.SealedRecord(
                flat[pos].decode(),
                flat[pos + 1].decode(),
                flat[pos + 2],
                {pairs[i].decode(): pairs[i + 1] for i in range(0, 2 * n, 2)},
            )
        )
        pos += 3 + 2 * n
    return out


# --- the agent ---------------------------------------------------------------------------------------------


class Agent:
    """The state behind the socket. One lock serialises key use against lock/unlock, so a batch never runs
    with a half-wiped key."""

    def __init__(
        self,
        keys_dir: Path,
        *,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        max_lifetime: float | None = DEFAULT_MAX_LIFETIME,
        demo: bool = False,
    ) -> None:
        self.keys_dir = keys_dir
        self.idle_timeout = idle_timeout
        self.max_lifetime = max_lifetime
        self.demo = demo
        self._lock = threading.Lock()
        self._session: keys.KeySession | None = None
        self._unlocked_at = 0.0
        self._last_used = 0.0
        self._via = ""
        self.stop_requested = threading.Event()
        # Triage users' intake identities: unlocked apart from the master key, each for a limited time.
        self._intake = intakekeys.IdentityHolder()
        self._ops: dict[str, Callable[[dict[str, Any]], Any]] = {
            "status": lambda a: self.status(),
            "unlock": lambda a: self._unlock(
                keys.master_key_from_passphrase(self.keys_dir, a["passphrase"]), "passphrase"
            ),
            "unlock_recovery": lambda a: self._unlock(
                keys.master_key_from_recovery(self.keys_dir, a["secret"]), "recovery"
            ),
            "lock": lambda a: self.lock("request"),
            "slot_add": lambda a: self._with_session(lambda s: s.slot_add(a["passphrase"])),
            "slot_revoke": self._slot_revoke,
            "audit_public_keys": lambda a: {
                str(v): _b(k) for v, k in keys.audit_public_keys(self.keys_dir).items()
            },
            "seal_records": self._seal_records,
            "open_records": lambda a: self._with_session(
                lambda s: [_fields_out(p) for p in s.open_records(_sealed_in(a["items"]))]
            ),
            "blind_index": lambda a: self._with_session(
                lambda s: s.blind_index(a["purpose"], a["values"], version=a.get("version"))
            ),
            "sign": self._sign,
            "rewrap": lambda a: self._with_session(
                lambda s: [_b(w) for w in s.rewrap(_sealed_in(a["items"]))]
            ),
            "reencrypt": lambda a: self._with_session(
                lambda s: _sealed_out(s.reencrypt(_sealed_in(a["items"])))
            ),
            "rotation_begin": self._rotation_begin,
            "rotation_finish": lambda a: self._with_session(lambda s: list(s.rotation_finish(a["in_use"]))),
            "shutdown": self._shutdown,
            "cli_session_open": self._cli_session_open,
            "cli_session_check": self._cli_session_check,
            "cli_session_close": self._cli_session_close,
            "intake_identity_unlock": lambda a: self._intake.unlock(
                str(a["user_id"]),
                _unb(a["sealed_secret"]),
                str(a["passphrase"]),
                seconds=float(a.get("seconds") or intakekeys.DEFAULT_UNLOCK_SECONDS),
            ),
            "intake_identity_lock": lambda a: self._intake.lock(
                None if a.get("user_id") is None else str(a["user_id"])
            ),
            "intake_identity_remaining": lambda a: self._intake.remaining(str(a["user_id"])),
        }
        # Operations whose bulk bytes travel as attachments: (args, blobs) → (result, blobs).
        self._blob_ops: dict[str, Callable[[dict[str, Any], list[bytes]], tuple[Any, list[bytes]]]] = {
            "vault_seal_chunks": self._vault_seal_chunks,
            "vault_open_chunks": self._vault_open_chunks,
            "seal_records_raw": self._seal_records_raw,
            "open_records_raw": self._open_records_raw,
            "blind_index_raw": self._blind_index_raw,
            "intake_open": lambda a, blobs: (None, self._intake.open(str(a["user_id"]), blobs)),
        }
        # Operations handed open descriptors with the request.
        self._fd_ops: dict[str, Callable[[dict[str, Any], list[int]], Any]] = {
            "vault_ingest_fds": self._vault_ingest_fds,
        }
        # Command-line logins: user name → monotonic expiry. Only peers of the agent's own uid reach these,
        # so they record which staff member a command acts for after a password check, for the audit log.
        self._cli_sessions: dict[str, float] = {}

    # state

    def status(self) -> dict[str, Any]:
        with self._lock:
            s = self._session
            out: dict[str, Any] = {
                "pid": os.getpid(),
                "unlocked": s is not None,
                "demo": self.demo,
                "idle_timeout": self.idle_timeout,
                "max_lifetime": self.max_lifetime,
            }
            if s is not None:
                now = time.monotonic()
                out.update(
                    via=self._via,
                    current_version=s.current_version,
                    live_versions=list(s.live_versions),
                    unlocked_for=round(now - self._unlocked_at, 1),
                    idle_for=round(now - self._last_used, 1),
                )
            return out

    def _unlock(self, master_key: bytearray, via: str) -> dict[str, Any]:
        session = keys.KeySession(self.keys_dir, master_key)  # raises UnlockError on a wrong key
        with self._lock:
            if self._session is not None:
                self._session.close()
            self._session = session
            self._unlocked_at = self._last_used = time.monotonic()
            self._via = via
        log.info("unlocked via %s", via)
        return self.status()

    def lock(self, reason: str) -> None:
        self._intake.lock()  # the panic button drops the triage identities too
        with self._lock:
            self._cli_sessions.clear()  # the panic button also ends every command-line login
            if self._session is None:
                return
            self._session.close()
            self._session = None
        log.info("locked (%s)", reason)

    def expire(self) -> None:
        """Lock when idle too long or unlocked too long; called by the watchdog."""
        now = time.monotonic()
        self._intake.purge()
        with self._lock:
            if self._session is None:
                return
            idle = self.idle_timeout is not None and now - self._last_used > self.idle_timeout
            old = self.max_lifetime is not None and now - self._unlocked_at > self.max_lifetime
        if idle or old:
            self.lock("idle timeout" if idle else "lifetime reached")

    def _with_session(self, fn: Callable[[keys.KeySession], Any]) -> Any:
        with self._lock:
            if self._session is None:
                raise keys.LockedError("the key agent is locked; run `kartoteka keys unlock`")
            self._last_used = time.monotonic()
            return fn(self._session)

    # operations

    def _seal_records(self, a: dict[str, Any]) -> Any:
        items = [keys.PlainRecord(t, r, _fields_in(f)) for t, r, f in a["items"]]
        sealed = self._with_session(lambda s: s.seal_records(items))
        return [[_b(x.wrapped_dek), _fields_out(x.fields)] for x in sealed]

    def _seal_records_raw(self, a: dict[str, Any], blobs: list[bytes]) -> tuple[Any, list[bytes]]:
        # The reply lists per record the wrapped key, then the ciphertexts in the request's field order.
        counts, flat = _plain_flat(blobs)
        return None, _pack(self._with_session(lambda s: s.seal_records_flat(counts, flat)))

    def _open_records_raw(self, a: dict[str, Any], blobs: list[bytes]) -> tuple[Any, list[bytes]]:
        # The reply lists the plaintexts in the request's field order.
        items = _sealed_unpack(blobs)
        opened = self._with_session(lambda s: s.open_records(items))
        return None, _pack([p[name] for item, p in zip(items, opened, strict=True) for name in item.fields])

    def _blind_index_raw(self, a: dict[str, Any], blobs: list[bytes]) -> tuple[Any, list[bytes]]:
        values = [v.decode() for v in _unpack(blobs)]
        version = a.get("version")
        indexes = self._with_session(
            lambda s: s.blind_index(
                str(a["purpose"]), values, version=None if version is None else int(version)
            )
        )
        return None, [_pack_ints(indexes)]

    def _sign(self, a: dict[str, Any]) -> Any:
        messages = [_unb(m) for m in a["messages"]]
        version, sigs = self._with_session(lambda s: s.sign(messages))
        return [version, [_b(x) for x in sigs]]

    def _slot_revoke(self, a: dict[str, Any]) -> None:
        # Revoking needs an unlocked agent, like adding: whoever changes slots has proved they hold one.
        self._with_session(
            lambda s: keys.slot_revoke(self.keys_dir, a["slot_id"], allow_last=bool(a.get("allow_last")))
        )

    def _vault_seal_chunks(self, a: dict[str, Any], blobs: list[bytes]) -> tuple[Any, list[bytes]]:
        wrapped = None if a.get("wrapped_key") is None else _unb(a["wrapped_key"])
        new_wrapped, sealed = self._with_session(
            lambda s: s.vault_seal_chunks(
                str(a["item_id"]), wrapped, int(a["first_index"]), blobs, final=bool(a["final"])
            )
        )
        return _b(new_wrapped), sealed

    def _vault_open_chunks(self, a: dict[str, Any], blobs: list[bytes]) -> tuple[Any, list[bytes]]:
        plain = self._with_session(
            lambda s: s.vault_open_chunks(
                str(a["item_id"]),
                _unb(a["wrapped_key"]),
                int(a["first_index"]),
                blobs,
                last_index=int(a["last_index"]),
            )
        )
        return None, plain

    def _vault_ingest_fds(self, a: dict[str, Any], fds: list[int]) -> Any:
        """Seal a whole evidence file from the source descriptor into the destination, here: the data key
        stays in this process and the plaintext never crosses the socket. Runs outside the key lock (a
        gigabyte takes seconds) but stops at the next batch once the agent is locked."""
        if len(fds) != 2:
            raise ProtocolError("a source and a destination descriptor are needed")
        source, dest = fds
        _fd_check(source, write=False)
        _fd_check(dest, write=True)
        item_id = vault.item_id_check(str(a["item_id"]))
        chunk_bytes = int(a["chunk_bytes"])
        with self._lock:
            session = self._session
            if session is None:
                raise keys.LockedError("the key agent is locked; run `kartoteka keys unlock`")
            self._last_used = time.monotonic()
            wrapped, sealer = session.vault_chunk_sealer(item_id)

        def alive() -> None:
            with self._lock:
                if self._session is not session:
                    raise keys.LockedError("the key agent was locked during the ingest")
                self._last_used = time.monotonic()

        stream = vault.seal_stream(source, dest, chunk_bytes=chunk_bytes, sealer=sealer, alive=alive)
        return {
            "wrapped_key": _b(wrapped),
            "size": stream.size,
            "sha256": stream.sha256,
            "chunk_sha256": list(stream.chunk_sha256),
        }

    def _rotation_begin(self, a: dict[str, Any]) -> Any:
        st = self._with_session(lambda s: s.rotation_begin())
        return [st.current, list(st.live_versions), st.resumed]

    def _cli_session_open(self, a: dict[str, Any]) -> None:
        minutes = float(a["minutes"])
        if not 0 < minutes <= 24 * 60:
            raise ValueError("session length out of range")
        self._cli_sessions[str(a["user"])] = time.monotonic() + minutes * 60

    def _cli_session_check(self, a: dict[str, Any]) -> bool:
        expiry = self._cli_sessions.get(str(a["user"]))
        if expiry is None or expiry < time.monotonic():
            self._cli_sessions.pop(str(a["user"]), None)
            return False
        return True

    def _cli_session_close(self, a: dict[str, Any]) -> None:
        self._cli_sessions.pop(str(a["user"]), None)

    def _shutdown(self, a: dict[str, Any]) -> None:
        self.lock("shutdown")
        self.stop_requested.set()

    def dispatch(self, request: Any, fds: Sequence[int] = ()) -> dict[str, Any]:
        """Run one request. ``fds`` were received with it; the caller closes them afterwards."""
        try:
            if not isinstance(request, dict) or not isinstance(request.get("op"), str):
                raise ProtocolError("malformed request")
            args = request.get("args") or {}
            if not isinstance(args, dict):
                raise ProtocolError("malformed request")
            fd_handler = self._fd_ops.get(request["op"])
            if fd_handler is not None:
                return {"ok": True, "result": fd_handler(args, list(fds))}
            if fds:
                raise ProtocolError("this operation takes no descriptors")
            blob_handler = self._blob_ops.get(request["op"])
            if blob_handler is not None:
                blobs = request.get("blobs") or []
                if not all(isinstance(b, bytes) for b in blobs):
                    raise ProtocolError("malformed request")
                result, out_blobs = blob_handler(args, blobs)
                return {"ok": True, "result": result, "blobs": out_blobs}
            handler = self._ops.get(request["op"])
            if handler is None:
                raise ProtocolError("unknown operation")
            return {"ok": True, "result": handler(args)}
        except (KeyError, TypeError, ValueError):
            # A missing or mistyped argument: the caller's bug, reported without echoing the arguments.
            return {"ok": False, "error": ProtocolError.code, "message": "malformed arguments"}
        except Exception as exc:  # every failure becomes a code; details stay in the agent's log
            code, message = _error_code(exc)
            if code == "internal":
                log.exception("operation failed")
            return {"ok": False, "error": code, "message": message}


def _fd_check(fd: int, *, write: bool) -> None:
    """A descriptor handed in must be a regular file open the right way; a destination must be empty and at
    its start, so the agent never writes over anything."""
    mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise ProtocolError("a descriptor is not a regular file")
    if write:
        ok = mode in (os.O_WRONLY, os.O_RDWR) and st.st_size == 0 and os.lseek(fd, 0, os.SEEK_CUR) == 0
    else:
        ok = mode in (os.O_RDONLY, os.O_RDWR)
    if not ok:
        raise ProtocolError("a descriptor is not open as the operation needs")


def peer_uid(sock: socket.socket) -> int:
    _, uid, _ = _PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
    return int(uid)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        uid = peer_uid(sock)
        if uid != os.getuid():
            log.warning("refused a connection from uid %d", uid)
            with contextlib.suppress(OSError):
                _send_frame(
                    sock, {"ok": False, "error": PeerRefusedError.code, "message": "connection refused"}
                )
            return
        while True:
            fds: list[int] = []
            try:
                try:
                    request = _recv_frame(sock, fds)
                except (ProtocolError, ValueError):
                    with contextlib.suppress(OSError):
                        _send_frame(
                            sock, {"ok": False, "error": ProtocolError.code, "message": "malformed frame"}
                        )
                    return
                except OSError:
                    return
                if request is None:
                    return
                response = self.server.agent.dispatch(request, fds)
            finally:
                for fd in fds:
                    os.close(fd)
            out_blobs = response.pop("blobs", ())
            try:
                _send_frame(sock, response, out_blobs)
            except OSError:
                return
            if self.server.agent.stop_requested.is_set():
                threading.Thread(target=self.server.shutdown, daemon=True).start()
                return


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    agent: Agent


def _harden_process() -> None:
    """No core dumps, and no ptrace or /proc/<pid>/mem by other processes of the same uid."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


# sun_path holds 108 bytes on Linux, NUL included; longer paths fail in confusing ways, so refuse them early.
SOCKET_PATH_MAX = 107


def socket_path_check(path: Path) -> None:
    if len(os.fsencode(str(path))) > SOCKET_PATH_MAX:
        raise AgentError(
            f"the agent socket path is {len(os.fsencode(str(path)))} bytes long; Unix sockets allow "
            f"{SOCKET_PATH_MAX}: choose a shorter KARTOTEKA_AGENT_SOCKET or data directory"
        )


def _socket_answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def _prepare_socket_dir(path: Path) -> None:
    directory = path.parent
    directory.mkdir(mode=keys.DIR_MODE, parents=True, exist_ok=True)
    st = directory.stat()
    if st.st_uid != os.getuid():
        raise AgentError("the socket directory belongs to another user")
    os.chmod(directory, keys.DIR_MODE)
    if path.exists() or path.is_symlink():
        if _socket_answers(path):
            raise AgentError("another key agent already answers on this socket")
        path.unlink()


def serve(
    keys_dir: Path,
    socket_path: Path,
    *,
    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
    max_lifetime: float | None = DEFAULT_MAX_LIFETIME,
    demo_key_file: Path | None = None,
) -> None:
    """Run the agent in this process until ``shutdown`` or SIGTERM/SIGINT; the socket is removed on exit."""
    _harden_process()
    agent = Agent(
        keys_dir, idle_timeout=idle_timeout, max_lifetime=max_lifetime, demo=demo_key_file is not None
    )
    if demo_key_file is not None:
        agent._unlock(keys.master_key_from_demo_file(demo_key_file), "demo key file")
    _prepare_socket_dir(socket_path)
    old_umask = os.umask(0o177)  # the socket is born 0600, not loosened for a moment
    try:
        server = _Server(str(socket_path), _Handler)
    finally:
        os.umask(old_umask)
    os.chmod(socket_path, keys.FILE_MODE)
    server.agent = agent

    def stop(signum: int, frame: object) -> None:
        agent.lock("signal")
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    tick = min([1.0, *(t / 4 for t in (idle_timeout, max_lifetime) if t)])

    def watchdog() -> None:
        while not agent.stop_requested.wait(tick):
            agent.expire()

    threading.Thread(target=watchdog, daemon=True).start()
    log.info("listening (pid %d)", os.getpid())
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        agent.lock("exit")
        agent.stop_requested.set()
        server.server_close()
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()
        log.info("stopped")


# --- client ------------------------------------------------------------------------------------------------


class AgentClient:
    """A connection to the agent; one request at a time per client (thread-safe by a lock).

    Implements :class:`kartoteka.lib.keys.KeyOperations`, so rotation runs the same against the agent as
    against an in-process session.
    """

    def __init__(self, socket_path: Path, *, timeout: float | None = 120.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(str(self.socket_path))
            except OSError as exc:
                sock.close()
                raise AgentUnavailableError(
                    f"no key agent answers at {self.socket_path} ({exc.strerror})"
                ) from None
            self._sock = sock
        return self._sock

    def call(self, op: str, **args: Any) -> Any:
        return self.call_blobs(op, (), **args)[0]

    def call_blobs(self, op: str, blobs: Sequence[bytes], **args: Any) -> tuple[Any, list[bytes]]:
        """A request whose bulk bytes travel as raw attachments; returns the result and the reply's."""
        return self._request(op, args, blobs)

    def call_fds(self, op: str, fds: Sequence[int], **args: Any) -> Any:
        """A request that hands the agent open descriptors. No timeout: it takes as long as the file."""
        return self._request(op, args, (), fds, patient=True)[0]

    def _request(
        self,
        op: str,
        args: dict[str, Any],
        blobs: Sequence[bytes],
        fds: Sequence[int] = (),
        *,
        patient: bool = False,
    ) -> tuple[Any, list[bytes]]:
        with self._lock:
            sock = self._connect()
            try:
                if patient:
                    sock.settimeout(None)
                _send_frame(sock, {"op": op, "args": args}, blobs, fds)
                response = _recv_frame(sock)
                if patient:
                    sock.settimeout(self.timeout)
            except (OSError, ProtocolError, ValueError):
                self.close()
                raise AgentUnavailableError("the connection to the key agent broke") from None
            if response is None:
                self.close()
                raise AgentUnavailableError("the key agent closed the connection")
        if response.get("ok"):
            return response.get("result"), list(response.get("blobs") or [])
        code = str(response.get("error"))
        cls = _ERRORS.get(code, AgentError)
        if cls is PeerRefusedError:
            self.close()
        raise cls(str(response.get("message") or code))

    # state and slots

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("status")
        return result

    def unlock(self, passphrase: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("unlock", passphrase=passphrase)
        return result

    def unlock_recovery(self, secret: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("unlock_recovery", secret=secret)
        return result

    def lock(self) -> None:
        self.call("lock")

    def slot_add(self, passphrase: str) -> str:
        return str(self.call("slot_add", passphrase=passphrase))

    def slot_revoke(self, slot_id: str, *, allow_last: bool = False) -> None:
        self.call("slot_revoke", slot_id=slot_id, allow_last=allow_last)

    def shutdown(self) -> None:
        self.call("shutdown")

    def audit_public_keys(self) -> dict[int, bytes]:
        return {int(v): _unb(k) for v, k in self.call("audit_public_keys").items()}

    def public_keys(self) -> dict[int, bytes]:
        """The same as :meth:`audit_public_keys`, under the name ``audit.Signer`` expects."""
        return self.audit_public_keys()

    # key operations

    def seal_records(self, items: Sequence[keys.PlainRecord]) -> list[keys.SealedRecord]:
        if not items:
            return []
        _, reply = self.call_blobs("seal_records_raw", _plain_pack(items))
        flat = _unpack(reply)
        if len(flat) != sum(1 + len(i.fields) for i in items):
            raise ProtocolError("the key agent returned the wrong number of fields")
        out, pos = [], 0
        for item in items:
            n = len(item.fields)
            sealed = dict(zip(item.fields, flat[pos + 1 : pos + 1 + n], strict=True))
            out.append(keys.SealedRecord(item.table, item.record_id, flat[pos], sealed))
            pos += 1 + n
        return out

    def seal_records_flat(self, counts: Sequence[int], flat: Sequence[bytes]) -> list[bytes]:
        """:meth:`seal_records` for a caller that builds the request itself (the bulk import, whose
        per-record objects cost more than the sealing): per record the table and id, then the name and
        value of each of its ``counts[i]`` fields, all encoded. Returns per record the wrapped key, then
        the ciphertexts in the request's field order."""
        if not counts:
            return []
        _, reply = self.call_blobs("seal_records_raw", [_pack_ints(counts), *_pack(flat)])
        out = _unpack(reply)
        if len(out) != len(counts) + sum(counts):
            raise ProtocolError("the key agent returned the wrong number of fields")
        return out

    def open_records(self, items: Sequence[keys.SealedRecord]) -> list[dict[str, bytes]]:
        if not items:
            return []
        _, reply = self.call_blobs("open_records_raw", _sealed_pack(items))
        flat = _unpack(reply)
        if len(flat) != sum(len(i.fields) for i in items):
            raise ProtocolError("the key agent returned the wrong number of fields")
        out, pos = [], 0
        for item in items:
            n = len(item.fields)
            out.append(dict(zip(item.fields, flat[pos : pos + n], strict=True)))
            pos += n
        return out

    def blind_index(self, purpose: str, values: Sequence[str], *, version: int | None = None) -> list[int]:
        if not values:
            return []
        _, reply = self.call_blobs(
            "blind_index_raw", _pack([v.encode() for v in values]), purpose=purpose, version=version
        )
        indexes = _unpack_ints(reply[0]) if reply else []
        if len(indexes) != len(values):
            raise ProtocolError("the key agent returned the wrong number of index values")
        return indexes

    def sign(self, messages: Sequence[bytes]) -> tuple[int, list[bytes]]:
        version, sigs = self.call("sign", messages=[_b(m) for m in messages])
        return int(version), [_unb(s) for s in sigs]

    def rewrap(self, items: Sequence[keys.SealedRecord]) -> list[bytes]:
        bare = [keys.SealedRecord(i.table, i.record_id, i.wrapped_dek) for i in items]
        return [_unb(w) for w in self.call("rewrap", items=_sealed_out(bare))]

    def reencrypt(self, items: Sequence[keys.SealedRecord]) -> list[keys.SealedRecord]:
        return _sealed_in(self.call("reencrypt", items=_sealed_out(items)))

    def vault_seal_chunks(
        self,
        item_id: str,
        wrapped_key: bytes | None,
        first_index: int,
        chunks: Sequence[bytes],
        *,
        final: bool,
    ) -> tuple[bytes, list[bytes]]:
        wrapped = None if wrapped_key is None else _b(wrapped_key)
        result, sealed = self.call_blobs(
            "vault_seal_chunks",
            chunks,
            item_id=item_id,
            wrapped_key=wrapped,
            first_index=first_index,
            final=final,
        )
        if len(sealed) != len(chunks):
            raise ProtocolError("the key agent returned the wrong number of chunks")
        return _unb(result), sealed

    def vault_open_chunks(
        self, item_id: str, wrapped_key: bytes, first_index: int, blobs: Sequence[bytes], *, last_index: int
    ) -> list[bytes]:
        _, plain = self.call_blobs(
            "vault_open_chunks",
            blobs,
            item_id=item_id,
            wrapped_key=_b(wrapped_key),
            first_index=first_index,
            last_index=last_index,
        )
        if len(plain) != len(blobs):
            raise ProtocolError("the key agent returned the wrong number of chunks")
        return plain

    def vault_ingest_fds(
        self, item_id: str, source_fd: int, dest_fd: int, *, chunk_bytes: int
    ) -> tuple[bytes, vault.SealedStream]:
        """Have the agent seal the file open at ``source_fd`` (from its current offset to its end) into the
        empty file ``dest_fd``, fsynced; returns the item's wrapped data key and what was written."""
        result = self.call_fds(
            "vault_ingest_fds", (source_fd, dest_fd), item_id=item_id, chunk_bytes=chunk_bytes
        )
        stream = vault.SealedStream(
            size=int(result["size"]),
            sha256=str(result["sha256"]),
            chunk_sha256=tuple(str(h) for h in result["chunk_sha256"]),
        )
        return _unb(result["wrapped_key"]), stream

    def intake_identity_unlock(
        self, user_id: str, sealed_secret: bytes, passphrase: str, *, seconds: float | None = None
    ) -> float:
        """Unlock a triage user's intake identity inside the agent; returns the seconds it stays open."""
        result = self.call(
            "intake_identity_unlock",
            user_id=user_id,
            sealed_secret=_b(sealed_secret),
            passphrase=passphrase,
            seconds=seconds,
        )
        return float(result)

    def intake_open(self, user_id: str, sealed: Sequence[bytes]) -> list[bytes]:
        """Open age-sealed intake blobs with ``user_id``'s unlocked identity (it stays in the agent)."""
        if not sealed:
            return []
        _, plain = self.call_blobs("intake_open", sealed, user_id=user_id)
        if len(plain) != len(sealed):
            raise ProtocolError("the key agent returned the wrong number of blobs")
        return plain

    def intake_identity_lock(self, user_id: str | None = None) -> None:
        self.call("intake_identity_lock", user_id=user_id)

    def intake_identity_remaining(self, user_id: str) -> float:
        return float(self.call("intake_identity_remaining", user_id=user_id))

    def rotation_begin(self) -> keys.RotationState:
        current, live, resumed = self.call("rotation_begin")
        return keys.RotationState(int(current), tuple(int(v) for v in live), bool(resumed))

    def rotation_finish(self, in_use: Iterable[int]) -> tuple[int, ...]:
        return tuple(int(v) for v in self.call("rotation_finish", in_use=sorted(in_use)))


# --- starting it -------------------------------------------------------------------------------------------


def spawn(
    keys_dir: Path,
    socket_path: Path,
    *,
    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
    max_lifetime: float | None = DEFAULT_MAX_LIFETIME,
    demo_key_file: Path | None = None,
    log_file: Path | None = None,
    detach: bool = False,
    timeout: float = 15.0,
) -> subprocess.Popen[bytes]:
    """Start the agent as a separate process and return once it answers on ``socket_path``.

    ``detach`` puts it in its own session so it outlives the caller (``kartoteka agent start``). Nothing
    secret goes on its command line.
    """
    socket_path_check(socket_path)
    if _socket_answers(socket_path):
        raise AgentError("another key agent already answers on this socket")
    cmd = [
        sys.executable,
        "-m",
        "kartoteka.lib.agent",
        "--keys-dir",
        str(keys_dir),
        "--socket",
        str(socket_path),
    ]
    cmd += ["--idle-timeout", str(idle_timeout or 0), "--max-lifetime", str(max_lifetime or 0)]
    if demo_key_file is not None:
        cmd += ["--demo-key-file", str(demo_key_file)]
    err: Any = subprocess.DEVNULL
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        err = os.fdopen(os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, keys.FILE_MODE), "ab")
    try:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, start_new_session=detach
        )
    finally:
        if log_file is not None:
            err.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise AgentError(f"the key agent exited at start with code {code} (see its log)")
        try:
            with AgentClient(socket_path, timeout=2.0) as client:
                if client.status().get("pid") == proc.pid:
                    return proc
        except AgentUnavailableError:
            pass
        time.sleep(0.05)
    proc.terminate()
    proc.wait(5)
    raise AgentError("the key agent did not answer in time")


def stop(socket_path: Path, *, timeout: float = 10.0) -> None:
    """Ask the agent to lock and exit, and wait until its socket is gone."""
    with AgentClient(socket_path, timeout=timeout) as client:
        client.shutdown()
    deadline = time.monotonic() + timeout
    while socket_path.exists():
        if time.monotonic() > deadline:
            raise AgentError("the key agent did not exit in time")
        time.sleep(0.05)


def _seconds(text: str) -> float | None:
    value = float(text)
    return value if value > 0 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kartoteka.lib.agent", description="Run the key agent.")
    parser.add_argument("--keys-dir", type=Path, required=True)
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument(
        "--idle-timeout", type=_seconds, default=DEFAULT_IDLE_TIMEOUT, help="seconds; 0 = never"
    )
    parser.add_argument(
        "--max-lifetime", type=_seconds, default=DEFAULT_MAX_LIFETIME, help="seconds; 0 = never"
    )
    parser.add_argument("--demo-key-file", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s kartoteka-agent %(levelname)s %(message)s")
    try:
        serve(
            args.keys_dir,
            args.socket,
            idle_timeout=args.idle_timeout,
            max_lifetime=args.max_lifetime,
            demo_key_file=args.demo_key_file,
        )
    except (keys.KeysError, AgentError) as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
