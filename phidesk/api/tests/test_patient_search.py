from __future__ import annotations

import json

from django.test import Client

from phidesk.audit.models import AuditEvent
from phidesk.conftest import PASSWORD, PATIENT, Tenant
from phidesk.identity.services import token_create


def client_for(tenant: Tenant, who: str, scopes: list[str]) -> Client:
    secret = token_create(actor=None, user=tenant.users[who], name="t", scopes=scopes).secret
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def search(client: Client, mrn: str):
    return client.post(
        "/api/v1/tickets/by-patient", data=json.dumps({"mrn": mrn}), content_type="application/json"
    )


def test_phi_agent_finds_tickets_by_exact_mrn(hospital: Tenant, other_hospital: Tenant):
    key = hospital.file(queue="restricted", **PATIENT)
    hospital.file(queue="restricted", patient_mrn="00999999")
    other_hospital.file(queue="restricted", **PATIENT)  # same MRN, other hospital
    client = client_for(hospital, "phi_agent", ["tickets:read", "phi:reveal"])
    body = search(client, "0012 3456").json()
    assert [i["key"] for i in body["items"]] == [key]
    assert search(client, "00123457").json()["total"] == 0
    event = AuditEvent.objects.filter(action="ticket.list").order_by("-seq").first()
    assert event.detail["filters"]["by_patient_mrn"] is True
    assert "00123456" not in json.dumps(event.detail)


def test_patient_search_finds_nothing_for_people_who_may_not_reveal(hospital: Tenant):
    hospital.file(queue="general", **PATIENT)
    for who in ("agent", "requester"):
        client = client_for(hospital, who, ["tickets:read", "phi:reveal"])
        assert search(client, PATIENT["patient_mrn"]).json()["total"] == 0
    # Without the phi:reveal scope, even a PHI agent's token finds nothing.
    client = client_for(hospital, "phi_agent", ["tickets:read"])
    assert search(client, PATIENT["patient_mrn"]).json()["total"] == 0


def test_patient_search_rejects_bad_mrn(hospital: Tenant):
    client = client_for(hospital, "phi_agent", ["tickets:read", "phi:reveal"])
    assert search(client, "<script>").status_code == 400
    assert search(client, "").status_code == 422


def test_web_patient_search_is_post_only_and_hidden_from_agents(hospital: Tenant):
    key = hospital.file(queue="restricted", **PATIENT)
    client = Client()
    client.login(email="phi_agent@stmarys.example", password=PASSWORD)
    page = client.get("/desk/patient/")
    assert page.status_code == 200
    response = client.post("/desk/patient/", {"mrn": "00123456"})
    assert response.status_code == 200
    html = response.content.decode()
    assert key in html
    assert "00123456" not in html  # the results show masked rows, and the form is not refilled
    agent = Client()
    agent.login(email="agent@stmarys.example", password=PASSWORD)
    assert "Find patient" not in agent.get("/desk/").content.decode()
    assert key not in agent.post("/desk/patient/", {"mrn": "00123456"}).content.decode()


def test_empty_mrn_never_means_every_ticket(hospital: Tenant):
    hospital.file(queue="restricted", **PATIENT)
    client = Client()
    client.login(email="phi_agent@stmarys.example", password=PASSWORD)
    response = client.post("/desk/patient/", {"mrn": "  "})
    assert response.status_code == 400
    assert "HD-000001" not in response.content.decode()


def test_request_log_never_carries_query_strings_or_bodies(hospital: Tenant, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="phidesk.request")
    hospital.file(queue="restricted", **PATIENT)
    client = client_for(hospital, "phi_agent", ["tickets:read", "phi:reveal"])
    client.get("/api/v1/tickets?q=Maria+Jones")
    search(client, "00123456")
    lines = [r.getMessage() for r in caplog.records if r.name == "phidesk.request"]
    assert any(line.startswith("GET /api/v1/tickets 200") for line in lines)
    assert all("Maria" not in line and "00123456" not in line for line in lines)
