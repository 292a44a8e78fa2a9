from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from phidesk.audit.models import AuditEvent
from phidesk.conftest import PATIENT, Tenant


def signed_in(tenant: Tenant, who: str) -> Client:
    client = Client()
    client.force_login(tenant.users[who])
    return client


def test_admin_sees_key_versions_and_ages(hospital: Tenant):
    hospital.file(queue="restricted", **PATIENT)  # the first encrypted ticket makes the keys
    response = signed_in(hospital, "admin").get("/admin/keys/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Key provider" in html and "local" in html and "v1" in html
    assert AuditEvent.objects.filter(action="keys.view", outcome="allowed").exists()


@pytest.mark.parametrize("who", ["agent", "phi_agent", "privacy", "requester"])
def test_others_get_not_found_and_are_audited(hospital: Tenant, who: str):
    client = signed_in(hospital, who)
    assert client.get("/admin/keys/").status_code == 403
    assert client.post("/admin/keys/rotate").status_code == 403
    assert AuditEvent.objects.filter(action="keys.rotate", outcome="denied").count() == 1
    assert "Keys</a>" not in client.get("/portal/").content.decode()


def test_rotation_from_the_page_makes_a_new_version_and_keeps_data_readable(hospital: Tenant):
    key = hospital.file(queue="restricted", **PATIENT)
    client = signed_in(hospital, "admin")
    response = client.post("/admin/keys/rotate", follow=True)
    assert "New key version v2" in response.content.decode()
    event = AuditEvent.objects.get(action="keys.rotate", outcome="allowed")
    assert event.detail["new_version"] == 2 and event.detail["rewrapped"] >= 1
    from phidesk.tickets import services

    revealed = services.ticket_reveal_phi(
        actor=hospital.actor("phi_agent"), key=key, reason="checking after key rotation"
    )
    assert revealed.patient.mrn == PATIENT["patient_mrn"]


def test_cli_key_operations_are_audited(hospital: Tenant, other_hospital: Tenant):
    hospital.file(queue="restricted", **PATIENT)
    call_command("keys", "rotate", "--tenant", hospital.org.slug)
    event = AuditEvent.objects.get(action="keys.rotate")
    assert (event.organization_id, event.reason) == (hospital.org.pk, "operator CLI")
    call_command("keys", "reencrypt")
    assert AuditEvent.objects.filter(action="keys.reencrypt").exists()


def test_api_key_status_for_admin_tokens_only(hospital: Tenant):
    from phidesk.identity.services import token_create

    hospital.file(queue="restricted", **PATIENT)
    admin = token_create(
        actor=None, user=hospital.users["admin"], name="t", scopes=["admin"]
    ).secret
    body = Client(HTTP_AUTHORIZATION=f"Bearer {admin}").get("/api/v1/admin/keys").json()
    assert body["provider"] == "local" and body["tenant_keys"][0]["version"] == 1
    reader = token_create(
        actor=None, user=hospital.users["admin"], name="t", scopes=["tickets:read"]
    ).secret
    assert (
        Client(HTTP_AUTHORIZATION=f"Bearer {reader}").get("/api/v1/admin/keys").status_code == 403
    )
