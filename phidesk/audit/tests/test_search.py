"""Audit search and reports: privacy officers and auditors only; every search is audited."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client

from phidesk.audit.checkpoints import checkpoint_create
from phidesk.audit.models import AuditEvent
from phidesk.audit.selectors import EventFilter, audit_event_proof, audit_event_search
from phidesk.audit.services import record
from phidesk.audit.standalone_verify import (
    VerifierKey,
    canonical_json,
    chain_hash,
    open_checkpoint,
    verify_inclusion,
)
from phidesk.conftest import PATIENT, Tenant
from phidesk.core.errors import InvalidInput, NotFound
from phidesk.identity.services import token_create

pytestmark = pytest.mark.django_db

OUTSIDERS = ["requester", "agent", "phi_agent", "lead", "admin"]


def web(tenant: Tenant, who: str) -> Client:
    client = Client()
    client.force_login(tenant.users[who])
    return client


def api(tenant: Tenant, who: str, scopes=("audit:read",)) -> Client:
    issued = token_create(actor=None, user=tenant.users[who], name="t", scopes=list(scopes))
    return Client(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")


def last(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).order_by("-seq").first()


@pytest.fixture
def activity(hospital: Tenant, other_hospital: Tenant) -> Tenant:
    """Tickets filed and viewed, a denial, and another tenant's events."""
    hospital.file(title="Printer jammed")
    hospital.file(queue="restricted", title="Chart will not open", **PATIENT)
    agent = hospital.actor("agent", ip="10.1.2.3")
    record(actor=agent, action="ticket.view", resource_type="ticket", resource_id=1)
    record(actor=agent, action="ticket.view", resource_type="ticket", resource_id=2,
           outcome="denied", reason="restricted queue")  # fmt: skip
    other_hospital.file(title="Other hospital ticket")
    return hospital


