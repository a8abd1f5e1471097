"""The second factor: TOTP devices and one-time recovery codes (django-otp's TOTP and static devices).

A TOTP code is accepted once: django-otp keeps the last accepted time step (``last_t``) and accepts only
later steps. A recovery code is deleted when used. Both device kinds throttle failures (exponential).
Enrolment is possible only while the user has no confirmed TOTP device, so a stolen password alone
cannot add a second authenticator.
"""

from __future__ import annotations

import re
from base64 import b32encode

import segno
from django.db import transaction
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from kartoteka.accounts.models import User
from kartoteka.audit.services import entry_append

RECOVERY_CODES = 10
_TOTP_CODE = re.compile(r"[0-9]{6}")


def has_device(user: User) -> bool:
    found: bool = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    return found


def is_verified(user: object) -> bool:
    """Did this request's user pass the second factor? (django-otp's middleware attaches is_verified.)"""
    check = getattr(user, "is_verified", None)
    return bool(check()) if callable(check) else False


def code_verify(*, user: User, code: str) -> Device | None:
    """The confirmed device that accepts ``code`` (a TOTP code or a recovery code), or None."""
    code = code.replace(" ", "").lower()
    with transaction.atomic():
        devices: list[Device]
        if _TOTP_CODE.fullmatch(code):
            devices = list(TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True))
        else:
            devices = list(StaticDevice.objects.select_for_update().filter(user=user, confirmed=True))
        for device in devices:
            if device.verify_token(code):
                return device
    return None


def setup_begin(*, user: User) -> TOTPDevice:
    """A new, unconfirmed TOTP device; any earlier unconfirmed one is discarded, so a secret shows once."""
    if has_device(user):
        raise PermissionError("a confirmed device exists; enrolment is closed")
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def setup_secret(device: TOTPDevice) -> str:
    """The base32 secret, grouped by four for typing into an app by hand."""
    raw = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def setup_qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URL as an inline SVG (no external image, no script)."""
    svg: str = segno.make(device.config_url, error="m").svg_inline(
        scale=5, border=2, dark="#000", light="#fff"
    )
    return svg


def setup_confirm(*, user: User, code: str) -> tuple[TOTPDevice, list[str]] | None:
    """Confirm the pending device with a code from it; returns it and fresh recovery codes, or None."""
    if has_device(user):
        return None
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("-id").first()
        )
        if device is None or not device.verify_token(code.replace(" ", "")):
            return None
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _recovery_codes_replace(user)
        entry_append(actor=str(user.id), action="otp.enrol", object_type="user", object_id=str(user.id))
    return device, codes


def recovery_codes_new(*, user: User) -> list[str]:
    """Replace the user's recovery codes with ten new ones, returned once for showing."""
    with transaction.atomic():
        codes = _recovery_codes_replace(user)
        entry_append(
            actor=str(user.id), action="otp.recovery_codes_new", object_type="user", object_id=str(user.id)
        )
    return codes


def _recovery_codes_replace(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="recovery", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    return codes
