from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from phidesk.access.declare import governed_by
from phidesk.access.engine import decide, restrict
from phidesk.access.policy import RULES, known_actions
from phidesk.conftest import PATIENT, PERSONAS, Tenant
from phidesk.core.tenant_context import tenant_context
from phidesk.tickets.models import Ticket


def test_unknown_action_is_denied_with_a_reason(hospital: Tenant):
    decision = decide(hospital.actor("admin"), "ticket.launch_missiles", None)
    assert not decision.allowed
    assert "no policy" in decision.reason


def test_every_rule_names_a_known_role_and_scope():
    from phidesk.access.policy import TOKEN_SCOPES
    from phidesk.access.roles import Role

    for rule in RULES:
        assert rule.roles <= set(Role), rule.id
        assert rule.scope in TOKEN_SCOPES, rule.id


def test_governed_by_refuses_unknown_actions():
    with pytest.raises(ValueError):
        governed_by("ticket.does_not_exist")


def test_decision_explains_restricted_queue_denial(hospital: Tenant):
    key = hospital.file(queue="restricted", **PATIENT)
    with tenant_context(hospital.org.pk):
        ticket = Ticket.objects.select_related("queue").get(number=int(key[3:]))
    denied = decide(hospital.actor("outsider_agent"), "ticket.view", ticket)
    assert not denied.allowed
    assert "restricted queue" in denied.reason
    allowed = decide(hospital.actor("phi_agent"), "ticket.view", ticket)
    assert allowed.allowed and allowed.rule == "ticket.view/staff"


def test_other_tenant_is_denied_first(hospital: Tenant, other_hospital: Tenant):
    hospital.file()
    with tenant_context(hospital.org.pk):
        ticket = Ticket.objects.select_related("queue").get()
    decision = decide(other_hospital.actor("admin"), "ticket.view", ticket)
    assert not decision.allowed
    assert "another organization" in decision.reason


def test_token_scopes_narrow_the_user_rights(hospital: Tenant):
    key = hospital.file(queue="restricted", **PATIENT)
    with tenant_context(hospital.org.pk):
        ticket = Ticket.objects.select_related("queue").get(number=int(key[3:]))
    full = hospital.actor("phi_agent")
    read_only = replace(full, token_id=1, token_scopes=frozenset({"tickets:read"}))
    assert decide(full, "ticket.phi_reveal", ticket).allowed
    assert decide(read_only, "ticket.view", ticket).allowed
    denied = decide(read_only, "ticket.phi_reveal", ticket)
    assert not denied.allowed and "scope" in denied.reason
    assert not decide(read_only, "ticket.update", ticket).allowed


TICKET_ACTIONS = sorted(
    a for a in known_actions() if a.startswith(("ticket.", "message.")) and a != "ticket.create"
)


@pytest.mark.parametrize("action", TICKET_ACTIONS)
def test_list_filter_agrees_with_decide_for_every_persona(
    hospital: Tenant, other_hospital: Tenant, action: str
):
    """The NetBox rule: the rows `restrict` returns are exactly those `decide` allows."""
    for tenant, queue, who in itertools.product(
        (hospital, other_hospital), ("general", "restricted"), ("requester", "requester2")
    ):
        tenant.file(who, queue=queue)
    for tenant, persona in itertools.product((hospital, other_hospital), PERSONAS):
        actor = tenant.actor(persona)
        with tenant_context(actor.organization_id):
            every = list(Ticket.unscoped.select_related("queue"))
            by_decide = {t.pk for t in every if decide(actor, action, t).allowed}
            by_filter = set(
                restrict(Ticket.objects.all(), actor, action).values_list("pk", flat=True)
            )
        assert by_filter == by_decide, (persona, action)


def test_restricted_queue_visible_only_to_members(hospital: Tenant):
    from phidesk.tickets.selectors import queue_list

    member = {q.slug for q in queue_list(actor=hospital.actor("phi_agent"))}
    outsider = {q.slug for q in queue_list(actor=hospital.actor("outsider_agent"))}
    assert member == {"it-general", "ehr-phi"}
    assert outsider == {"it-general"}
    # Anyone can still file a ticket into it: it accepts requests.
    intake = {q.slug for q in queue_list(actor=hospital.actor("requester"), purpose="intake")}
    assert intake == {"it-general", "ehr-phi"}
