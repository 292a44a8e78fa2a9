"""Audit events about one ticket, carrying the patient's blind index (never the MRN), so
a privacy officer can ask "who touched this patient's tickets?"."""

from __future__ import annotations

from typing import Any

from phidesk.audit.models import AuditEvent
from phidesk.audit.services import record
from phidesk.core.actor import Actor
from phidesk.tickets.models import Ticket


def audit_ticket(
    *,
    actor: Actor,
    action: str,
    ticket: Ticket,
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    detail = dict(detail or {})
    if ticket.patient_mrn_bidx:
        detail["patient_index"] = ticket.patient_mrn_bidx
    return record(
        actor=actor,
        action=action,
        resource_type="ticket",
        resource_id=ticket.pk,
        reason=reason,
        detail=detail,
    )
