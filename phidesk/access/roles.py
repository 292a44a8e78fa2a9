"""Roles a person can hold within one organization."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    REQUESTER = "requester"
    AGENT = "agent"
    PHI_AGENT = "phi_agent"
    QUEUE_LEAD = "queue_lead"
    INCIDENT_RESPONDER = "incident_responder"
    PRIVACY_OFFICER = "privacy_officer"
    AUDITOR = "auditor"
    ADMIN = "admin"


ROLE_CHOICES = [(r.value, r.value.replace("_", " ").title()) for r in Role]
