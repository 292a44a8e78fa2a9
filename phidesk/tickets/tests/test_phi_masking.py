"""Invariant 1 (at this stage): patient fields leave the service layer masked unless a
decision allowed a reveal with a stated reason, and every reveal is audited."""

from __future__ import annotations

import logging

import pytest

from phidesk.access.engine import AccessDenied
from phidesk.audit.models import AuditEvent
from phidesk.conftest import PATIENT, Tenant
from phidesk.core.errors import InvalidInput
from phidesk.tickets import selectors, services


def test_detail_is_masked_for_everyone_until_revealed(hospital: Tenant):
    key = hospital.file(queue="restricted", **PATIENT)
    for who in ("phi_agent", "lead", "requester"):
        patient = selectors.ticket_get(actor=hospital.actor(who), key=key).patient
        assert patient.present and not patient.revealed
        assert patient.mrn == "***3456"
        assert patient.name == "M*** J***"
        assert "1948" not in patient.dob
        assert "Maria" not in repr(patient)


def test_reveal_needs_a_reason_and_is_audited_with_it(hospital: Tenant):
    key = hospital.file(queue="restricted", **PATIENT)
    actor = hospital.actor("phi_agent", ip="10.1.2.3", user_agent="pytest")
    before = AuditEvent.objects.count()
    with pytest.raises(InvalidInput):
        services.ticket_reveal_phi(actor=actor, key=key, reason="because")
    assert AuditEvent.objects.count() == before
    detail = services.ticket_reveal_phi(
        actor=actor, key=key, reason="Fixing chart access for Dr Lee"
    )
    assert (detail.patient.mrn, detail.patient.name, detail.patient.dob) == (
        "00123456",
        "Maria Jones",
        "1948-03-14",
    )
    event = AuditEvent.objects.get(action="ticket.phi_reveal")
    assert event.reason == "Fixing chart access for Dr Lee"
    assert event.ip == "10.1.2.3"
    assert event.detail["fields"] == ["patient_mrn", "patient_name", "patient_dob"]
    # The patient is named by blind index (for "who saw this patient"), never by MRN.
    assert len(event.detail["patient_index"]) == 64
    assert set(event.detail) == {"fields", "patient_index"}
    # The reveal is also on the ticket's own history, for the team to see.
    history = selectors.ticket_get(actor=actor, key=key).events
    assert history[-1].kind == "phi_revealed"


@pytest.mark.parametrize("who", ["agent", "outsider_agent", "requester", "privacy", "admin"])
def test_reveal_is_refused_and_audited_for_the_wrong_people(hospital: Tenant, who: str):
    key = hospital.file(queue="general", **PATIENT)
    with pytest.raises(AccessDenied):
        services.ticket_reveal_phi(
            actor=hospital.actor(who), key=key, reason="just curious, really"
        )
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.outcome == "denied"


def test_queue_lead_may_reveal_only_in_the_queue_they_lead(hospital: Tenant):
    restricted = hospital.file(queue="restricted", **PATIENT)
    general = hospital.file(queue="general", **PATIENT)
    lead = hospital.actor("lead")
    assert services.ticket_reveal_phi(
        actor=lead, key=restricted, reason="triage of the EHR queue"
    ).patient.revealed
    with pytest.raises(AccessDenied):
        services.ticket_reveal_phi(actor=lead, key=general, reason="triage of the EHR queue")


def test_phi_never_reaches_audit_events_or_logs(hospital: Tenant, caplog):
    caplog.set_level(logging.DEBUG)
    key = hospital.file(queue="restricted", **PATIENT)
    actor = hospital.actor("phi_agent")
    selectors.ticket_get(actor=actor, key=key)
    services.ticket_update(actor=actor, key=key, changes={"patient_name": "Maria J. Jones"})
    services.ticket_reveal_phi(actor=actor, key=key, reason="checking the right chart")
    selectors.ticket_list(actor=actor, filters=selectors.TicketFilters(text="00123456"))
    dumped = [(e.reason, e.detail, e.resource_id, e.user_agent) for e in AuditEvent.objects.all()]
    for value in ("00123456", "Maria", "1948-03-14"):
        assert value not in str(dumped)
        assert value not in caplog.text


def test_requester_does_not_see_the_desks_reveal_history(hospital: Tenant):
    key = hospital.file(queue="restricted", **PATIENT)
    services.ticket_reveal_phi(
        actor=hospital.actor("phi_agent"), key=key, reason="Fixing chart access for Dr Lee"
    )
    requester_view = selectors.ticket_get(actor=hospital.actor("requester"), key=key)
    assert "phi_revealed" not in [e.kind for e in requester_view.events]
    assert "Fixing chart access" not in repr(requester_view)
    agent_view = selectors.ticket_get(actor=hospital.actor("phi_agent"), key=key)
    assert "phi_revealed" in [e.kind for e in agent_view.events]


def test_descriptions_are_sealed_at_rest_and_shown_to_viewers(hospital: Tenant):
    from django.db import connection

    text = "Mrs Alvarez in bed 12 cannot be found in the EHR"
    key = hospital.file(queue="restricted", description=text)
    with connection.cursor() as cursor:
        cursor.execute("SELECT description FROM tickets_ticket")
        stored = cursor.fetchone()[0]
    assert "Alvarez" not in stored
    assert selectors.ticket_get(actor=hospital.actor("phi_agent"), key=key).description == text
    # Free-text search covers titles only, so it cannot probe sealed text.
    agent = hospital.actor("phi_agent")
    assert (
        selectors.ticket_list(actor=agent, filters=selectors.TicketFilters(text="Alvarez")).total
        == 0
    )
    # Editing it to the same text changes nothing; to a new text, it is recorded by name only.
    services.ticket_update(actor=agent, key=key, changes={"description": text})
    assert AuditEvent.objects.filter(action="ticket.update").count() == 0
    services.ticket_update(actor=agent, key=key, changes={"description": "Patient found."})
    assert AuditEvent.objects.get(action="ticket.update").detail["fields"] == ["description"]
