"""The access policy as data: which roles may do which action, under which conditions.

Adding a capability means adding a Rule here, never an `if role == ...` in a view.
Each condition knows how to test one resource and how to filter a queryset, so the
list a person sees and the decision on one row can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from phidesk.access.roles import Role
from phidesk.core.actor import Actor

ALL_ROLES = frozenset(Role)
DESK_STAFF = frozenset({Role.AGENT, Role.PHI_AGENT, Role.QUEUE_LEAD, Role.ADMIN})


@dataclass(frozen=True)
class Condition:
    name: str
    explain_fail: str
    test: Callable[[Actor, Any], bool]
    # Filter for querysets of the resource's model; None if the condition is not a row filter.
    q: Callable[[Actor], Q] | None = None


def _ticket_queue_open(actor: Actor, ticket: Any) -> bool:
    return (not ticket.queue_restricted) or ticket.queue_id in actor.queue_ids


QUEUE_OPEN_TO_ACTOR = Condition(
    name="queue_open_to_actor",
    explain_fail="the ticket is in a restricted queue the actor is not a member of",
    test=_ticket_queue_open,
    q=lambda actor: Q(queue__restricted_phi=False) | Q(queue_id__in=actor.queue_ids),
)

IS_REQUESTER = Condition(
    name="is_requester",
    explain_fail="the actor did not request this ticket",
    test=lambda actor, ticket: ticket.requester_id == actor.user_id,
    q=lambda actor: Q(requester_id=actor.user_id),
)

LEADS_QUEUE = Condition(
    name="leads_queue",
    explain_fail="the actor does not lead this ticket's queue",
    test=lambda actor, ticket: ticket.queue_id in actor.lead_queue_ids,
    q=lambda actor: Q(queue_id__in=actor.lead_queue_ids),
)

QUEUE_IS_MEMBER_OR_OPEN = Condition(
    name="queue_member_or_open",
    explain_fail="the queue is restricted and the actor is not a member",
    test=lambda actor, queue: (not queue.restricted_phi) or queue.id in actor.queue_ids,
    q=lambda actor: Q(restricted_phi=False) | Q(id__in=actor.queue_ids),
)

QUEUE_ACCEPTS_REQUESTS = Condition(
    name="queue_accepts_requests",
    explain_fail="the queue does not accept requests",
    test=lambda actor, queue: bool(queue.accepts_requests),
    q=lambda actor: Q(accepts_requests=True),
)


@dataclass(frozen=True)
class Rule:
    id: str
    action: str
    roles: frozenset[str]
    when: tuple[Condition, ...] = ()
    # The API-token scope an actor must hold for this action (tokens only).
    scope: str = "tickets:read"
    # When the actor cannot even see the resource, answer 404 rather than 403.
    hide_existence: bool = True


READ = "tickets:read"
WRITE = "tickets:write"

RULES: tuple[Rule, ...] = (
    # Tickets: seeing them.
    Rule("ticket.view/staff", "ticket.view", DESK_STAFF, (QUEUE_OPEN_TO_ACTOR,)),
    Rule("ticket.view/requester", "ticket.view", ALL_ROLES, (IS_REQUESTER,)),
    # Tickets: filing them. The resource is the target queue.
    Rule("ticket.create/staff", "ticket.create", DESK_STAFF, (QUEUE_IS_MEMBER_OR_OPEN,), WRITE),
    Rule("ticket.create/any", "ticket.create", ALL_ROLES, (QUEUE_ACCEPTS_REQUESTS,), WRITE),
    # Queues: working them (agent views, filters, move targets) and filing into them.
    Rule("queue.view/staff", "queue.view", DESK_STAFF, (QUEUE_IS_MEMBER_OR_OPEN,)),
    Rule("queue.intake/any", "queue.intake", ALL_ROLES, (QUEUE_ACCEPTS_REQUESTS,)),
    # Tickets: working them.
    Rule("ticket.update/staff", "ticket.update", DESK_STAFF, (QUEUE_OPEN_TO_ACTOR,), WRITE, False),
    Rule("ticket.assign/staff", "ticket.assign", DESK_STAFF, (QUEUE_OPEN_TO_ACTOR,), WRITE, False),
    Rule(
        "ticket.transition/staff",
        "ticket.transition",
        DESK_STAFF,
        (QUEUE_OPEN_TO_ACTOR,),
        WRITE,
        False,
    ),
    Rule(
        "ticket.requester_transition/own",
        "ticket.requester_transition",
        ALL_ROLES,
        (IS_REQUESTER,),
        WRITE,
        False,
    ),
    # Conversation.
    Rule("message.reply/staff", "message.reply", DESK_STAFF, (QUEUE_OPEN_TO_ACTOR,), WRITE, False),
    Rule("message.reply/requester", "message.reply", ALL_ROLES, (IS_REQUESTER,), WRITE, False),
    Rule("message.note/staff", "message.note", DESK_STAFF, (QUEUE_OPEN_TO_ACTOR,), WRITE, False),
    Rule(
        "message.view_notes/staff",
        "message.view_notes",
        DESK_STAFF,
        (QUEUE_OPEN_TO_ACTOR,),
        READ,
        False,
    ),
    # Patient context: revealing it is a deliberate, recorded act.
    Rule(
        "ticket.phi_reveal/phi_agent",
        "ticket.phi_reveal",
        frozenset({Role.PHI_AGENT}),
        (QUEUE_OPEN_TO_ACTOR,),
        "phi:reveal",
        False,
    ),
    Rule(
        "ticket.phi_reveal/lead",
        "ticket.phi_reveal",
        frozenset({Role.QUEUE_LEAD}),
        (LEADS_QUEUE,),
        "phi:reveal",
        False,
    ),
    Rule(
        "ticket.phi_edit/phi_agent",
        "ticket.phi_edit",
        frozenset({Role.PHI_AGENT}),
        (QUEUE_OPEN_TO_ACTOR,),
        WRITE,
        False,
    ),
    # Crypto-shredding a case (phidesk.crypto.services.shred): destroys its data key, so
    # its PHI and conversation become unrecoverable. Retention and privacy work, not
    # desk work: the privacy officer and the administrator, whatever the queue.
    Rule(
        "ticket.shred/privacy",
        "ticket.shred",
        frozenset({Role.PRIVACY_OFFICER, Role.ADMIN}),
        (),
        "admin",
    ),
    # Keys: administrators see their organization's key state and may rotate its KEK.
    Rule("keys.view/admin", "keys.view", frozenset({Role.ADMIN}), (), "admin", False),
    Rule("keys.rotate/admin", "keys.rotate", frozenset({Role.ADMIN}), (), "admin", False),
    # Directory and tokens.
    Rule("user.list/admin", "user.list", frozenset({Role.ADMIN}), (), "admin", False),
    Rule("token.manage/admin", "token.manage", frozenset({Role.ADMIN}), (), "admin", False),
    Rule(
        "audit.view/privacy",
        "audit.view",
        frozenset({Role.PRIVACY_OFFICER, Role.AUDITOR}),
        (),
        "audit:read",
        False,
    ),
    # Exporting audit events (CSV/JSONL) is a separate, audited act.
    Rule(
        "audit.export/privacy",
        "audit.export",
        frozenset({Role.PRIVACY_OFFICER, Role.AUDITOR}),
        (),
        "audit:read",
        False,
    ),
    # Keeping one's own saved audit searches and their emailed notices (owner only;
    # they hold filters, never audit data, hence the audit:read scope).
    Rule(
        "audit.saved_search/privacy",
        "audit.saved_search",
        frozenset({Role.PRIVACY_OFFICER, Role.AUDITOR}),
        (),
        "audit:read",
        False,
    ),
)

TOKEN_SCOPES = ("tickets:read", "tickets:write", "phi:reveal", "audit:read", "admin")


def rules_for(action: str) -> tuple[Rule, ...]:
    return tuple(r for r in RULES if r.action == action)


def known_actions() -> frozenset[str]:
    return frozenset(r.action for r in RULES)
