"""Keys of the public intake: reporters' codenames, triage users' age identities, and the agent's holder.

* A **codename** (a few random words, shown once to the reporter) is stretched once with Argon2id; from
  the result HKDF gives two independent values: a lookup **tag** (the only thing the server stores about
  the codename) and a **reply key** that wraps the secret of the reporter's own age identity. Staff replies
  are sealed to that identity's public recipient, so the server cannot read a reply without the codename.
  The Argon2id salt is fixed per format, not per row: a per-row salt would force one Argon2id run per
  stored row at every return visit (a denial-of-service lever); the codename's entropy (7 words) is what
  defeats guessing, and the stretch makes each guess cost.
* A **triage identity** is an age X25519 identity per triage user. Its secret is stored only wrapped under
  a key stretched from that user's passphrase (Argon2id, RFC 9106 cost) and is unwrapped *inside the key
  agent* (:class:`IdentityHolder`) for a limited time: web workers send sealed submissions in and get
  plaintext out, never the secret.

Every primitive is a call into :mod:`kartoteka.lib.crypto`. No Django here.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from kartoteka.lib import crypto, keys

# 8 MiB, 1 pass: about 15 ms here, paid at every submission and every return visit, so a public host on two
# cores keeps up with a steady 20 submissions/s. Lighter than a passphrase's stretch on purpose: a codename
# is 7 random words of ~1,000 (~70 bits), so an offline guesser with a seized database still faces ~2^69
# memory-hard guesses on average; the stretch only adds to that.
CODENAME_PARAMS = crypto.PassphraseParams(
    salt=b"kartoteka/intake-codename/v1", iterations=1, memory_kib=8 * 1024, lanes=1
)
CODENAME_MIN_WORDS = 5
DEFAULT_UNLOCK_SECONDS = 30 * 60.0
MAX_UNLOCK_SECONDS = 8 * 3600.0
_TRIAGE_FORMAT = 1


@dataclass(frozen=True)
class CodenameKeys:
    """What a codename opens: the stored lookup tag and the key wrapping the reply identity's secret."""

    tag: bytes
    reply_key: bytes


def codename_normalise(codename: str) -> str:
    """Case, spacing, hyphens and ё/е do not matter when typing the codename back."""
    text = unicodedata.normalize("NFC", codename).lower().replace("ё", "е").replace("-", " ")
    return " ".join(text.split())


def codename_keys(codename: str) -> CodenameKeys:
    normal = codename_normalise(codename)
    if len(normal.split()) < CODENAME_MIN_WORDS:
        raise crypto.CryptoError("a codename has more words")
    stretched = crypto.passphrase_key(normal, CODENAME_PARAMS)
    return CodenameKeys(
        tag=crypto.derive_key(stretched, "intake/codename-tag"),
        reply_key=crypto.derive_key(stretched, "intake/reply-key"),
    )


def _reply_context(reporter_id: str) -> bytes:
    return b"intake-reply-identity:" + reporter_id.encode()


def reply_secret_wrap(reply_key: bytes, reporter_id: str, secret: str) -> bytes:
    return crypto.key_wrap(reply_key, secret.encode("ascii"), context=_reply_context(reporter_id))


def reply_secret_unwrap(reply_key: bytes, reporter_id: str, wrapped: bytes) -> str:
    return crypto.key_unwrap(reply_key, wrapped, context=_reply_context(reporter_id)).decode("ascii")


# --- triage identities ---------------------------------------------------------------------------------


def _triage_context(user_id: str) -> bytes:
    return b"intake-triage-identity:" + user_id.encode()


def triage_secret_wrap(
    user_id: str, secret: str, passphrase: str, *, params: crypto.PassphraseParams | None = None
) -> bytes:
    """The identity secret wrapped under the user's passphrase, as a self-describing blob (JSON)."""
    keys.passphrase_check(passphrase)
    params = params or crypto.PassphraseParams.new()
    kek = bytearray(crypto.passphrase_key(passphrase, params))
    try:
        wrapped = crypto.key_wrap(bytes(kek), secret.encode("ascii"), context=_triage_context(user_id))
    finally:
        keys.wipe(kek)
    obj = {
        "format": _TRIAGE_FORMAT,
        "salt": base64.b64encode(params.salt).decode(),
        "iterations": params.iterations,
        "memory_kib": params.memory_kib,
        "lanes": params.lanes,
        "wrapped": base64.b64encode(wrapped).decode(),
    }
    return json.dumps(obj, sort_keys=True).encode()


def triage_secret_unwrap(user_id: str, blob: bytes, passphrase: str) -> str:
    """The identity secret, or :class:`keys.UnlockError` (wrong passphrase and damaged blob alike)."""
    try:
        obj = json.loads(blob)
        if obj.get("format") != _TRIAGE_FORMAT:
            raise ValueError
        params = crypto.PassphraseParams(
            salt=base64.b64decode(obj["salt"], validate=True),
            iterations=int(obj["iterations"]),
            memory_kib=int(obj["memory_kib"]),
            lanes=int(obj["lanes"]),
        )
        wrapped = base64.b64decode(obj["wrapped"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise keys.UnlockError("cannot unlock the triage key: malformed") from None
    if not passphrase:
        raise keys.UnlockError("cannot unlock the triage key: wrong passphrase")
    kek = bytearray(crypto.passphrase_key(passphrase, params))
    try:
        secret = crypto.key_unwrap(bytes(kek), wrapped, context=_triage_context(user_id))
    except crypto.CryptoError:
        raise keys.UnlockError("cannot unlock the triage key: wrong passphrase") from None
    finally:
        keys.wipe(kek)
    return secret.decode("ascii")


class IdentityHolder:
    """Unlocked triage identities inside the key agent, each until its own deadline (monotonic clock).

    Python strings cannot be overwritten, so dropping an identity drops the reference only (threat model
    §7); the deadline bounds how long a seized, running agent can open submissions.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, tuple[str, float]] = {}

    def unlock(self, user_id: str, sealed_secret: bytes, passphrase: str, *, seconds: float) -> float:
        """Unwrap and hold ``user_id``'s identity for ``seconds``; returns the seconds granted."""
        seconds = min(max(float(seconds), 1.0), MAX_UNLOCK_SECONDS)
        secret = triage_secret_unwrap(user_id, sealed_secret, passphrase)  # slow: outside the lock
        crypto.identity_from_secret(secret)
        with self._lock:
            self._held[user_id] = (secret, time.monotonic() + seconds)
        return seconds

    def _secret(self, user_id: str) -> str:
        with self._lock:
            entry = self._held.get(user_id)
            if entry is None or entry[1] <= time.monotonic():
                self._held.pop(user_id, None)
                raise keys.LockedError("the triage key is locked; unlock it with your passphrase")
            return entry[0]

    def open(self, user_id: str, sealed: Sequence[bytes]) -> list[bytes]:
        secret = self._secret(user_id)
        return [crypto.unseal(blob, secret) for blob in sealed]

    def remaining(self, user_id: str) -> float:
        with self._lock:
            entry = self._held.get(user_id)
        return max(0.0, entry[1] - time.monotonic()) if entry else 0.0

    def lock(self, user_id: str | None = None) -> None:
        with self._lock:
            if user_id is None:
                self._held.clear()
            else:
                self._held.pop(user_id, None)

    def purge(self) -> None:
        now = time.monotonic()
        with self._lock:
            for uid in [u for u, (_, deadline) in self._held.items() if deadline <= now]:
                del self._held[uid]
