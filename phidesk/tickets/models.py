from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from phidesk.core.fields import BlindIndexField, PHIField
from phidesk.core.models import TenantOwned, TimeStamped
from phidesk.tickets.choices import Category, Priority, Status


class Queue(TenantOwned, TimeStamped):
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.PROTECT)
    slug = models.SlugField(max_length=50)
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=500, blank=True, default="")
    restricted_phi = models.BooleanField(
        default=False, help_text="Only members see this queue and its tickets."
    )
    accepts_requests = models.BooleanField(
        default=True, help_text="Requesters may file tickets into this queue."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "slug"], name="uniq_queue_slug")
        ]

    def __str__(self) -> str:
        return self.name


class TicketCounter(models.Model):
    """The last ticket number handed out in one organization (row-locked on use)."""

    organization = models.OneToOneField(
        "tenancy.Organization", on_delete=models.PROTECT, primary_key=True
    )
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.organization_id}:{self.last_number}"


class Ticket(TenantOwned):
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.PROTECT)
    # Row identity bound into every ciphertext of the ticket (known before insert) and
    # the owner of its data key (phidesk.crypto), so one case can be crypto-shredded.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    number = models.PositiveIntegerField()
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="tickets")
    title = models.CharField(max_length=200)
    # Free text from the requester: it may name a patient despite the form's advice.
    description = PHIField(kind="text")
    category = models.CharField(max_length=32, choices=Category.choices, default=Category.OTHER)
    priority = models.CharField(max_length=2, choices=Priority.choices, default=Priority.P3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="requested_tickets"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_tickets",
    )
    due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    # Structured patient reference: optional, masked unless revealed on the record.
    # Stored encrypted; the blind indexes (tenant-keyed HMACs) allow exact-match search.
    patient_mrn = PHIField(kind="mrn")
    patient_name = PHIField(kind="name")
    patient_dob = PHIField(kind="dob")
    patient_mrn_bidx = BlindIndexField(of="patient_mrn")
    patient_name_bidx = BlindIndexField(of="patient_name")
    patient_dob_bidx = BlindIndexField(of="patient_dob")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "number"], name="uniq_ticket_number")
        ]
        indexes = [
            models.Index(fields=["organization", "status", "-id"]),
            models.Index(fields=["organization", "queue", "-id"]),
            models.Index(fields=["organization", "requester", "-id"]),
            models.Index(fields=["organization", "assignee", "-id"]),
            models.Index(fields=["organization", "patient_mrn_bidx"]),
            models.Index(fields=["organization", "patient_name_bidx"]),
            models.Index(fields=["organization", "patient_dob_bidx"]),
        ]

    def __str__(self) -> str:
        return f"#{self.number}"

    @property
    def queue_restricted(self) -> bool:
        return self.queue.restricted_phi


class EventKind(models.TextChoices):
    CREATED = "created"
    TRANSITIONED = "transitioned"
    ASSIGNED = "assigned"
    UPDATED = "updated"
    REPLIED = "replied"
    NOTED = "noted"
    PHI_REVEALED = "phi_revealed"
    SHREDDED = "shredded"


class TicketEvent(TenantOwned):
    """The ticket's own history, shown on its page (the audit log is the legal record)."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.PROTECT)
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]


class Message(TenantOwned):
    # Bodies are sealed with the ticket's data key: free text carries PHI whatever the
    # queue, and shredding the ticket must take its conversation with it.
    crypto_key_owner = "ticket"

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.PROTECT)
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = PHIField(kind="text", blank=False)
    is_internal = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
