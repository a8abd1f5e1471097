"""Users, teams and shares: the facts the access gates (accounts/access.py) decide on."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from kartoteka.core.fields import id_field


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
