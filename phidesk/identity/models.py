from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models

from phidesk.access.roles import ROLE_CHOICES
from phidesk.core.models import TenantOwned


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user


class User(AbstractBaseUser):
    """A person who signs in. Belongs to one organization.

    `id` is never reused (AUTOINCREMENT on SQLite, identity on PostgreSQL), so audit
    events keep pointing at the right person forever. `public_id` is the stable
    external identifier (SCIM `id`); `external_id` is the directory's own id (SCIM
    `externalId`). Users are deactivated, never deleted.
    """

    id = models.BigAutoField(primary_key=True)
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.PROTECT, related_name="users"
    )
    email = models.EmailField(unique=True)
    external_id = models.CharField(max_length=255, blank=True, default="")
    given_name = models.CharField(max_length=150, blank=True, default="")
    family_name = models.CharField(max_length=150, blank=True, default="")
    display_name = models.CharField(max_length=200, blank=True, default="")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(auto_now_add=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.display_name or self.email

    @property
    def name(self) -> str:
        full = f"{self.given_name} {self.family_name}".strip()
        return self.display_name or full or self.email


class RoleAssignment(TenantOwned):
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.PROTECT)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(max_length=32, choices=ROLE_CHOICES)
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="uniq_role_per_user")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.role}"


class QueueMembership(TenantOwned):
    """A person works a queue. Restricted (PHI) queues are visible to members only."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.PROTECT)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="queue_memberships")
    queue = models.ForeignKey("tickets.Queue", on_delete=models.CASCADE, related_name="members")
    is_lead = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "queue"], name="uniq_queue_membership")
        ]


class ApiToken(TenantOwned):
    """A personal API token. Only a SHA-256 digest is stored; the secret is shown once."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.PROTECT)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix} ({self.name})"
