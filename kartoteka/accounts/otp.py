"""The second factor: TOTP devices and one-time recovery codes, their secrets sealed by the key agent.

The TOTP seed is sealed like any other field (kartoteka.core.sealing: a per-row data key, the ciphertext
bound to table ``accounts.sealedtotpdevice``, the row's id and field ``key``), so a copy of the database
holds no seed and a ciphertext moved to another row does not open. The seed is opened in memory only to
check a code; in clear it exists only in the enrolment response (QR code and typed secret).

Recovery codes are stored as keyed hashes (HMAC-SHA256, 64 bits kept) under a random per-user key that
is itself sealed (``accounts.recoverycodedevice``, field ``pepper``): without the agent a guess cannot
be tested. The agent's blind-index keys would do the same but are replaced at key rotation, which must
recompute every value from its plaintext; a hash of a code cannot be recomputed, a sealed key is simply
re-wrapped.

A TOTP code is accepted once: the device keeps the last accepted time step (``last_t``) and accepts only
later steps. A recovery code's row is deleted when used. Both devices throttle failures (exponential).
Enrolment is possible only while the user has no confirmed TOTP device, so a stolen password alone
cannot add a second authenticator. With the agent locked or gone nothing can be checked and nothing is
written: :class:`SecondFactorUnavailable` says so, and the login page says it in words.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from base64 import b32encode
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import segno
from django.conf import settings
from django.db import transaction
from django_otp.models import Device
from django_otp.oath import TOTP

from kartoteka.accounts.models import RecoveryCode, RecoveryCodeDevice, SealedTOTPDevice, User
from kartoteka.audit.services import entry_append
from kartoteka.core import sealing
from kartoteka.lib import crypto, keys
from kartoteka.lib.agent import AgentUnavailableError

RECOVERY_CODES = 10
RECOVERY_CODE_CHARS = 12  # base32: 60 bits, typed in groups of four
SEED_BYTES = 20  # RFC 4226's recommended 160 bits for HMAC-SHA1
TOTP_TABLE = "accounts.sealedtotpdevice"
RECOVERY_TABLE = "accounts.recoverycodedevice"
_TOTP_CODE = re.compile(r"[0-9]{6}")
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_RECOVERY_CODE = re.compile(f"[{_BASE32}]{{{RECOVERY_CODE_CHARS}}}")

log = logging.getLogger("kartoteka.accounts")


class SecondFactorUnavailable(Exception):
    """The key agent is locked or not answering, so no code can be checked (or seed sealed) now."""


class ReenrolmentNeeded(Exception):
    """The user's only authenticator was stored before seeds were sealed: an admin must reset it."""


@dataclass(frozen=True)
class Enrolment:
    """A pending device and its seed in clear: lives for one response only, never stored."""

    device: SealedTOTPDevice
    seed: bytes


# --- the agent -------------------------------------------------------------------------------------------


def _seal(*, table: str, record_id: int, field: str, value: bytes) -> tuple[bytes, bytes]:
    record = keys.PlainRecord(table, str(record_id), {field: value})
    try:
        (sealed,) = sealing.client().seal_records([record])
    except (keys.LockedError, AgentUnavailableError) as exc:
        raise SecondFactorUnavailable from exc
    return sealed.wrapped_dek, sealed.fields[field]


def _open(
    *, table: str, record_id: int, wrapped: bytes | memoryview, field: str, blob: bytes | memoryview
) -> bytes | None:
    """The plaintext, or None if the ciphertext does not belong to this row (moved or tampered)."""
    record = keys.SealedRecord(table, str(record_id), bytes(wrapped), {field: bytes(blob)})
    try:
        (opened,) = sealing.client().open_records([record])
    except (keys.LockedError, AgentUnavailableError) as exc:
        raise SecondFactorUnavailable from exc
    except crypto.IntegrityError:
        log.warning("second-factor secret of %s %s does not open: moved or tampered", table, record_id)
        return None
    return opened[field]


# --- TOTP ------------------------------------------------------------------------------------------------


def has_device(user: User) -> bool:
    found: bool = SealedTOTPDevice.objects.filter(user=user, confirmed=True).exists()
    return found


