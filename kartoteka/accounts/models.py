"""Users, teams and shares: the facts the access gates (accounts/access.py) decide on."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django_otp.models import Device, DeviceManager, ThrottlingMixin

from kartoteka.core.fields import Sealed, id_field, sealed_field


class Role(models.TextChoices):
    ADMIN = "admin", "admin"
    COORDINATOR = "coordinator", "coordinator"
    CASEWORKER = "caseworker", "caseworker"
    LAWYER = "lawyer", "lawyer"
    ANALYST = "analyst", "analyst"


class Team(models.Model):
    id = id_field()
    name = models.CharField(max_length=120, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    id = id_field()
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.CASEWORKER)
    teams = models.ManyToManyField(Team, through="Membership", related_name="members")

    @property
    def sees_identities(self) -> bool:
        """Analysts work with aggregates only: no identity field ever reaches them."""
        return self.role != Role.ANALYST


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE)
    team = models.ForeignKey(Team, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="membership_unique")]


class Share(models.Model):
    """One object of one type made visible to a team or to one user (e.g. a lawyer on one case)."""

    id = id_field()
    object_type = models.CharField(max_length=40)
    object_id = models.UUIDField()
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    can_write = models.BooleanField(default=False)
    granted_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["object_type", "object_id"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(team__isnull=False) ^ models.Q(user__isnull=False),
                name="share_one_grantee",
            )
        ]


# --- sign-in, sessions and tokens ------------------------------------------------------------------------


class LoginThrottle(models.Model):
    """Failed password attempts for one account name, keyed by a keyed hash: never the name, IP or agent.

    Keyed by the name typed, not by a user row, so unknown names are throttled alike and nobody learns
    which names exist.
    """

    account_tag = models.BigIntegerField(unique=True)
    failures = models.PositiveIntegerField(default=0)
    next_allowed_at = models.DateTimeField(null=True)
    updated_at = models.DateTimeField(auto_now=True)


class UserSession(models.Model):
    """The sessions a user holds, so offboarding can end them all without decoding every session."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)


class ApiToken(models.Model):
    """A bearer token for the API. Only its SHA-256 is stored; the token itself is shown once."""

    id = id_field()
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now


# --- break-glass, notices and identity reads ---------------------------------------------------------------


class BreakGlassGrant(Sealed):
    """An admin's time-limited read access to another team's records, opened with a stated reason.

    The reason is free text, so it is sealed like any other field (``reason_enc``).
    """

    id = id_field()
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    reason_enc = sealed_field()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["user", "expires_at"])]


class NoticeKind(models.TextChoices):
    BREAK_GLASS = "break_glass", "break-glass read"
    ADMIN_JOINED = "admin_joined", "admin joined the team"
    IDENTITY_READS = "identity_reads", "unusual number of identity reads"


class Notice(models.Model):
    """Something a team's coordinators must know about; codes and ids only, never content."""

    id = id_field()
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=20, choices=NoticeKind.choices)
    actor = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    object_type = models.CharField(max_length=40, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    # A default, not auto_now_add: the identity-read alert passes its own clock.
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["team", "created_at"]), models.Index(fields=["kind", "actor"])]


class IdentityRead(models.Model):
    """Who saw which person's identity fields, and when; nothing of what they saw."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    person_id = models.UUIDField()
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["person_id", "at"]), models.Index(fields=["user", "at"])]


# --- second factor ---------------------------------------------------------------------------------------------
# django-otp's own TOTP and static devices keep the seed and the recovery codes in clear; these keep them
# sealed by the key agent (kartoteka.accounts.otp does the sealing, opening and checking).


class SealedTOTPDevice(ThrottlingMixin, Sealed, Device):  # type: ignore[misc]
    """A TOTP authenticator whose seed is sealed (``key_enc``, bound to this table, row and field "key").

    A confirmed device without a seed (empty ``wrapped_key``) verifies nothing: it stands for a second
    factor that must be enrolled again (one stored in clear before sealing), and closes enrolment.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key_enc = sealed_field()
    step = models.PositiveSmallIntegerField(default=30)
    t0 = models.BigIntegerField(default=0)
    digits = models.PositiveSmallIntegerField(default=6)
    tolerance = models.PositiveSmallIntegerField(default=1)
    drift = models.SmallIntegerField(default=0)
    last_t = models.BigIntegerField(default=-1)  # the time step last accepted; only later ones pass

    objects: ClassVar[models.Manager[SealedTOTPDevice]] = DeviceManager()

    class Meta:
        verbose_name = "sealed TOTP device"

    @property
    def sealed(self) -> bool:
        return bool(self.wrapped_key) and self.key_enc is not None

    def get_throttle_factor(self) -> int:
        return int(getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1))


class RecoveryCodeDevice(ThrottlingMixin, Sealed, Device):  # type: ignore[misc]
    """A user's recovery codes: each stored as a keyed hash under a random key sealed here (``pepper_enc``),
    so a copy of the database cannot test guesses offline; a code's row is deleted when it is used."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    pepper_enc = sealed_field()

    objects: ClassVar[models.Manager[RecoveryCodeDevice]] = DeviceManager()

    def get_throttle_factor(self) -> int:
        return int(getattr(settings, "OTP_STATIC_THROTTLE_FACTOR", 1))


class RecoveryCode(models.Model):
    device = models.ForeignKey(RecoveryCodeDevice, on_delete=models.CASCADE, related_name="codes")
    digest = models.BigIntegerField()  # HMAC-SHA256(pepper, code), first 8 bytes (kartoteka.lib.crypto)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "digest"], name="recovery_code_unique")]
