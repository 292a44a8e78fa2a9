"""Ticket queries. Every one is scoped to the actor and leaves an audit event."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from phidesk.access.engine import AccessDenied, Decision, decide, restrict
from phidesk.access.guard import audited_service, authorize
from phidesk.access.policy import DESK_STAFF
from phidesk.audit.services import record
from phidesk.core.actor import Actor
from phidesk.core.errors import InvalidInput
from phidesk.core.fields import mask
from phidesk.core.tenant_context import tenant_context
from phidesk.crypto.services import blind_index, reveal_each
from phidesk.crypto.services import reveal as _reveal
from phidesk.identity.models import QueueMembership, RoleAssignment, User
from phidesk.tenancy.models import Organization
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
    TicketEvent,
)
from phidesk.tickets.validation import clean_mrn
from phidesk.tickets.views_model import (
    EventView,
    MessageView,
    PatientRef,
    Person,
    QueueView,
    TicketDetail,
    TicketPage,
    TicketPermissions,
    TicketRow,
    format_number,
)

SORTS = ("newest", "oldest", "priority", "updated")
MAX_PAGE = 100
_NUMBER_RE = re.compile(r"^(?:[A-Za-z]{2,8}-)?0*(\d{1,9})$")


def parse_number(key: str | int) -> int | None:
    """'HD-000123', '123' or 123 -> 123; anything else -> None."""
    if isinstance(key, int):
        return key if key > 0 else None
    match = _NUMBER_RE.match(key.strip())
    return int(match.group(1)) if match else None


def _person(user: User | None) -> Person | None:
    return Person(id=user.pk, name=user.name) if user else None


def queue_view(queue: Queue) -> QueueView:
    return QueueView(
        id=queue.pk,
        slug=queue.slug,
        name=queue.name,
        description=queue.description,
        restricted_phi=queue.restricted_phi,
        accepts_requests=queue.accepts_requests,
    )


def _row(ticket: Ticket, prefix: str) -> TicketRow:
    return TicketRow(
        key=format_number(prefix, ticket.number),
        number=ticket.number,
        title=ticket.title,
        status=ticket.status,
        status_label=Status(ticket.status).label,
        priority=ticket.priority,
        category=ticket.category,
        category_label=Category(ticket.category).label
        if ticket.category in Category.values
        else ticket.category,
        queue=queue_view(ticket.queue),
        requester=_person(ticket.requester),  # type: ignore[arg-type]
        assignee=_person(ticket.assignee),
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        due_at=ticket.due_at,
        has_patient=bool(ticket.patient_mrn or ticket.patient_name or ticket.patient_dob),
    )


def _prefix(actor: Actor) -> str:
    return str(
        Organization.objects.filter(pk=actor.organization_id)
        .values_list("ticket_prefix", flat=True)
        .get()
    )


def _base(actor: Actor) -> QuerySet[Ticket]:
    return Ticket.objects.select_related("queue", "requester", "assignee")


# --- Lists -----------------------------------------------------------------


def _search_mrn(value: str) -> str:
    """An MRN as typed into a search box ("0012 3456"), validated like a stored one."""
    return clean_mrn("".join(value.split()))


@dataclass(frozen=True)
class TicketFilters:
    queue: str | None = None
    status: str | None = None
    priority: str | None = None
    assignee: str | None = None  # a user id, "me" or "none"
    requester: str | None = None  # a user id or "me"
    text: str | None = None
    open_only: bool = False
    sort: str = "newest"
    # Exact match through the blind index; limited to tickets the actor may reveal.
    patient_mrn: str | None = None

    def validate(self) -> TicketFilters:
        if self.status and self.status not in Status.values:
            raise InvalidInput(f"unknown status {self.status!r}", field="status")
        if self.priority and self.priority not in Priority.values:
            raise InvalidInput(f"unknown priority {self.priority!r}", field="priority")
        if self.sort not in SORTS:
            raise InvalidInput(f"sort must be one of {', '.join(SORTS)}", field="sort")
        for name in ("assignee", "requester"):
            value = getattr(self, name)
            if value and value not in ("me", "none") and not value.isdigit():
                raise InvalidInput(f"{name} must be a user id, 'me' or 'none'", field=name)
        if self.text and len(self.text) > 200:
            raise InvalidInput("search text is limited to 200 characters", field="text")
        if self.patient_mrn and not _search_mrn(self.patient_mrn):
            raise InvalidInput("give the MRN to search for", field="patient_mrn")
        return self

    def audit_detail(self) -> dict[str, Any]:
        """The filters for the audit log: the shape of a text search, never its words."""
        detail = {
            k: v
            for k, v in self.__dict__.items()
            if v not in (None, "", False) and k not in ("text", "patient_mrn")
        }
        if self.text:
            detail["text_length"] = len(self.text)
        if self.patient_mrn:
            detail["by_patient_mrn"] = True  # that a patient was searched, never which
        return detail


def _apply_filters(qs: QuerySet[Ticket], actor: Actor, f: TicketFilters) -> QuerySet[Ticket]:
    if f.queue:
        qs = qs.filter(queue__slug=f.queue)
    if f.status:
        qs = qs.filter(status=f.status)
    elif f.open_only:
        qs = qs.filter(status__in=workflow.OPEN_STATUSES)
    if f.priority:
        qs = qs.filter(priority=f.priority)
    if f.assignee == "me":
        qs = qs.filter(assignee_id=actor.user_id)
    elif f.assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif f.assignee:
        qs = qs.filter(assignee_id=int(f.assignee))
    if f.requester == "me":
        qs = qs.filter(requester_id=actor.user_id)
    elif f.requester and f.requester.isdigit():
        qs = qs.filter(requester_id=int(f.requester))
    if f.text:
        number = parse_number(f.text)
        # Titles and numbers only: descriptions are encrypted free text.
        text_q = Q(title__icontains=f.text)
        if number is not None:
            text_q |= Q(number=number)
        qs = qs.filter(text_q)
    if f.patient_mrn:
        # Searching by patient is a use of PHI: only tickets the actor may reveal.
        digest = blind_index(
            organization_id=actor.organization_id, kind="mrn", value=_search_mrn(f.patient_mrn)
        )
        qs = restrict(qs, actor, "ticket.phi_reveal").filter(patient_mrn_bidx=digest)
    return qs


_ORDER = {
    "newest": ("-id",),
    "oldest": ("id",),
    "priority": ("priority", "-id"),
    "updated": ("-updated_at", "-id"),
}


def _encode_cursor(sort: str, ticket: Ticket) -> str:
    value: Any = None
    if sort == "priority":
        value = ticket.priority
    elif sort == "updated":
        value = ticket.updated_at.isoformat()
    raw = json.dumps({"s": sort, "v": value, "id": ticket.pk}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _after_cursor(qs: QuerySet[Ticket], sort: str, cursor: str) -> QuerySet[Ticket]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if data["s"] != sort or not isinstance(data["id"], int):
            raise ValueError
        last_id, value = data["id"], data["v"]
        if sort == "newest":
            return qs.filter(id__lt=last_id)
        if sort == "oldest":
            return qs.filter(id__gt=last_id)
        if sort == "priority":
            if value not in Priority.values:
                raise ValueError
            return qs.filter(Q(priority__gt=value) | Q(priority=value, id__lt=last_id))
        stamp = dt.datetime.fromisoformat(value)
        return qs.filter(Q(updated_at__lt=stamp) | Q(updated_at=stamp, id__lt=last_id))
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise InvalidInput("the page cursor is not valid", field="cursor") from exc


def ticket_list(
    *,
    actor: Actor,
    filters: TicketFilters | None = None,
    cursor: str | None = None,
    limit: int = 25,
) -> TicketPage:
    """One page of the tickets this actor may see. Recorded as a search in the audit log."""
    f = (filters or TicketFilters()).validate()
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1 to {MAX_PAGE}", field="limit")
    with tenant_context(actor.organization_id):
        qs = _apply_filters(restrict(_base(actor), actor, "ticket.view"), actor, f)
        total = qs.count()
        if cursor:
            qs = _after_cursor(qs, f.sort, cursor)
        tickets = list(qs.order_by(*_ORDER[f.sort])[: limit + 1])
        prefix = _prefix(actor)
        has_more = len(tickets) > limit
        tickets = tickets[:limit]
        record(
            actor=actor,
            action="ticket.list",
            resource_type="ticket",
            detail={"filters": f.audit_detail(), "returned": len(tickets)},
        )
    return TicketPage(
        rows=[_row(t, prefix) for t in tickets],
        total=total,
        next_cursor=_encode_cursor(f.sort, tickets[-1]) if has_more else None,
    )


# --- One ticket --------------------------------------------------------------


def load_ticket(actor: Actor, key: str | int, action: str, *, for_update: bool = False) -> Ticket:
    """Fetch a ticket by number and authorize `action` on it, or raise AccessDenied.

    A ticket the actor may not even view is reported as missing (404) whatever the
    action; a visible ticket with a denied action is 403.
    """
    number = parse_number(key)
    qs = _base(actor).filter(organization_id=actor.organization_id)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    ticket = qs.filter(number=number).first() if number else None
    if ticket is None:
        raise AccessDenied(
            actor=actor,
            action=action,
            decision=Decision(False, "no such ticket in the actor's organization"),
            resource_type="ticket",
            resource_id=str(key)[:64],
        )
    authorize(actor, "ticket.view", ticket, resource_type="ticket", resource_id=ticket.pk)
    if action != "ticket.view":
        authorize(actor, action, ticket, resource_type="ticket", resource_id=ticket.pk)
    return ticket


_PATIENT_FIELDS = ("patient_mrn", "patient_name", "patient_dob")
INTERNAL_EVENT_KINDS = (EventKind.NOTED, EventKind.PHI_REVEALED, EventKind.SHREDDED)


def _open_ticket_text(ticket: Ticket) -> dict[str, str]:
    """Description and patient fields in clear, in one pass over the ticket's data key.
    Opened here, in the service layer, only to show (description) or to mask or reveal
    (patient fields); a shredded ticket reads "[destroyed]"."""
    fields = [f for f in ("description", *_PATIENT_FIELDS) if getattr(ticket, f)]
    clear = dict.fromkeys(("description", *_PATIENT_FIELDS), "")
    if fields:
        clear.update(_reveal(ticket, fields))
    return clear


def _patient(ticket: Ticket, clear: dict[str, str], *, reveal: bool) -> PatientRef:
    present = bool(ticket.patient_mrn or ticket.patient_name or ticket.patient_dob)
    if reveal:
        return PatientRef(
            present=present,
            revealed=True,
            mrn=clear["patient_mrn"],
            name=clear["patient_name"],
            dob=clear["patient_dob"],
        )
    return PatientRef(
        present=present,
        revealed=False,
        mrn=mask("mrn", clear["patient_mrn"]),
        name=mask("name", clear["patient_name"]),
        dob=mask("dob", clear["patient_dob"]),
    )


def _permissions(actor: Actor, ticket: Ticket) -> TicketPermissions:
    def ok(action: str) -> bool:
        return decide(actor, action, ticket).allowed

    staff_transition = ok("ticket.transition")
    targets = workflow.allowed_targets(ticket.status) if staff_transition else frozenset()
    if not staff_transition and ok("ticket.requester_transition"):
        targets = workflow.allowed_targets(ticket.status, as_requester=True)
    order = list(Status.values)
    return TicketPermissions(
        update=ok("ticket.update"),
        assign=ok("ticket.assign"),
        transitions=tuple(sorted(targets, key=order.index)),
        reply=ok("message.reply"),
        note=ok("message.note"),
        reveal=ok("ticket.phi_reveal"),
        edit_phi=ok("ticket.phi_edit"),
    )


def _notes_visible(actor: Actor, ticket: Ticket) -> bool:
    """Internal notes and the team's reveal history (with its stated reasons) stay on
    the desk side."""
    return decide(actor, "message.view_notes", ticket).allowed


def _messages(actor: Actor, ticket: Ticket, *, notes: bool) -> list[MessageView]:
    messages = Message.objects.filter(ticket=ticket).select_related("author")
    if not notes:
        messages = messages.filter(is_internal=False)
    rows = list(messages)
    return [
        MessageView(
            id=m.pk,
            author=_person(m.author),  # type: ignore[arg-type]
            body=body,
            is_internal=m.is_internal,
            created_at=m.created_at,
        )
        for m, body in zip(rows, reveal_each(rows, "body"), strict=True)
    ]


def build_detail(actor: Actor, ticket: Ticket, *, reveal: bool = False) -> TicketDetail:
    notes = _notes_visible(actor, ticket)
    events = TicketEvent.objects.filter(ticket=ticket).select_related("actor")
    if not notes:
        events = events.exclude(kind__in=INTERNAL_EVENT_KINDS)
    clear = _open_ticket_text(ticket)
    return TicketDetail(
        row=_row(ticket, _prefix(actor)),
        description=clear["description"],
        patient=_patient(ticket, clear, reveal=reveal),
        messages=_messages(actor, ticket, notes=notes),
        events=[
            EventView(
                kind=e.kind,
                actor=_person(e.actor),  # type: ignore[arg-type]
                from_status=e.from_status,
                to_status=e.to_status,
                detail=e.detail,
                created_at=e.created_at,
            )
            for e in events
        ],
        can=_permissions(actor, ticket),
        resolved_at=ticket.resolved_at,
        closed_at=ticket.closed_at,
    )


@audited_service
def ticket_get(*, actor: Actor, key: str | int) -> TicketDetail:
    """One ticket with its conversation, patient context masked. Audited as a read."""
    with tenant_context(actor.organization_id):
        ticket = load_ticket(actor, key, "ticket.view")
        audit_ticket(actor=actor, action="ticket.view", ticket=ticket)
        return build_detail(actor, ticket)


@audited_service
def message_list(*, actor: Actor, key: str | int) -> list[MessageView]:
    with tenant_context(actor.organization_id):
        ticket = load_ticket(actor, key, "ticket.view")
        audit_ticket(actor=actor, action="message.list", ticket=ticket)
        return _messages(actor, ticket, notes=_notes_visible(actor, ticket))


# --- Queues ------------------------------------------------------------------


def queue_list(*, actor: Actor, purpose: str = "work") -> list[QueueView]:
    """Queues the actor works ("work") or may file tickets into ("intake")."""
    action = "queue.view" if purpose == "work" else "queue.intake"
    with tenant_context(actor.organization_id):
        queues = restrict(Queue.objects.all(), actor, action).order_by("name")
        return [queue_view(q) for q in queues]


def queue_counts(*, actor: Actor) -> dict[int, int]:
    """Open tickets per visible queue, for the agent sidebar (one grouped query)."""
    with tenant_context(actor.organization_id):
        qs = restrict(Ticket.objects.all(), actor, "ticket.view").filter(
            status__in=workflow.OPEN_STATUSES
        )
        return {row["queue_id"]: row["n"] for row in qs.values("queue_id").annotate(n=Count("id"))}


def assignable_people(*, actor: Actor, queue_id: int) -> list[Person]:
    """Desk staff who could be assigned tickets of a queue the actor works (members
    only, for a restricted queue); nothing for a queue the actor may not see."""
    with tenant_context(actor.organization_id):
        queue = restrict(Queue.objects.all(), actor, "queue.view").filter(pk=queue_id).first()
        if queue is None:
            return []
        staff = RoleAssignment.objects.filter(role__in=DESK_STAFF).values("user_id")
        users = User.objects.filter(pk__in=staff, is_active=True)
        if queue.restricted_phi:
            users = users.filter(
                pk__in=QueueMembership.objects.filter(queue=queue).values("user_id")
            )
        return [Person(id=u.pk, name=u.name) for u in users.order_by("display_name", "email")]
