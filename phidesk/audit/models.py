from __future__ import annotations

from typing import Any, NoReturn

from django.db import models


class Outcome(models.TextChoices):
    ALLOWED = "allowed"
    DENIED = "denied"
    ERROR = "error"


class AppendOnlyError(RuntimeError):
    pass


class AuditEvent(models.Model):
    """One recorded access or change. Append-only: the database refuses UPDATE and DELETE.

    `seq` is gapless and assigned under a lock together with `prev_hash`, so the
    events form one hash chain per installation. Actors and tenants are stored as
    plain ids (no foreign keys): an event must outlive anything it refers to.
    """

    seq = models.BigIntegerField(primary_key=True)
    occurred_at = models.DateTimeField()
    organization_id = models.BigIntegerField(null=True, db_index=True)
    actor_user_id = models.BigIntegerField(null=True, db_index=True)
    actor_token_id = models.BigIntegerField(null=True)
    actor_session = models.CharField(max_length=64, blank=True, default="")
    action = models.CharField(max_length=64, db_index=True)
    resource_type = models.CharField(max_length=64, blank=True, default="")
    resource_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    reason = models.CharField(max_length=500, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    device_id = models.CharField(max_length=64, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["organization_id", "occurred_at"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit events cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events cannot be deleted")
