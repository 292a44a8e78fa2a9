"""Invariant 4: destroying a case's data key makes its PHI and conversation unrecoverable,
reads show a clear "destroyed" state, and the destruction leaves an audit certificate."""

from __future__ import annotations

import pytest

from phidesk.access.engine import AccessDenied
from phidesk.audit.models import AuditEvent
from phidesk.conftest import PATIENT, Tenant
from phidesk.core.errors import InvalidInput
from phidesk.core.tenant_context import tenant_context
from phidesk.crypto import cipher
from phidesk.crypto.errors import KeyDestroyed
from phidesk.crypto.models import DataKey, KeyState
from phidesk.crypto.services import is_shredded, shred
from phidesk.crypto.tests.conftest import ticket_of
from phidesk.tickets import selectors, services
from phidesk.tickets.models import Message

REASON = "retention period ended for this case"


def case(tenant: Tenant) -> str:
    key = tenant.file(queue="restricted", **PATIENT)
    services.message_create(actor=tenant.actor("requester"), key=key, body="Maria's chart, bed 4")
    services.message_create(
        actor=tenant.actor("phi_agent"), key=key, body="internal: MRN checked", internal=True
    )
    return key


def test_privacy_officer_shreds_a_case_and_the_audit_log_has_the_certificate(hospital: Tenant):
    key = case(hospital)
    survivor = case(hospital)
    certificate = services.ticket_shred(actor=hospital.actor("privacy"), key=key, reason=REASON)
    assert certificate.data_key_ids and len(certificate.digest) == 64

    event = AuditEvent.objects.get(action="ticket.shred")
    assert event.outcome == "allowed" and event.reason == REASON
    assert event.detail["certificate"] == certificate.digest
    assert event.detail["data_key_ids"] == list(certificate.data_key_ids)
    assert "Maria" not in str(event.detail)

    agent = hospital.actor("phi_agent")
    detail = services.ticket_reveal_phi(actor=agent, key=key, reason="checking after the purge")
    assert detail.patient.present
    assert (detail.patient.mrn, detail.patient.name, detail.patient.dob) == ("[destroyed]",) * 3
    assert {m.body for m in detail.messages} == {"[destroyed]"}
    assert detail.events[-2].kind == "shredded"
    masked = selectors.ticket_get(actor=agent, key=key).patient
    assert masked.mrn == "[destroyed]"

    # The other case is untouched.
    other = services.ticket_reveal_phi(actor=agent, key=survivor, reason="unrelated case check")
    assert other.patient.mrn == "00123456"
    assert "Maria's chart, bed 4" in {m.body for m in other.messages}


def test_the_key_material_is_gone_not_just_flagged(hospital: Tenant):
    key = case(hospital)
    ticket = ticket_of(hospital, key)
    with tenant_context(hospital.org.pk):
        shred(record=ticket)
        keys = list(DataKey.objects.filter(owner_uuid=ticket.uuid))
        messages = list(Message.objects.filter(ticket=ticket))
    assert keys and all(k.state == KeyState.DESTROYED and bytes(k.wrapped) == b"" for k in keys)
    with pytest.raises(KeyDestroyed):
        cipher.open_value(ticket, "patient_mrn")
    with pytest.raises(KeyDestroyed):
        cipher.open_value(messages[0], "body")
    assert is_shredded(record=ticket)
    assert ticket_of(hospital, key).patient_mrn_bidx == ""  # no longer findable by MRN


def test_shredded_case_can_no_longer_be_found_by_mrn(hospital: Tenant):
    key = case(hospital)
    agent = hospital.actor("phi_agent")
    by_mrn = selectors.TicketFilters(patient_mrn="00123456")
    assert selectors.ticket_list(actor=agent, filters=by_mrn).total == 1
    services.ticket_shred(actor=hospital.actor("admin"), key=key, reason=REASON)
    assert selectors.ticket_list(actor=agent, filters=by_mrn).total == 0


def test_case_keeps_working_after_shredding(hospital: Tenant):
    key = case(hospital)
    services.ticket_shred(actor=hospital.actor("privacy"), key=key, reason=REASON)
    detail = services.message_create(actor=hospital.actor("requester"), key=key, body="still here")
    assert [m.body for m in detail.messages] == ["[destroyed]", "still here"]
    assert not is_shredded(record=ticket_of(hospital, key))


def test_shredding_a_case_without_sealed_data_leaves_a_tombstone(hospital: Tenant):
    key = hospital.file(queue="general")
    services.ticket_shred(actor=hospital.actor("privacy"), key=key, reason=REASON)
    assert is_shredded(record=ticket_of(hospital, key))


@pytest.mark.parametrize("who", ["agent", "phi_agent", "lead", "requester", "auditor"])
def test_only_privacy_officers_and_admins_shred(hospital: Tenant, who: str):
    key = case(hospital)
    with pytest.raises(AccessDenied) as denied:
        services.ticket_shred(actor=hospital.actor(who), key=key, reason=REASON)
    assert denied.value.status == 404
    assert AuditEvent.objects.filter(action="ticket.shred", outcome="denied").count() == 1
    assert not is_shredded(record=ticket_of(hospital, key))


def test_shredding_needs_a_reason_and_a_ticket_of_ones_own_tenant(
    hospital: Tenant, other_hospital: Tenant
):
    key = case(hospital)
    with pytest.raises(InvalidInput):
        services.ticket_shred(actor=hospital.actor("privacy"), key=key, reason="because")
    with pytest.raises(AccessDenied):
        services.ticket_shred(actor=other_hospital.actor("privacy"), key=key, reason=REASON)
    assert not is_shredded(record=ticket_of(hospital, key))
