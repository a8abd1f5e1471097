"""For tests elsewhere: sign a test client in as if through both login steps, or enrol a real device."""

from __future__ import annotations

import time

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP

from kartoteka.accounts import otp
from kartoteka.accounts.models import SealedTOTPDevice, User


def login_verified(client: Client, user: User) -> SealedTOTPDevice:
    """force_login plus a confirmed device marked as verified in the session.

    Needs no key agent: a device created here has no seed (so no code ever verifies against it); the
    session only names the device, as django-otp's middleware expects.
    """
    device = SealedTOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = SealedTOTPDevice.objects.create(user=user, name="test", confirmed=True, wrapped_key=b"")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


def totp_enrolled(user: User) -> otp.Enrolment:
    """A confirmed device with a sealed seed (needs the key agent), and the seed an app would hold."""
    return otp.device_seal_new(user=user, name="phone", confirmed=True)


def totp_code(enrolment: otp.Enrolment, *, steps_ahead: int = 0) -> str:
    """The code an authenticator app holding this seed shows now (or ``steps_ahead`` steps later)."""
    device = enrolment.device
    totp = TOTP(enrolment.seed, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"