def is_verified(user: object) -> bool:
    """Did this request's user pass the second factor? (django-otp's middleware attaches is_verified.)"""
    check = getattr(user, "is_verified", None)
    return bool(check()) if callable(check) else False


def _seed(device: SealedTOTPDevice) -> bytes | None:
    if not device.sealed:
        return None
    return _open(
        table=TOTP_TABLE,
        record_id=device.pk,
        wrapped=device.wrapped_key,
        field="key",
        blob=device.key_enc,
    )


def _totp_match(*, device: SealedTOTPDevice, seed: bytes, code: str) -> TOTP | None:
    totp = TOTP(seed, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return totp if totp.verify(int(code), device.tolerance, device.last_t + 1) else None


def totp_verify(*, device: SealedTOTPDevice, code: str) -> bool:
    """Check ``code`` against a (locked-for-update) device; on success the step is used up."""
    if not device.verify_is_allowed()[0] or not _TOTP_CODE.fullmatch(code):
        return False
    seed = _seed(device)  # raises SecondFactorUnavailable before anything is written
    totp = None if seed is None else _totp_match(device=device, seed=seed, code=code)
    if totp is None:
        device.throttle_increment(commit=True)
        return False
    device.last_t = totp.t()
    device.drift = totp.drift
    device.throttle_reset(commit=False)
    device.save(update_fields=["last_t", "drift", "throttling_failure_count", "throttling_failure_timestamp"])
    return True


def _totp_devices(user: User, *, confirmed: bool) -> list[SealedTOTPDevice]:
    return list(SealedTOTPDevice.objects.select_for_update().filter(user=user, confirmed=confirmed))


def code_verify(*, user: User, code: str) -> Device | None:
    """The confirmed device that accepts ``code`` (a TOTP code or a recovery code), or None.

    Raises :class:`SecondFactorUnavailable` when the agent cannot open the secrets, and
    :class:`ReenrolmentNeeded` for a six-digit code when the user's only authenticators were never sealed.
    """
    code = code.replace(" ", "").lower()
    with transaction.atomic():
        if not _TOTP_CODE.fullmatch(code):
            return _recovery_verify(user=user, code=code)
        devices = _totp_devices(user, confirmed=True)
        for device in devices:
            if totp_verify(device=device, code=code):
                return device
    if devices and not any(d.sealed for d in devices):
        raise ReenrolmentNeeded
    return None


# --- enrolment -------------------------------------------------------------------------------------------


def device_seal_new(*, user: User, name: str, confirmed: bool) -> Enrolment:
    """A new device with a fresh random seed, sealed in the same transaction that creates its row."""
    seed = secrets.token_bytes(SEED_BYTES)
    with transaction.atomic():
        device = SealedTOTPDevice.objects.create(user=user, name=name, confirmed=confirmed, wrapped_key=b"")
        device.wrapped_key, device.key_enc = _seal(
            table=TOTP_TABLE, record_id=device.pk, field="key", value=seed
        )
        device.save(update_fields=["wrapped_key", "key_enc"])
    return Enrolment(device=device, seed=seed)


def setup_begin(*, user: User) -> Enrolment:
    """A new, unconfirmed device; any earlier unconfirmed one is discarded, so a secret shows once."""
    if has_device(user):
        raise PermissionError("a confirmed device exists; enrolment is closed")
    with transaction.atomic():
        SealedTOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return device_seal_new(user=user, name="authenticator", confirmed=False)


def setup_secret(enrolment: Enrolment) -> str:
    """The base32 secret, grouped by four for typing into an app by hand."""
    raw = b32encode(enrolment.seed).decode("ascii").rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def config_url(enrolment: Enrolment) -> str:
    """The otpauth:// URL an authenticator app reads (Key Uri Format, as django-otp's TOTPDevice)."""
    device = enrolment.device
    issuer = str(getattr(settings, "OTP_TOTP_ISSUER", "")).replace(":", "")
    label = f"{issuer}:{device.user.get_username()}" if issuer else device.user.get_username()
    params = {
        "secret": b32encode(enrolment.seed).decode("ascii").rstrip("="),
        "algorithm": "SHA1",
        "digits": device.digits,
        "period": device.step,
    }
    query = urlencode(params) + (f"&issuer={quote(issuer)}" if issuer else "")
    return f"otpauth://totp/{quote(label)}?{query}"


def setup_qr_svg(enrolment: Enrolment) -> str:
    """The otpauth:// URL as an inline SVG (no external image, no script)."""
    svg: str = segno.make(config_url(enrolment), error="m").svg_inline(
        scale=5, border=2, dark="#000", light="#fff"
    )
    return svg


def setup_confirm(*, user: User, code: str) -> tuple[SealedTOTPDevice, list[str]] | None:
    """Confirm the pending device with a code from it; returns it and fresh recovery codes, or None."""
    if has_device(user):
        return None
    with transaction.atomic():
        pending = _totp_devices(user, confirmed=False)
        device = max(pending, key=lambda d: d.pk, default=None)
        if device is None or not totp_verify(device=device, code=code.replace(" ", "")):
            return None
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _recovery_codes_replace(user)
        entry_append(actor=str(user.id), action="otp.enrol", object_type="user", object_id=str(user.id))
    return device, codes


def devices_reset(*, user: User, actor: str) -> int:
    """Remove every second factor of ``user`` (a lost phone, or one stored before sealing), so the next
    sign-in enrols again. Returns how many devices went."""
    with transaction.atomic():
        removed = SealedTOTPDevice.objects.filter(user=user).delete()[1].get(SealedTOTPDevice._meta.label, 0)
        RecoveryCodeDevice.objects.filter(user=user).delete()
        entry_append(actor=actor, action="otp.reset", object_type="user", object_id=str(user.id))
    return removed


# --- recovery codes --------------------------------------------------------------------------------------


def _recovery_code_new() -> str:
    raw = "".join(secrets.choice(_BASE32) for _ in range(RECOVERY_CODE_CHARS))
    return " ".join(raw[i : i + 4] for i in range(0, RECOVERY_CODE_CHARS, 4))


def _recovery_digest(pepper: bytes, code: str) -> int:
    return crypto.blind_index(pepper, code.replace(" ", "").lower())


def recovery_codes_new(*, user: User) -> list[str]:
    """Replace the user's recovery codes with ten new ones, returned once for showing."""
    with transaction.atomic():
        codes = _recovery_codes_replace(user)
        entry_append(
            actor=str(user.id), action="otp.recovery_codes_new", object_type="user", object_id=str(user.id)
        )
    return codes


def _recovery_codes_replace(user: User) -> list[str]:
    RecoveryCodeDevice.objects.filter(user=user).delete()
    pepper = crypto.random_key()
    device = RecoveryCodeDevice.objects.create(user=user, name="recovery", confirmed=True, wrapped_key=b"")
    device.wrapped_key, device.pepper_enc = _seal(
        table=RECOVERY_TABLE, record_id=device.pk, field="pepper", value=pepper
    )
    device.save(update_fields=["wrapped_key", "pepper_enc"])
    codes = [_recovery_code_new() for _ in range(RECOVERY_CODES)]
    RecoveryCode.objects.bulk_create(
        [RecoveryCode(device=device, digest=_recovery_digest(pepper, c)) for c in codes]
    )
    return codes


def _recovery_verify(*, user: User, code: str) -> RecoveryCodeDevice | None:
    device = RecoveryCodeDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
    if device is None or not device.verify_is_allowed()[0] or not _RECOVERY_CODE.fullmatch(code):
        return None
    pepper = None
    if device.wrapped_key and device.pepper_enc is not None:
        pepper = _open(
            table=RECOVERY_TABLE,
            record_id=device.pk,
            wrapped=device.wrapped_key,
            field="pepper",
            blob=device.pepper_enc,
        )
    used = pepper is not None and device.codes.filter(digest=_recovery_digest(pepper, code)).delete()[0] > 0
    if not used:
        device.throttle_increment(commit=True)
        return None
    device.throttle_reset(commit=True)
    return device
