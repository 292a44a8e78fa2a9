"""Ticket commands. Each is atomic, asks access, and writes its audit event."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import F

from phidesk.access.engine import AccessDenied, Decision, decide
from phidesk.access.guard import audited_service, authorize
from phidesk.access.policy import DESK_STAFF
from phidesk.core import clock
from phidesk.core.actor import Actor
from phidesk.core.errors import Conflict, InvalidInput
from phidesk.core.tenant_context import tenant_context
from phidesk.crypto.services import ShredCertificate, reveal, shred
from phidesk.identity.models import User
from phidesk.identity.services import actor_for_user
from phidesk.tickets import workflow
from phidesk.tickets.audit import audit_ticket
from phidesk.tickets.models import (
    Category,
    EventKind,
    Message,
    Priority,
    Queue,
    Status,
    Ticket,
    TicketCounter,
    TicketEvent,
)
from phidesk.tickets.selectors import build_detail, load_ticket, parse_number
from phidesk.tickets.validation import (
    clean_body,
    clean_description,
    clean_dob,
    clean_mrn,
    clean_patient_name,
    clean_title,
)
from phidesk.tickets.views_model import TicketDetail

MIN_REASON = 10


def _event(ticket: Ticket, actor: Actor, kind: str, **extra: Any) -> None:
    TicketEvent.objects.create(
        organization_id=ticket.organization_id,
        ticket=ticket,
        actor_id=actor.user_id,
        kind=kind,
        **extra,
    )


def _next_number(organization_id: int) -> int:
    TicketCounter.objects.get_or_create(organization_id=organization_id)
    counter = TicketCounter.objects.select_for_update().get(organization_id=organization_id)
    TicketCounter.objects.filter(pk=counter.pk).update(last_number=F("last_number") + 1)
    return counter.last_number + 1


def _queue_for(actor: Actor, slug: str, action: str) -> Queue:
    queue = Queue.objects.filter(slug=slug).first()
    if queue is None:
        raise AccessDenied(
            actor=actor,
            action=action,
            decision=Decision(False, "no such queue in the actor's organization"),
            resource_type="queue",
            resource_id=slug[:64],
        )
    return queue


@dataclass(frozen=True)
class NewTicket:
    queue: str
    title: str
    description: str = ""
    category: str = Category.OTHER
    priority: str = Priority.P3
    patient_mrn: str = ""
    patient_name: str = ""
    patient_dob: str = ""
    due_at: dt.datetime | None = None


def _check_choice(value: str, choices: list[str], field: str) -> str:
    if value not in choices:
        raise InvalidInput(f"{field} must be one of {', '.join(choices)}", field=field)
    return value


@audited_service
def ticket_create(*, actor: Actor, data: NewTicket) -> TicketDetail:
    """File a ticket. Anyone may file into a queue that accepts requests."""
    with tenant_context(actor.organization_id):
        queue = _queue_for(actor, data.queue, "ticket.create")
        authorize(actor, "ticket.create", queue, resource_type="queue", resource_id=queue.pk)
        ticket = Ticket(
            organization_id=actor.organization_id,
            queue=queue,
            title=clean_title(data.title),
            description=clean_description(data.description),
            category=_check_choice(data.category, Category.values, "category"),
            priority=_check_choice(data.priority, Priority.values, "priority"),
            requester_id=actor.user_id,
            patient_mrn=clean_mrn(data.patient_mrn),
            patient_name=clean_patient_name(data.patient_name),
            patient_dob=clean_dob(data.patient_dob),
            due_at=data.due_at,
        )
        ticket.number = _next_number(actor.organization_id)
        ticket.save()
        _event(ticket, actor, EventKind.CREATED, to_status=ticket.status)
        audit_ticket(
            actor=actor,
            action="ticket.create",
            ticket=ticket,
            detail={
                "queue_id": queue.pk,
                "priority": ticket.priority,
                "with_patient": bool(ticket.patient_mrn or ticket.patient_name),
            },
        )
        return build_detail(actor, ticket)


UPDATABLE = ("title", "description", "category", "priority", "due_at", "queue")
PHI_UPDATABLE = ("patient_mrn", "patient_name", "patient_dob")


@audited_service
def ticket_update(*, actor: Actor, key: str | int, changes: dict[str, Any]) -> TicketDetail:
    """Change fields of a ticket. Moving it needs access to the target queue; patient
    fields need `ticket.phi_edit`."""
    unknown = set(changes) - set(UPDATABLE) - set(PHI_UPDATABLE)
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}", field="changes")
    with tenant_context(actor.organization_id):
        ticket = load_ticket(actor, key, "ticket.update", for_update=True)
        if set(changes) & set(PHI_UPDATABLE):
            authorize(
                actor, "ticket.phi_edit", ticket, resource_type="ticket", resource_id=ticket.pk
            )
        cleaners = {
            "title": clean_title,
            "description": clean_description,
            "category": lambda v: _check_choice(str(v), Category.values, "category"),
            "priority": lambda v: _check_choice(str(v), Priority.values, "priority"),
            "due_at": lambda v: v,
            "patient_mrn": clean_mrn,
            "patient_name": clean_patient_name,
            "patient_dob": clean_dob,
        }
        changed: list[str] = []
        for name, value in changes.items():
            if name == "queue":
                target = _queue_for(actor, str(value), "ticket.update")
                authorize(actor, "queue.view", target, resource_type="queue", resource_id=target.pk)
                if target.pk != ticket.queue_id:
                    ticket.queue = target
                    changed.append("queue")
                continue
            cleaned = cleaners[name](value)
            # Sealed fields (patient fields, the description): compare clear values.
            is_sealed = name in PHI_UPDATABLE or name == "description"
            current = reveal(ticket, [name])[name] if is_sealed else getattr(ticket, name)
            if current != cleaned:
                setattr(ticket, name, cleaned)
                changed.append(name)
        if changed:
            ticket.save()
            # Name the fields, never their values: patient fields are PHI.
            _event(ticket, actor, EventKind.UPDATED, detail={"fields": changed})
            audit_ticket(
                actor=actor,
                action="ticket.update",
                ticket=ticket,
                detail={"fields": changed},
            )
        return build_detail(actor, ticket)


@audited_service
def ticket_assign(*, actor: Actor, key: str | int, assignee_id: int | None) -> TicketDetail:
    with tenant_context(actor.organization_id):
        ticket = load_ticket(actor, key, "ticket.assign", for_update=True)
        assignee = None
        if assignee_id is not None:
            assignee = User.objects.filter(
                pk=assignee_id, organization_id=actor.organization_id, is_active=True
            ).first()
            if assignee is None:
                raise InvalidInput("no such person in this organization", field="assignee")
            as_assignee = actor_for_user(assignee)
            if not as_assignee.has_role(*DESK_STAFF):
                raise InvalidInput("only desk staff can be assigned tickets", field="assignee")
            if not decide(as_assignee, "ticket.update", ticket).allowed:
                raise InvalidInput(
                    "that person cannot work tickets in this queue", field="assignee"
                )
        previous = ticket.assignee_id
        ticket.assignee = assignee
        from_status = ticket.status
        if assignee is not None and ticket.status in (Status.NEW, Status.TRIAGED):
            ticket.status = Status.ASSIGNED
        ticket.save()
        _event(
            ticket,
            actor,
            EventKind.ASSIGNED,
            from_status=from_status,
            to_status=ticket.status,
            detail={"from": previous, "to": assignee_id},
        )
        audit_ticket(
            actor=actor,
            action="ticket.assign",
            ticket=ticket,
            detail={"from": previous, "to": assignee_id},
        )
        return build_detail(actor, ticket)


@audited_service
def ticket_transition(
    *, actor: Actor, key: str | int, to_status: str, comment: str = ""
) -> TicketDetail:
    """Move a ticket along the workflow. Requesters may close or reopen their own
    resolved ticket; desk staff follow the full workflow."""
    with tenant_context(actor.organization_id):
        _check_choice(to_status, Status.values, "status")
        ticket = load_ticket(actor, key, "ticket.view", for_update=True)
        staff = decide(actor, "ticket.transition", ticket)
        if staff.allowed:
            allowed = workflow.allowed_targets(ticket.status)
        else:
            authorize(
                actor,
                "ticket.requester_transition",
                ticket,
                resource_type="ticket",
                resource_id=ticket.pk,
            )
            allowed = workflow.allowed_targets(ticket.status, as_requester=True)
        if to_status not in allowed:
            raise Conflict(
                f"a {Status(ticket.status).label.lower()} ticket cannot move to "
                f"{Status(to_status).label.lower()}",
                code="invalid_transition",
            )
        from_status = ticket.status
        now = clock.now()
        ticket.status = to_status
        if to_status == Status.RESOLVED:
            ticket.resolved_at = now
        if to_status == Status.CLOSED:
            ticket.closed_at = now
        if workflow.is_reopen(from_status, to_status):
            ticket.resolved_at = ticket.closed_at = None
        ticket.save()
        detail = {"reopened": True} if workflow.is_reopen(from_status, to_status) else {}
        _event(
            ticket,
            actor,
            EventKind.TRANSITIONED,
            from_status=from_status,
            to_status=to_status,
            detail=detail,
        )
        if comment.strip():
            _add_message(ticket, actor, clean_body(comment), internal=False)
        audit_ticket(
            actor=actor,
            action="ticket.transition",
            ticket=ticket,
            detail={"from": from_status, "to": to_status},
        )
        return build_detail(actor, ticket)


def _add_message(ticket: Ticket, actor: Actor, body: str, *, internal: bool) -> Message:
    message = Message.objects.create(
        organization_id=ticket.organization_id,
        ticket=ticket,
        author_id=actor.user_id,
        body=body,
        is_internal=internal,
    )
    _event(ticket, actor, EventKind.NOTED if internal else EventKind.REPLIED)
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=clock.now())
    return message


@audited_service
def message_create(
    *, actor: Actor, key: str | int, body: str, internal: bool = False
) -> TicketDetail:
    """Add a public reply or an internal note (desk staff only) to a ticket."""
    with tenant_context(actor.organization_id):
        action = "message.note" if internal else "message.reply"
        ticket = load_ticket(actor, key, action)
        message = _add_message(ticket, actor, clean_body(body), internal=internal)
        audit_ticket(
            actor=actor,
            action="message.create",
            ticket=ticket,
            detail={"message_id": message.pk, "internal": internal},
        )
        ticket.refresh_from_db()
        return build_detail(actor, ticket)


@audited_service
def ticket_reveal_phi(*, actor: Actor, key: str | int, reason: str) -> TicketDetail:
    """Show the patient reference in clear. Needs a stated reason; always audited."""
    reason = " ".join((reason or "").split())
    if len(reason) < MIN_REASON:
        raise InvalidInput(
            f"state why you need the patient details (at least {MIN_REASON} characters)",
            field="reason",
        )
    if len(reason) > 300:
        raise InvalidInput("the reason is limited to 300 characters", field="reason")
    with tenant_context(actor.organization_id):
        ticket = load_ticket(actor, key, "ticket.phi_reveal")
        fields = [f for f in ("patient_mrn", "patient_name", "patient_dob") if getattr(ticket, f)]
        _event(ticket, actor, EventKind.PHI_REVEALED, detail={"reason": reason, "fields": fields})
        audit_ticket(
            actor=actor,
            action="ticket.phi_reveal",
            ticket=ticket,
            reason=reason,
            detail={"fields": fields},
        )
        return build_detail(actor, ticket, reveal=True)


@audited_service
def ticket_shred(*, actor: Actor, key: str | int, reason: str) -> ShredCertificate:
    """Crypto-shred a case: destroy its data key, so its patient details and its whole
    conversation become unrecoverable at once. Irreversible, so it needs a stated
    reason; the audit event carries the destruction certificate."""
    reason = " ".join((reason or "").split())
    if not MIN_REASON <= len(reason) <= 300:
        raise InvalidInput(
            f"state why this case is destroyed ({MIN_REASON} to 300 characters)", field="reason"
        )
    with tenant_context(actor.organization_id):
        number = parse_number(key)
        ticket = (
            Ticket.objects.select_for_update(of=("self",)).filter(number=number).first()
            if number
            else None
        )
        if ticket is None:
            raise AccessDenied(
                actor=actor,
                action="ticket.shred",
                decision=Decision(False, "no such ticket in the actor's organization"),
                resource_type="ticket",
                resource_id=str(key)[:64],
            )
        authorize(actor, "ticket.shred", ticket, resource_type="ticket", resource_id=ticket.pk)
        certificate = shred(record=ticket)
        _event(
            ticket,
            actor,
            EventKind.SHREDDED,
            detail={"reason": reason, "certificate": certificate.digest},
        )
        audit_ticket(
            actor=actor,
            action="ticket.shred",
            ticket=ticket,
            reason=reason,
            detail=certificate.audit_detail(),
        )
        return certificate
