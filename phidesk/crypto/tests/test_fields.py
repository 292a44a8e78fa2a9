"""PHIField storage: only ciphertext reaches the database, values open only in their own
row, field, tenant and environment, and nothing writes or queries plaintext by mistake."""

from __future__ import annotations

import itertools

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phidesk.conftest import PATIENT, Tenant
from phidesk.core.fields import ENVELOPE_PREFIX, PlaintextRefused, Sealed
from phidesk.core.tenant_context import tenant_context
from phidesk.crypto import cipher, keyring
from phidesk.crypto.errors import DecryptionFailed
from phidesk.crypto.services import reveal
from phidesk.tickets import services
from phidesk.tickets.models import Message, Ticket

_numbers = itertools.count(10_000)


def raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cur:
        cur.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return str(cur.fetchone()[0])


def set_raw(table: str, column: str, pk: int, value: str) -> None:
    with connection.cursor() as cur:
        cur.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [value, pk])  # noqa: S608


def new_ticket(tenant: Tenant, **phi: str) -> Ticket:
    with tenant_context(tenant.org.pk):
        ticket = Ticket(
            organization=tenant.org,
            number=next(_numbers),
            queue=tenant.restricted,
            title="Chart will not open",
            requester=tenant.users["requester"],
            **phi,
        )
        ticket.save()
        return Ticket.objects.get(pk=ticket.pk)


def test_columns_hold_envelopes_and_models_hold_sealed_values(hospital: Tenant):
    ticket = new_ticket(hospital, **PATIENT)
    for name, value in PATIENT.items():
        stored = raw("tickets_ticket", name, ticket.pk)
        assert stored.startswith(ENVELOPE_PREFIX) and value not in stored
        sealed = getattr(ticket, name)
        assert isinstance(sealed, Sealed) and sealed
        assert str(sealed) == "[encrypted]" and repr(sealed) == "<Sealed>"
        assert value not in f"{sealed} {sealed!r} {ticket!r} {ticket.__dict__}"
    assert reveal(ticket, PATIENT) == PATIENT


def test_blank_stays_blank_and_needs_no_key(hospital: Tenant):
    ticket = new_ticket(hospital)
    assert raw("tickets_ticket", "patient_mrn", ticket.pk) == ""
    assert ticket.patient_mrn == "" and ticket.patient_mrn_bidx == ""
    assert reveal(ticket, ["patient_mrn"]) == {"patient_mrn": ""}


def test_save_replaces_the_plain_value_with_its_sealed_form(hospital: Tenant):
    with tenant_context(hospital.org.pk):
        ticket = Ticket(
            organization=hospital.org,
            number=next(_numbers),
            queue=hospital.general,
            title="x",
            requester=hospital.users["requester"],
            patient_mrn="00123456",
        )
        ticket.save()
    assert isinstance(ticket.patient_mrn, Sealed)
    ticket.title = "y"
    with tenant_context(hospital.org.pk):
        before = raw("tickets_ticket", "patient_mrn", ticket.pk)
        ticket.save()  # unchanged PHI is not re-encrypted on unrelated saves
    assert raw("tickets_ticket", "patient_mrn", ticket.pk) == before


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.text(min_size=1, max_size=200).filter(lambda s: "\x00" not in s))
def test_round_trip_through_the_database(hospital: Tenant, value: str):
    ticket = new_ticket(hospital, patient_name=value)
    stored = raw("tickets_ticket", "patient_name", ticket.pk)
    assert stored.startswith(ENVELOPE_PREFIX) and stored != value
    assert cipher.open_value(ticket, "patient_name") == value


def test_ciphertext_moved_to_another_row_fails(hospital: Tenant):
    a = new_ticket(hospital, patient_mrn="00123456")
    b = new_ticket(hospital, patient_mrn="00987654")
    set_raw("tickets_ticket", "patient_mrn", b.pk, raw("tickets_ticket", "patient_mrn", a.pk))
    with tenant_context(hospital.org.pk):
        b = Ticket.objects.get(pk=b.pk)
    with pytest.raises(DecryptionFailed):
        cipher.open_value(b, "patient_mrn")
    # Pages read "[unreadable]" rather than failing.
    assert reveal(b, ["patient_mrn"]) == {"patient_mrn": "[unreadable]"}


def test_ciphertext_moved_to_another_field_fails(hospital: Tenant):
    t = new_ticket(hospital, **PATIENT)
    set_raw("tickets_ticket", "patient_name", t.pk, raw("tickets_ticket", "patient_mrn", t.pk))
    with tenant_context(hospital.org.pk):
        t = Ticket.objects.get(pk=t.pk)
    with pytest.raises(DecryptionFailed):
        cipher.open_value(t, "patient_name")
    assert cipher.open_value(t, "patient_mrn") == PATIENT["patient_mrn"]


