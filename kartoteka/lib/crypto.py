"""The one door to the cryptography libraries.

Nothing else in Kartoteka imports ``cryptography`` or ``pyrage``: every primitive the project uses is an
intent-named function here, so a reviewer audits one file, and a change of library touches one file.
No Django here.

Formats are versioned by a leading byte so a later change of algorithm can coexist with stored data.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

import pyrage
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pyrage import x25519

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
# 64 bits, stored as a signed BIGINT; docs/blind-indexes.md weighs the leakage trade-off.
BLIND_INDEX_BYTES = 8

_FIELD_FORMAT = 1
_WRAP_FORMAT = 1
_FIELD_HEADER = struct.Struct(">BI")  # format byte, key version


class CryptoError(Exception):
    """Base class: every failure of this module is one of these, never a library's own exception."""


class IntegrityError(CryptoError):
    """Authenticated decryption or a signature check failed: tampered, moved, truncated or wrong key."""


class MalformedError(CryptoError):
    """The bytes are not in a format this module wrote."""


# --- randomness and ids -------------------------------------------------------------------------------


def random_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def random_keys(count: int) -> list[bytes]:
    """``count`` keys as :func:`random_key` gives them, from one read of the system's random source."""
    pool = secrets.token_bytes(KEY_BYTES * count)
    return [pool[i : i + KEY_BYTES] for i in range(0, KEY_BYTES * count, KEY_BYTES)]


def record_id_new() -> uuid.UUID:
    """A random, index-friendly id (UUIDv7 layout: 48-bit ms time prefix, 74 random bits).

    Never sequential, so ids reveal no counts; the time prefix keeps B-tree inserts local. Where even the
    creation time must not show (public intake), use :func:`opaque_id_new`.
    """
    return record_ids_new(1)[0]


def record_ids_new(count: int) -> list[uuid.UUID]:
    """``count`` ids as :func:`record_id_new` gives them, from one read of the system's random source
    (a bulk import makes three ids per row)."""
    return [uuid.UUID(int=i) for i in record_id_ints(count)]


def record_id_ints(count: int, *, ascending: bool = False) -> list[int]:
    """:func:`record_ids_new` as 128-bit integers (a bulk import formats them itself, for its database).

    ``ascending`` sorts them: a batch inserted in that order appends to every B-tree keyed by its ids
    instead of landing at random places among the batch's own (the time prefix already orders batches).
    The order they show is the order of insertion, which a rowid or ``created_at`` shows as well.
    """
    ms = time.time_ns() // 1_000_000
    prefix = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | 0b10 << 62  # time, version 7, RFC 4122 variant
    pool = secrets.token_bytes(10 * count)
    # rand_a (12 bits) above the variant, rand_b (62 bits) below it
    out = [
        prefix | ((rand := int.from_bytes(pool[i : i + 10], "big")) >> 62 & 0xFFF) << 64 | rand & _RAND_B
        for i in range(0, 10 * count, 10)
    ]
    if ascending:
        out.sort()
    return out


_RAND_B = (1 << 62) - 1


def opaque_id_new() -> uuid.UUID:
    """A fully random id (UUIDv4) that carries no time."""
    return uuid.uuid4()


# --- key derivation -----------------------------------------------------------------------------------


def derive_key(root: bytes, purpose: str, *, length: int = KEY_BYTES) -> bytes:
    """HKDF-SHA256 of ``root`` for one named purpose; different purposes give independent keys."""
    _require_key(root)
    hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=b"kartoteka/v1/" + purpose.encode())
    return hkdf.derive(root)


@dataclass(frozen=True)
class PassphraseParams:
    """Argon2id cost. The defaults follow RFC 9106's second recommended option (64 MiB, 3 passes)."""

    salt: bytes
    iterations: int = 3
    memory_kib: int = 64 * 1024
    lanes: int = 4

    @classmethod
    def new(cls, *, iterations: int = 3, memory_kib: int = 64 * 1024, lanes: int = 4) -> PassphraseParams:
        return cls(salt=secrets.token_bytes(16), iterations=iterations, memory_kib=memory_kib, lanes=lanes)


def passphrase_key(passphrase: str, params: PassphraseParams) -> bytes:
    """Stretch a human passphrase into a key-wrapping key with Argon2id."""
    if not passphrase:
        raise CryptoError("empty passphrase")
    kdf = Argon2id(
        salt=params.salt,
        length=KEY_BYTES,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    )
    return kdf.derive(passphrase.encode("utf-8"))


# --- authenticated encryption of fields and keys ---------------------------------------------------------


