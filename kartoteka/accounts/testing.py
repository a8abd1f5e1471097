"""For tests elsewhere: sign a test client in as if through both login steps (password, then code)."""

from __future__ import annotations

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from kartoteka.accounts.models import User


def login_verified(client: Client, user: User) -> TOTPDevice:
    """force_login plus a confirmed TOTP device marked as verified in the session."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device
