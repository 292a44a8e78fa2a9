from __future__ import annotations

from typing import Any, NoReturn

from django.db import models


class Outcome(models.TextChoices):
    ALLOWED = "allowed"
    DENIED = "denied"
    ERROR = "error"


class AppendOnlyError(RuntimeError):
    pass


class AppendOnly(models.Model):
    """Rows that are written once: the ORM refuses changes (the database does too)."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError(f"{type(self).__name__} rows cannot be deleted")


class AuditEvent(AppendOnly):
    """One recorded access or change. Append-only: the database refuses UPDATE and DELETE.

    `seq` is gapless and assigned under a lock together with `prev_hash`, so the
    events form one hash chain per installation. Actors and tenants are stored as
    plain ids (no foreign keys): an event must outlive anything it refers to.
    """

    seq = models.BigIntegerField(primary_key=True)
    occurred_at = models.DateTimeField()
    organization_id = models.BigIntegerField(null=True)
    actor_user_id = models.BigIntegerField(null=True)
    actor_token_id = models.BigIntegerField(null=True)
    actor_session = models.CharField(max_length=64, blank=True, default="")
    action = models.CharField(max_length=64)
    resource_type = models.CharField(max_length=64, blank=True, default="")
    resource_id = models.CharField(max_length=64, blank=True, default="")
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    reason = models.CharField(max_length=500, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    device_id = models.CharField(max_length=64, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        # Search always filters by tenant and pages by seq: tenant-first indexes, no more
        # than searches use (every index is paid for on each append, under the lock).
        indexes = [
            models.Index(fields=["organization_id", "occurred_at"]),
            models.Index(fields=["organization_id", "seq"], name="audit_event_org_seq"),
            models.Index(
                fields=["organization_id", "actor_user_id", "seq"], name="audit_event_org_user"
            ),
            models.Index(
                fields=["organization_id", "resource_type", "resource_id", "seq"],
                name="audit_event_org_resource",
            ),
            models.Index(
                fields=["organization_id", "action", "seq"], name="audit_event_org_action"
            ),
            models.Index(
                fields=["organization_id", "seq"],
                condition=~models.Q(outcome="allowed"),
                name="audit_event_org_not_allowed",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.outcome}"


class Checkpoint(AppendOnly):
    """A signed tree head: "the first `tree_size` events have Merkle root `root_hash`".

    `note` is the C2SP signed note (tlog-checkpoint body + Ed25519 signature line); the
    same bytes go to the WORM store. `frontier` is the compact range at `tree_size` (hex
    subtree hashes), so the next checkpoint only hashes the events added since. It is not
    trusted on its own: verification recomputes the root from it.
    """

    tree_size = models.BigIntegerField(primary_key=True)
    root_hash = models.CharField(max_length=64)
    note = models.TextField()
    key_id = models.CharField(max_length=8)
    frontier = models.JSONField(default=list)
    signed_at = models.DateTimeField()
    trigger = models.CharField(max_length=16)

    class Meta:
        ordering = ["tree_size"]

    def __str__(self) -> str:
        return f"checkpoint {self.tree_size}"


class MerkleTile(AppendOnly):
    """The hash of an aligned perfect subtree of 2**level events (level 8, 16, 24...).

    Kept when checkpoints are made so an inclusion proof needs a few hundred hashes
    instead of the whole log. Derived data: a wrong tile only makes a proof fail.
    """

    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["level", "index"], name="audit_tile_level_index")
        ]

    def __str__(self) -> str:
        return f"tile {self.level}/{self.index}"


class Schedule(models.TextChoices):
    NONE = "none"
    DAILY = "daily"
    WEEKLY = "weekly"


class SavedAuditSearch(models.Model):
    """A privacy officer's or auditor's named audit search, optionally sent as a report.

    Visible to its owner only (everyone else gets 404). `filters` holds the query-string
    form of an `EventFilter` (see `EventFilter.query()`), validated through it on save and
    on use. A patient filter is never saved (no MRN and no blind index here): saving one
    is refused. A scheduled report sends the owner a PHI-free notice with a link;
    `last_period_end` marks the last period handled (sent or denied), so a period is
    reported once. Plain ids, like the events: a saved search is the owner's own setting.
    """

    organization_id = models.BigIntegerField()
    owner_user_id = models.BigIntegerField()
    name = models.CharField(max_length=80)
    filters = models.JSONField(default=dict, blank=True)
    schedule = models.CharField(max_length=8, choices=Schedule.choices, default=Schedule.NONE)
    created_at = models.DateTimeField()
    last_sent_at = models.DateTimeField(null=True, blank=True)
    last_period_end = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner_user_id", "name"], name="audit_saved_search_owner_name"
            )
        ]
        indexes = [
            models.Index(
                fields=["organization_id", "owner_user_id"], name="audit_saved_search_owner"
            ),
            models.Index(
                fields=["schedule", "last_period_end"],
                condition=~models.Q(schedule="none"),
                name="audit_saved_search_due",
            ),
        ]

    def __str__(self) -> str:
        return f"saved audit search {self.pk}"