@dataclass(frozen=True)
class FieldContext:
    """Where a ciphertext belongs. Bound as associated data: moved elsewhere, it fails to decrypt."""

    table: str
    record_id: str
    field: str

    def associated_data(self, key_version: int) -> bytes:
        before, after = _field_aad_frame(self.table, self.record_id, key_version)
        return before + self.field.encode() + after


def _field_aad_frame(table: str, record_id: str, key_version: int) -> tuple[bytes, bytes]:
    """A record's field associated data around the field's name (:meth:`FieldContext.associated_data`), in
    two parts, so sealing many fields of one record builds them once."""
    return b"\x1f".join((b"kartoteka-field", table.encode(), record_id.encode(), b"")), struct.pack(
        ">I", key_version
    )


def field_encrypt(key: bytes, plaintext: bytes, context: FieldContext, *, key_version: int) -> bytes:
    """AES-256-GCM; output = format byte, key version, nonce, ciphertext and tag."""
    fields = {context.field: plaintext}
    return fields_encrypt(key, fields, context.table, context.record_id, key_version=key_version)[
        context.field
    ]


def field_key_version(blob: bytes) -> int:
    """The key version a field ciphertext was written under, read without decrypting."""
    if len(blob) < _FIELD_HEADER.size + NONCE_BYTES + TAG_BYTES:
        raise MalformedError("ciphertext too short")
    fmt, version = _FIELD_HEADER.unpack_from(blob)
    if fmt != _FIELD_FORMAT:
        raise MalformedError(f"unknown field format {fmt}")
    return int(version)


def field_decrypt(key: bytes, blob: bytes, context: FieldContext) -> bytes:
    return fields_decrypt(key, {context.field: blob}, context.table, context.record_id)[context.field]


def fields_encrypt(
    key: bytes, fields: Mapping[str, bytes], table: str, record_id: str, *, key_version: int
) -> dict[str, bytes]:
    """:func:`field_encrypt` of each of one record's fields under its data key, with one cipher set-up
    (the set-up costs more than encrypting a short name)."""
    names = list(fields)
    sealed = fields_encrypt_pairs(
        key, [(n.encode(), fields[n]) for n in names], table, record_id, key_version=key_version
    )
    return dict(zip(names, sealed, strict=True))


def fields_encrypt_pairs(
    key: bytes, pairs: Sequence[tuple[bytes, bytes]], table: str, record_id: str, *, key_version: int
) -> list[bytes]:
    """:func:`fields_encrypt` over (encoded field name, plaintext) pairs, ciphertexts in their order: the
    bulk import's sealing reads names off the wire already encoded and needs no dictionary per record."""
    _require_key(key)
    if not pairs:
        return []
    header = _FIELD_HEADER.pack(_FIELD_FORMAT, key_version)
    aead = AESGCM(key)
    nonces = secrets.token_bytes(NONCE_BYTES * len(pairs))
    out = []
    # The frame once per record, not a FieldContext per field: the bulk import seals a million records here.
    before, after = _field_aad_frame(table, record_id, key_version)
    head = header + before
    for i, (name, plaintext) in enumerate(pairs):
        nonce = nonces[i * NONCE_BYTES : (i + 1) * NONCE_BYTES]
        out.append(header + nonce + aead.encrypt(nonce, plaintext, head + name + after))
    return out


def fields_decrypt(key: bytes, blobs: Mapping[str, bytes], table: str, record_id: str) -> dict[str, bytes]:
    """:func:`field_decrypt` of each of one record's fields, with one cipher set-up."""
    _require_key(key)
    if not blobs:
        return {}
    aead = AESGCM(key)
    out = {}
    for name, blob in blobs.items():
        context = FieldContext(table, record_id, name)
        version = field_key_version(blob)
        header = blob[: _FIELD_HEADER.size]
        nonce = blob[_FIELD_HEADER.size : _FIELD_HEADER.size + NONCE_BYTES]
        try:
            out[name] = aead.decrypt(
                nonce, blob[_FIELD_HEADER.size + NONCE_BYTES :], header + context.associated_data(version)
            )
        except InvalidTag:
            raise IntegrityError(
                f"cannot decrypt {table}.{name} of {record_id}: "
                "tampered, moved from another record or field, or wrong key"
            ) from None
    return out