@pytest.mark.parametrize("who", ["privacy", "auditor"])
def test_privacy_officers_and_auditors_can_search(activity: Tenant, who: str):
    page = web(activity, who).get("/audit/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Audit trail" in text and "ticket.create" in text
    body = api(activity, who).get("/api/v1/audit/events").json()
    assert {e["action"] for e in body["items"]} >= {"ticket.create", "ticket.view"}


@pytest.mark.parametrize("who", OUTSIDERS)
def test_everyone_else_gets_404_and_the_attempt_is_recorded(activity: Tenant, who: str):
    assert web(activity, who).get("/audit/").status_code == 404
    assert web(activity, who).get("/audit/export.csv").status_code == 404
    scopes = ("audit:read", "tickets:read")
    assert api(activity, who, scopes).get("/api/v1/audit/events").status_code == 404
    assert api(activity, who, scopes).get("/api/v1/audit/export").status_code == 404
    denied = last("audit.view")
    assert denied.outcome == "denied" and denied.actor_user_id == activity.users[who].pk


def test_a_token_without_the_audit_scope_gets_404(activity: Tenant):
    client = api(activity, "privacy", scopes=("tickets:read",))
    assert client.get("/api/v1/audit/events").status_code == 404
    assert "audit:read" in last("audit.view").reason


def test_anonymous_visitors_are_sent_to_sign_in(activity: Tenant):
    assert Client().get("/audit/").status_code == 302
    assert Client().get("/api/v1/audit/events").status_code == 401


def test_every_search_is_itself_audited_without_phi(activity: Tenant):
    client = web(activity, "privacy")
    agent_id = activity.users["agent"].pk
    client.get(f"/audit/?user={agent_id}&outcome=denied&ip=10.1.2.3")
    search = last("audit.search")
    assert search.actor_user_id == activity.users["privacy"].pk
    assert search.detail["filters"] == {"user_id": agent_id, "outcome": "denied", "ip": "10.1.2.3"}
    assert search.detail["returned"] == 1
    dumped = json.dumps(search.detail) + search.reason
    assert PATIENT["patient_mrn"] not in dumped and "Jones" not in dumped


def rows(tenant: Tenant, **filters) -> list[AuditEvent]:
    page = audit_event_search(actor=tenant.actor("auditor"), filters=EventFilter(**filters))
    return page.rows


def test_filters_and_reports(activity: Tenant):
    agent_id = activity.users["agent"].pk
    assert {r.action for r in rows(activity, user_id=agent_id)} == {"ticket.view"}
    assert [r.outcome for r in rows(activity, report="denied")] == ["denied"]
    assert [r.resource_id for r in rows(activity, ticket_id=2)][-1] == "2"
    assert all(r.action.startswith("ticket.") for r in rows(activity, action="ticket.*"))
    assert [r.ip for r in rows(activity, ip="10.1.2.3")] == ["10.1.2.3", "10.1.2.3"]
    user_activity = rows(activity, report="user_activity", user_id=agent_id)
    assert len(user_activity) == 2
    with pytest.raises(InvalidInput):
        rows(activity, report="user_activity")
    newest = rows(activity)[0].occurred_at
    assert all(r.occurred_at >= newest for r in rows(activity, since=newest))
    assert all(r.occurred_at < newest for r in rows(activity, until=newest))


def test_one_tenant_never_sees_another(activity: Tenant, other_hospital: Tenant):
    mine = {r.seq for r in rows(activity)}
    theirs = set(
        AuditEvent.objects.filter(organization_id=other_hospital.org.pk).values_list(
            "seq", flat=True
        )
    )
    assert theirs and not mine & theirs


def test_bad_input_is_a_400_with_the_form(activity: Tenant):
    client = web(activity, "privacy")
    for query in ("user=abc", "outcome=maybe", "ip=999.1.1.1", "since=yesterday", "report=x"):
        response = client.get(f"/audit/?{query}")
        assert response.status_code == 400, query
    assert api(activity, "privacy").get("/api/v1/audit/events?outcome=maybe").status_code == 422


def test_access_report_for_a_patient(activity: Tenant, other_hospital: Tenant):
    """Who touched this patient's tickets: found by blind index, never by the MRN in clear."""
    from phidesk.tickets import selectors as ticket_selectors
    from phidesk.tickets import services as ticket_services

    key = "HD-000002"  # the activity fixture's restricted ticket with PATIENT
    phi = activity.actor("phi_agent", ip="10.9.8.7")
    ticket_selectors.ticket_get(actor=phi, key=key)
    ticket_services.ticket_reveal_phi(actor=phi, key=key, reason="Fixing chart access for Dr Lee")
    other_hospital.file(queue="restricted", **PATIENT)  # same MRN in another hospital
    found = rows(activity, patient=" 0012 3456 ")
    actions = [r.action for r in found]
    assert (
        "ticket.phi_reveal" in actions and "ticket.view" in actions and "ticket.create" in actions
    )
    staff = {u.pk for u in activity.users.values()}
    assert {r.actor_user_id for r in found} <= staff  # nothing from the other hospital
    assert "00123456" not in json.dumps(last("audit.search").detail)
    assert rows(activity, patient="00999999") == []


def test_paging_goes_back_in_time(activity: Tenant):
    actor = activity.actor("auditor")
    first = audit_event_search(actor=actor, filters={}, limit=2)
    second = audit_event_search(actor=actor, filters={}, cursor=first.next_cursor, limit=2)
    assert first.rows[-1].seq > second.rows[0].seq


def test_csv_export_is_audited_and_safe_for_spreadsheets(activity: Tenant):
    record(actor=activity.actor("agent"), action="ticket.view", reason="=HYPERLINK(1)")
    client = web(activity, "privacy")
    response = client.get("/audit/export.csv?action=ticket.view")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="audit-events.csv"'
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {r["action"] for r in table} == {"ticket.view"}
    assert "'=HYPERLINK(1)" in {r["reason"] for r in table}
    export = last("audit.export")
    assert export.detail["format"] == "csv" and export.detail["filters"] == {
        "action": "ticket.view"
    }


def test_jsonl_export_lines_can_be_rehashed(activity: Tenant):
    response = api(activity, "auditor").get("/api/v1/audit/export?format=jsonl")
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines
    for line in lines:
        data = json.loads(line)
        assert data["organization_id"] == activity.org.pk
        assert chain_hash(canonical_json(data)) == data["hash"]


def test_unknown_export_format_is_a_400(activity: Tenant):
    assert web(activity, "privacy").get("/audit/export.xlsx").status_code == 400


def test_inclusion_proof_over_the_api(activity: Tenant):
    checkpoint_create()
    seq = AuditEvent.objects.filter(organization_id=activity.org.pk).values_list("seq", flat=True)[
        2
    ]
    body = api(activity, "auditor").get(f"/api/v1/audit/events/{seq}/proof").json()
    key = VerifierKey.parse(body["public_key"])
    root = open_checkpoint(body["checkpoint"], [key]).root_hash
    path = [bytes.fromhex(h) for h in body["path"]]
    assert verify_inclusion(
        body["leaf_index"], body["tree_size"], bytes.fromhex(body["leaf_hash"]), path, root
    )
    assert last("audit.proof").resource_id == str(seq)


def test_proofs_of_another_tenants_events_are_404(activity: Tenant, other_hospital: Tenant):
    checkpoint_create()
    theirs = AuditEvent.objects.filter(organization_id=other_hospital.org.pk).first().seq
    assert api(activity, "auditor").get(f"/api/v1/audit/events/{theirs}/proof").status_code == 404
    with pytest.raises(NotFound):
        audit_event_proof(actor=activity.actor("agent"), seq=theirs)


def test_audit_log_link_shows_for_privacy_and_auditors_only(activity: Tenant):
    for who in ("privacy", "auditor"):
        assert 'href="/audit/"' in web(activity, who).get("/portal/").content.decode()
    for who in ("agent", "phi_agent", "requester", "admin"):
        assert 'href="/audit/"' not in web(activity, who).get("/portal/").content.decode()


def test_patient_access_report_by_post_in_web_and_api(activity: Tenant):
    from phidesk.tickets import selectors as ticket_selectors

    ticket_selectors.ticket_get(actor=activity.actor("phi_agent"), key="HD-000002")
    response = web(activity, "privacy").post("/audit/patient", {"mrn": "00123456"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "ticket.view" in html and "00123456" not in html.split("</form>")[-1]
    assert web(activity, "privacy").post("/audit/patient", {"mrn": ""}).status_code == 400
    assert web(activity, "agent").post("/audit/patient", {"mrn": "00123456"}).status_code == 404
    body = (
        api(activity, "auditor")
        .post(
            "/api/v1/audit/patient-report",
            data=json.dumps({"mrn": "00123456"}),
            content_type="application/json",
        )
        .json()
    )
    assert {"ticket.create", "ticket.view"} <= {i["action"] for i in body["items"]}
    assert "00123456" not in json.dumps(last("audit.search").detail)