def test_ciphertext_moved_to_another_tenant_fails(hospital: Tenant, other_hospital: Tenant):
    mine = new_ticket(hospital, patient_mrn="00123456")
    theirs = new_ticket(other_hospital, patient_mrn="00555555")
    set_raw(
        "tickets_ticket", "patient_mrn", theirs.pk, raw("tickets_ticket", "patient_mrn", mine.pk)
    )
    with tenant_context(other_hospital.org.pk):
        theirs = Ticket.objects.get(pk=theirs.pk)
    with pytest.raises(DecryptionFailed, match="no data key"):
        cipher.open_value(theirs, "patient_mrn")


def test_message_body_moved_between_messages_fails(hospital: Tenant):
    key = hospital.file("requester", queue="restricted")
    services.message_create(actor=hospital.actor("requester"), key=key, body="first body")
    services.message_create(actor=hospital.actor("requester"), key=key, body="second body")
    with tenant_context(hospital.org.pk):
        one, two = Message.objects.order_by("id")
        set_raw("tickets_message", "body", two.pk, raw("tickets_message", "body", one.pk))
        two = Message.objects.get(pk=two.pk)
    with pytest.raises(DecryptionFailed):
        cipher.open_value(two, "body")
    assert cipher.open_value(one, "body") == "first body"


def test_wrong_environment_fails_clearly(hospital: Tenant, settings):
    ticket = new_ticket(hospital, **PATIENT)
    settings.PHIDESK_ENV = "production"
    keyring.clear_cache()
    with pytest.raises(DecryptionFailed, match="environment"):
        cipher.open_value(ticket, "patient_mrn")
    settings.PHIDESK_ENV = "test"
    assert cipher.open_value(ticket, "patient_mrn") == PATIENT["patient_mrn"]


def test_wrong_environment_fails_even_with_the_key_at_hand(hospital: Tenant, settings):
    """The environment is also in each value's associated data, not only in the KEK's."""
    ticket = new_ticket(hospital, patient_mrn="00123456")
    with tenant_context(hospital.org.pk):
        value = ticket.patient_mrn
    envelope = cipher.Envelope.from_text(value.token)
    key = keyring.open_data_keys(hospital.org.pk, [envelope.key_id])[envelope.key_id]
    assert isinstance(key, bytes)
    settings.PHIDESK_ENV = "production"
    with pytest.raises(DecryptionFailed):
        cipher.open_text(
            key=key, envelope=envelope, aad=cipher.aad_for(ticket, "patient_mrn", envelope.key_id)
        )


def test_plaintext_cannot_reach_the_database_around_save(hospital: Tenant):
    ticket = new_ticket(hospital, **PATIENT)
    with tenant_context(hospital.org.pk):
        with pytest.raises(PlaintextRefused), transaction.atomic():
            Ticket.objects.filter(pk=ticket.pk).update(patient_mrn="00123456")
        with pytest.raises(PlaintextRefused):
            list(Ticket.objects.filter(patient_mrn="00123456"))
        with pytest.raises(PlaintextRefused):
            list(Ticket.objects.filter(patient_name__icontains="Maria"))
        ticket.patient_mrn = "00999999"
        with pytest.raises(PlaintextRefused), transaction.atomic():
            Ticket.objects.bulk_update([ticket], ["patient_mrn"])
        # Blank checks are fine: they reveal nothing the list view does not.
        assert Ticket.objects.filter(pk=ticket.pk).exclude(patient_mrn="").exists()
    assert "00123456" not in raw("tickets_ticket", "patient_mrn", ticket.pk)


def test_values_written_in_clear_before_encryption_still_read_and_get_sealed(hospital: Tenant):
    ticket = new_ticket(hospital)
    set_raw("tickets_ticket", "patient_mrn", ticket.pk, "00123456")
    with tenant_context(hospital.org.pk):
        ticket = Ticket.objects.get(pk=ticket.pk)
        assert ticket.patient_mrn.legacy and str(ticket.patient_mrn) == "[encrypted]"
        assert reveal(ticket, ["patient_mrn"]) == {"patient_mrn": "00123456"}
        ticket.save()
    assert raw("tickets_ticket", "patient_mrn", ticket.pk).startswith(ENVELOPE_PREFIX)
    assert ticket.patient_mrn_bidx  # indexed on the way
