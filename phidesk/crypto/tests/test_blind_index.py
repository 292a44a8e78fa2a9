"""Blind indexes: exact-match search by MRN without decrypting, keyed per tenant, normalized,
limited to people who may reveal the patient, and never written to the audit log."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phidesk.audit.models import AuditEvent
from phidesk.conftest import PATIENT, Tenant
from phidesk.core.errors import InvalidInput
from phidesk.crypto.blind import normalize
from phidesk.crypto.services import blind_index
from phidesk.crypto.tests.conftest import ticket_of
from phidesk.tickets import selectors, services


@given(st.text(max_size=40))
def test_normalization_is_idempotent(value: str):
    for kind in ("mrn", "name", "dob", "text"):
        assert normalize(kind, normalize(kind, value)) == normalize(kind, value)


def test_normalization_matches_what_people_type():
    assert normalize("mrn", " 0012 3456 ") == normalize("mrn", "00123456")
    assert normalize("mrn", "ab-123") == "AB-123"
    assert normalize("name", "  MARIA   jones ") == normalize("name", "Maria Jones")
    assert normalize("name", "Straße") == normalize("name", "STRASSE")
    assert normalize("dob", " 1948-03-14 ") == "1948-03-14"


def test_indexes_are_keyed_per_tenant_and_kind(hospital: Tenant, other_hospital: Tenant):
    ours = blind_index(organization_id=hospital.org.pk, kind="mrn", value="00123456")
    theirs = blind_index(organization_id=other_hospital.org.pk, kind="mrn", value="00123456")
    as_name = blind_index(organization_id=hospital.org.pk, kind="name", value="00123456")
    assert len(ours) == 64 and ours != theirs and ours != as_name
    assert ours == blind_index(organization_id=hospital.org.pk, kind="mrn", value=" 00123456")
    assert blind_index(organization_id=hospital.org.pk, kind="mrn", value="  ") == ""


def test_ticket_rows_carry_indexes_not_values(hospital: Tenant):
    ticket = ticket_of(hospital, hospital.file(queue="restricted", **PATIENT))
    org = hospital.org.pk
    assert ticket.patient_mrn_bidx == blind_index(organization_id=org, kind="mrn", value="00123456")
    assert ticket.patient_name_bidx == blind_index(
        organization_id=org, kind="name", value="maria  JONES"
    )
    assert ticket.patient_dob_bidx == blind_index(
        organization_id=org, kind="dob", value="1948-03-14"
    )


def test_updating_a_patient_field_updates_its_index(hospital: Tenant):
    key = hospital.file(queue="restricted", **PATIENT)
    services.ticket_update(
        actor=hospital.actor("phi_agent"), key=key, changes={"patient_mrn": "00987654"}
    )
    ticket = ticket_of(hospital, key)
    assert ticket.patient_mrn_bidx == blind_index(
        organization_id=hospital.org.pk, kind="mrn", value="00987654"
    )


def test_unchanged_patient_fields_are_not_reported_as_changed(hospital: Tenant):
    key = hospital.file(queue="restricted", **PATIENT)
    services.ticket_update(
        actor=hospital.actor("phi_agent"), key=key, changes={"patient_mrn": "00123456"}
    )
    assert not AuditEvent.objects.filter(action="ticket.update").exists()


def test_agents_who_may_reveal_find_tickets_by_mrn(hospital: Tenant, other_hospital: Tenant):
    wanted = hospital.file(queue="restricted", **PATIENT)
    hospital.file(queue="restricted", patient_mrn="00987654")
    hospital.file(queue="restricted")
    other_hospital.file(queue="restricted", **PATIENT)
    found = selectors.ticket_list(
        actor=hospital.actor("phi_agent"), filters=selectors.TicketFilters(patient_mrn="0012 3456")
    )
    assert [row.key for row in found.rows] == [wanted]


@pytest.mark.parametrize("who", ["agent", "outsider_agent", "requester", "admin", "privacy"])
def test_people_who_may_not_reveal_cannot_search_by_patient(hospital: Tenant, who: str):
    hospital.file(queue="general", **PATIENT)
    hospital.file(who if who == "requester" else "requester", queue="restricted", **PATIENT)
    found = selectors.ticket_list(
        actor=hospital.actor(who), filters=selectors.TicketFilters(patient_mrn="00123456")
    )
    assert found.total == 0


def test_mrn_search_is_audited_without_the_mrn(hospital: Tenant):
    hospital.file(queue="restricted", **PATIENT)
    selectors.ticket_list(
        actor=hospital.actor("phi_agent"), filters=selectors.TicketFilters(patient_mrn="00123456")
    )
    event = AuditEvent.objects.filter(action="ticket.list").latest("seq")
    assert event.detail["filters"] == {"sort": "newest", "by_patient_mrn": True}
    assert "00123456" not in str(event.detail)


@pytest.mark.parametrize("bad", ["   ", "<script>", "x"])
def test_malformed_mrn_search_is_a_clear_400(hospital: Tenant, bad: str):
    with pytest.raises(InvalidInput) as error:
        selectors.ticket_list(
            actor=hospital.actor("phi_agent"), filters=selectors.TicketFilters(patient_mrn=bad)
        )
    assert error.value.field == "patient_mrn"


def test_patient_index_for_audit_search_matches_the_ticket_column(hospital: Tenant):
    from phidesk.crypto.services import patient_index

    ticket = ticket_of(hospital, hospital.file(queue="restricted", **PATIENT))
    assert patient_index(" 00123456", hospital.org.pk) == ticket.patient_mrn_bidx
