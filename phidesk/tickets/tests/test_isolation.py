"""Invariant 3: tenants and restricted queues never see each other's rows, via any service."""

from __future__ import annotations

import pytest

from phidesk.access.engine import AccessDenied
from phidesk.audit.models import AuditEvent
from phidesk.conftest import PATIENT, Tenant
from phidesk.tickets import selectors, services

WRITES = [
    (
        "ticket.update",
        lambda a, k: services.ticket_update(actor=a, key=k, changes={"title": "x y"}),
    ),
    ("ticket.assign", lambda a, k: services.ticket_assign(actor=a, key=k, assignee_id=None)),
    ("ticket.view", lambda a, k: services.ticket_transition(actor=a, key=k, to_status="triaged")),
    ("message.reply", lambda a, k: services.message_create(actor=a, key=k, body="hi")),
    (
        "message.note",
        lambda a, k: services.message_create(actor=a, key=k, body="hi", internal=True),
    ),
    (
        "ticket.phi_reveal",
        lambda a, k: services.ticket_reveal_phi(actor=a, key=k, reason="checking the chart"),
    ),
    ("ticket.view", lambda a, k: selectors.ticket_get(actor=a, key=k)),
    ("ticket.view", lambda a, k: selectors.message_list(actor=a, key=k)),
]


@pytest.mark.parametrize(("action", "call"), WRITES)
def test_other_tenant_gets_not_found_and_the_denial_is_audited(
    hospital: Tenant, other_hospital: Tenant, action, call
):
    # The same ticket number exists in both tenants; each resolves only within its own.
    key = hospital.file(queue="restricted", **PATIENT)
    outsider = other_hospital.actor("admin")
    with pytest.raises(AccessDenied) as denied:
        call(outsider, key)
    assert denied.value.status == 404
    last = AuditEvent.objects.order_by("-seq").first()
    assert last.outcome == "denied"
    assert last.organization_id == other_hospital.org.pk
    assert last.actor_user_id == other_hospital.users["admin"].pk


@pytest.mark.parametrize(("action", "call"), WRITES)
def test_restricted_queue_outsider_gets_not_found(hospital: Tenant, action, call):
    key = hospital.file(queue="restricted", **PATIENT)
    with pytest.raises(AccessDenied) as denied:
        call(hospital.actor("outsider_agent"), key)
    assert denied.value.status == 404
    last = AuditEvent.objects.order_by("-seq").first()
    assert (last.outcome, last.resource_type) == ("denied", "ticket")
    assert "restricted queue" in last.reason


def test_lists_never_mix_tenants_or_leak_restricted_tickets(
    hospital: Tenant, other_hospital: Tenant
):
    hospital.file(title="St Marys general")
    hospital.file(queue="restricted", title="St Marys restricted", **PATIENT)
    other_hospital.file(title="Lakeside general")
    titles = lambda actor: {r.title for r in selectors.ticket_list(actor=actor).rows}
    assert titles(hospital.actor("outsider_agent")) == {"St Marys general"}
    assert titles(hospital.actor("phi_agent")) == {"St Marys general", "St Marys restricted"}
    assert titles(other_hospital.actor("phi_agent")) == {"Lakeside general"}
    # A requester sees their own tickets only, restricted queue included.
    assert titles(hospital.actor("requester")) == {"St Marys general", "St Marys restricted"}
    assert titles(hospital.actor("requester2")) == set()
    # Roles without desk duties see nothing they did not request.
    assert titles(hospital.actor("privacy")) == set()


def test_forged_keys_are_plain_not_found(hospital: Tenant):
    hospital.file()
    for key in ("HD-999999", "0", "-1", "HD-", "../../etc", "1 OR 1=1", "x" * 500):
        with pytest.raises(AccessDenied) as denied:
            selectors.ticket_get(actor=hospital.actor("agent"), key=key)
        assert denied.value.status == 404


def test_a_denied_write_rolls_back_and_is_still_audited(hospital: Tenant):
    key = hospital.file()
    before = AuditEvent.objects.count()
    with pytest.raises(AccessDenied):
        services.ticket_update(
            actor=hospital.actor("requester"), key=key, changes={"title": "Hacked"}
        )
    assert selectors.ticket_get(actor=hospital.actor("agent"), key=key).row.title != "Hacked"
    denial = AuditEvent.objects.filter(seq__gt=0).order_by("seq")[before]
    assert (denial.action, denial.outcome) == ("ticket.update", "denied")


def test_assignable_people_only_for_queues_the_actor_works(
    hospital: Tenant, other_hospital: Tenant
):
    phi = selectors.assignable_people(actor=hospital.actor("lead"), queue_id=hospital.restricted.pk)
    assert {p.id for p in phi} == {hospital.users["phi_agent"].pk, hospital.users["lead"].pk}
    assert (
        selectors.assignable_people(
            actor=hospital.actor("outsider_agent"), queue_id=hospital.restricted.pk
        )
        == []
    )
    assert (
        selectors.assignable_people(
            actor=other_hospital.actor("admin"), queue_id=hospital.general.pk
        )
        == []
    )