class KeyWrapper:
    """:func:`key_wrap` / :func:`key_unwrap` under one key-encrypting key, set up once for many keys (a
    batch of records each with its own data key). Holds the cipher, not a copy the caller could wipe:
    drop it when the key is wiped."""

    __slots__ = ("_aead",)

    def __init__(self, kek: bytes) -> None:
        _require_key(kek)
        self._aead = AESGCM(kek)

    def wrap(self, key: bytes, *, context: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return bytes([_WRAP_FORMAT]) + nonce + self._aead.encrypt(nonce, key, b"kartoteka-wrap\x1f" + context)

    def unwrap(self, wrapped: bytes, *, context: bytes) -> bytes:
        if len(wrapped) < 1 + NONCE_BYTES + TAG_BYTES or wrapped[0] != _WRAP_FORMAT:
            raise MalformedError("not a wrapped key")
        nonce, body = wrapped[1 : 1 + NONCE_BYTES], wrapped[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, b"kartoteka-wrap\x1f" + context)
        except InvalidTag:
            raise IntegrityError("cannot unwrap key: wrong key, wrong context or tampered") from None


def key_wrap(kek: bytes, key: bytes, *, context: bytes) -> bytes:
    """Encrypt a key under a key-encrypting key, bound to ``context`` (e.g. the slot or record id)."""
    return KeyWrapper(kek).wrap(key, context=context)


def key_unwrap(kek: bytes, wrapped: bytes, *, context: bytes) -> bytes:
    return KeyWrapper(kek).unwrap(wrapped, context=context)


def chunk_encrypt(key: bytes, chunk: bytes, *, associated_data: bytes) -> bytes:
    """One chunk of a chunked stream (evidence files): nonce + ciphertext + tag."""
    _require_key(key)
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, chunk, associated_data)


class ChunkSealer:
    """:func:`chunk_encrypt` under one key for every chunk of a stream, written straight into the caller's
    buffer: a gigabyte of evidence then costs no per-chunk cipher set-up and no copy of each sealed chunk.
    Holds the cipher, not a copy of the key; drop it when the key is wiped."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        _require_key(key)
        self._aead = AESGCM(key)

    def seal_into(self, chunk: bytes | memoryview, out: memoryview, *, associated_data: bytes) -> int:
        """Write nonce + ciphertext + tag (the :func:`chunk_encrypt` format) to the start of ``out``;
        returns the number of bytes written, ``len(chunk) + NONCE_BYTES + TAG_BYTES``."""
        length = NONCE_BYTES + len(chunk) + TAG_BYTES
        if len(out) < length:
            raise CryptoError("the output buffer is too small for the sealed chunk")
        nonce = secrets.token_bytes(NONCE_BYTES)
        out[:NONCE_BYTES] = nonce
        self._aead.encrypt_into(nonce, chunk, associated_data, out[NONCE_BYTES:length])
        return length


def chunk_decrypt(key: bytes, blob: bytes, *, associated_data: bytes) -> bytes:
    _require_key(key)
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data)
    except InvalidTag:
        raise IntegrityError("chunk failed authentication: tampered, reordered or wrong key") from None


# --- blind indexes ---------------------------------------------------------------------------------------


def blind_index(key: bytes, value: str) -> int:
    """A truncated keyed hash (HMAC-SHA256 → 64 bits, signed) of an already-normalised value.

    Equal inputs give equal outputs under one key, so it supports exact lookup and nothing else.
    """
    _require_key(key)
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:BLIND_INDEX_BYTES], "big", signed=True)


def blind_indexer(key: bytes) -> Callable[[str], int]:
    """:func:`blind_index` under one key, for many values: the keyed HMAC state is computed once and
    copied per value, which halves the cost of a batch of short terms."""
    _require_key(key)
    keyed = hmac.new(key, digestmod=hashlib.sha256)

    def index(value: str) -> int:
        h = keyed.copy()
        h.update(value.encode("utf-8"))
        return int.from_bytes(h.digest()[:BLIND_INDEX_BYTES], "big", signed=True)

    return index


# --- signatures ------------------------------------------------------------------------------------------


def signing_public_key(seed: bytes) -> bytes:
    """The Ed25519 public key (32 raw bytes) for a 32-byte signing seed."""
    _require_key(seed)
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign(seed: bytes, message: bytes) -> bytes:
    _require_key(seed)
    return Ed25519PrivateKey.from_private_bytes(seed).sign(message)


def sign_many(seed: bytes, messages: Sequence[bytes]) -> list[bytes]:
    """Sign a batch with one key set-up; the set-up costs about as much as a signature."""
    _require_key(seed)
    key = Ed25519PrivateKey.from_private_bytes(seed)
    return [key.sign(m) for m in messages]


def signature_verify(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Raise :class:`IntegrityError` unless ``signature`` is valid for ``message``."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        raise IntegrityError("signature does not verify") from None


# --- hashing ---------------------------------------------------------------------------------------------


def digest(data: bytes | bytearray | memoryview) -> bytes:
    return hashlib.sha256(data).digest()


def digest_stream() -> hashlib._Hash:
    """An incremental SHA-256 (``update``/``hexdigest``) for data read in pieces."""
    return hashlib.sha256()


def equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison of secrets and MACs."""
    return hmac.compare_digest(a, b)


# --- sealing to public keys (age, X25519) ------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """An age X25519 identity: ``secret`` opens, ``recipient`` (public) seals."""

    secret: str
    recipient: str


def identity_new() -> Identity:
    ident = x25519.Identity.generate()
    return Identity(secret=str(ident), recipient=str(ident.to_public()))


def identity_from_secret(secret: str) -> Identity:
    try:
        ident = x25519.Identity.from_str(secret.strip())
    except Exception as exc:  # pyrage raises its own IdentityError or ValueError
        raise MalformedError("not an age secret key (AGE-SECRET-KEY-1…); check for typos") from exc
    return Identity(secret=str(ident), recipient=str(ident.to_public()))


def recipient_check(recipient: str) -> str:
    """Validate a public recipient string (age1…) and return it normalised."""
    try:
        return str(x25519.Recipient.from_str(recipient.strip()))
    except Exception as exc:
        raise MalformedError(f"not an age recipient: {recipient[:12]}…") from exc


def seal(data: bytes, recipients: list[str]) -> bytes:
    """Encrypt to public recipients. The sealer keeps no ability to open what it sealed."""
    if not recipients:
        raise CryptoError("no recipients to seal to")
    parsed = [x25519.Recipient.from_str(r) for r in recipients]
    return bytes(pyrage.encrypt(data, parsed))


def unseal(data: bytes, secret: str) -> bytes:
    try:
        ident = x25519.Identity.from_str(secret.strip())
    except Exception as exc:
        raise MalformedError("not an age secret key") from exc
    try:
        return bytes(pyrage.decrypt(data, [ident]))
    except pyrage.DecryptError:
        raise IntegrityError("sealed data cannot be opened with this identity, or was tampered") from None


class _StreamSide:
    """A caller's reader or writer handed to pyrage, remembering the caller's own failure, so that it is
    raised as itself and not mistaken for (or hidden behind) a cryptographic one."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.error: BaseException | None = None
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        try:
            data = self.stream.read(n)
        except BaseException as exc:
            self.error = exc
            raise
        self.count += len(data)
        return data

    def write(self, data: bytes) -> int:
        try:
            self.stream.write(data)
        except BaseException as exc:
            self.error = exc
            raise
        self.count += len(data)
        return len(data)

    def flush(self) -> None:
        self.stream.flush()


def seal_stream(source: IO[bytes], dest: IO[bytes], recipients: list[str]) -> int:
    """:func:`seal` for data of any size, in constant memory: age's STREAM reads ``source`` and writes
    ``dest`` piece by piece, each 64 KiB piece authenticated and the last one marked as last, so a cut,
    reordered or altered file fails to open. Returns the number of plaintext bytes sealed. The end of
    ``source`` is the end of the data: a producer that fails must make its caller discard ``dest``."""
    if not recipients:
        raise CryptoError("no recipients to seal to")
    parsed = [x25519.Recipient.from_str(recipient_check(r)) for r in recipients]
    reader = _StreamSide(source)
    try:
        pyrage.encrypt_io(reader, dest, parsed)
    except Exception as exc:
        if reader.error is not None:
            raise reader.error from None
        if isinstance(exc, pyrage.EncryptError):
            raise CryptoError("sealing failed") from None
        raise
    return reader.count


def unseal_stream(source: IO[bytes], dest: IO[bytes], secret: str) -> int:
    """The reverse of :func:`seal_stream`; returns the number of plaintext bytes written. Raises
    :class:`IntegrityError` at the first piece that fails authentication, or at the end when the last
    piece is missing: what was written to ``dest`` before that is unauthenticated and must be discarded."""
    try:
        ident = x25519.Identity.from_str(secret.strip())
    except Exception as exc:
        raise MalformedError("not an age secret key") from exc
    writer = _StreamSide(dest)
    try:
        pyrage.decrypt_io(source, writer, [ident])
    except pyrage.DecryptError:
        raise IntegrityError(
            "cannot open: not sealed to this identity, or its header was altered or is not age"
        ) from None
    except Exception:
        if writer.error is not None:
            raise writer.error from None
        # pyrage reports a failed piece as an OSError("decryption error")
        raise IntegrityError(
            f"authentication failed after {writer.count} good bytes: the data was altered or cut short"
        ) from None
    return writer.count


# --- helpers ---------------------------------------------------------------------------------------------


def _require_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
        raise CryptoError("a key must be 32 bytes")
