from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from phidesk.audit.models import AuditEvent
from phidesk.conftest import PASSWORD, PATIENT, Tenant
from phidesk.identity.models import ApiToken
from phidesk.identity.services import token_create


def bearer(tenant: Tenant, who: str, scopes=("tickets:read", "tickets:write")) -> Client:
    issued = token_create(actor=None, user=tenant.users[who], name="test", scopes=list(scopes))
    return Client(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")


def post(client: Client, url: str, body: object) -> object:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def test_requires_authentication(hospital: Tenant):
    response = Client().get("/api/v1/tickets")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"
    assert (
        Client(HTTP_AUTHORIZATION="Bearer phd_nope_nope").get("/api/v1/tickets").status_code == 401
    )


def test_token_lists_only_what_the_user_may_see(hospital: Tenant, other_hospital: Tenant):
    hospital.file(title="general one")
    hospital.file(queue="restricted", title="restricted one", **PATIENT)
    other_hospital.file(title="other tenant")
    body = bearer(hospital, "outsider_agent").get("/api/v1/tickets").json()
    assert [i["title"] for i in body["items"]] == ["general one"]
    body = bearer(hospital, "phi_agent").get("/api/v1/tickets").json()
    assert {i["title"] for i in body["items"]} == {"general one", "restricted one"}
    assert body["total"] == 2


def test_create_get_update_transition_and_messages(hospital: Tenant):
    requester = bearer(hospital, "requester")
    response = post(
        requester,
        "/api/v1/tickets",
        {"queue": "ehr-phi", "title": "Chart will not open", "category": "ehr_access", **PATIENT},
    )
    assert response.status_code == 201, response.content
    created = response.json()
    key = created["ticket"]["key"]
    assert created["patient"]["mrn"] == "***3456"
    assert "00123456" not in response.content.decode()

    phi = bearer(hospital, "phi_agent", scopes=("tickets:read", "tickets:write", "phi:reveal"))
    got = phi.get(f"/api/v1/tickets/{key}").json()
    assert got["can"]["reveal"] is True
    assert got["patient"]["revealed"] is False

    patched = phi.patch(
        f"/api/v1/tickets/{key}",
        data=json.dumps({"priority": "P1"}),
        content_type="application/json",
    )
    assert patched.json()["ticket"]["priority"] == "P1"
    moved = post(phi, f"/api/v1/tickets/{key}/transition", {"to": "in_progress"})
    assert moved.json()["ticket"]["status"] == "in_progress"
    assert (
        post(
            phi, f"/api/v1/tickets/{key}/messages", {"body": "Looking", "internal": True}
        ).status_code
        == 201
    )
    assert [m["is_internal"] for m in phi.get(f"/api/v1/tickets/{key}/messages").json()] == [True]
    assert requester.get(f"/api/v1/tickets/{key}/messages").json() == []

    revealed = post(phi, f"/api/v1/tickets/{key}/reveal", {"reason": "Fixing the chart access"})
    assert revealed.json()["patient"]["mrn"] == "00123456"


def test_reveal_needs_the_phi_scope_on_the_token(hospital: Tenant):
    key = hospital.file(queue="restricted", **PATIENT)
    phi = bearer(hospital, "phi_agent", scopes=("tickets:read",))
    response = post(phi, f"/api/v1/tickets/{key}/reveal", {"reason": "Fixing the chart access"})
    assert response.status_code == 403
    assert "00123456" not in response.content.decode()
    assert AuditEvent.objects.order_by("-seq").first().outcome == "denied"


def test_read_only_token_cannot_write(hospital: Tenant):
    client = bearer(hospital, "agent", scopes=("tickets:read",))
    response = post(client, "/api/v1/tickets", {"queue": "it-general", "title": "x y z"})
    assert response.status_code == 404  # may not file into that queue with this token
    key = hospital.file()
    response = post(client, f"/api/v1/tickets/{key}/transition", {"to": "triaged"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/tickets/{key}", None),
        ("get", "/api/v1/tickets/{key}/messages", None),
        ("patch", "/api/v1/tickets/{key}", {"title": "pwned"}),
        ("post", "/api/v1/tickets/{key}/transition", {"to": "closed"}),
        ("post", "/api/v1/tickets/{key}/assign", {"assignee_id": None}),
        ("post", "/api/v1/tickets/{key}/reveal", {"reason": "curious about this"}),
        ("post", "/api/v1/tickets/{key}/messages", {"body": "hello"}),
    ],
)
def test_every_ticket_route_is_404_for_outsiders(
    hospital: Tenant, other_hospital: Tenant, method, path, body
):
    key = hospital.file(queue="restricted", **PATIENT)
    scopes = ("tickets:read", "tickets:write", "phi:reveal")
    for client in (
        bearer(other_hospital, "phi_agent", scopes),
        bearer(hospital, "outsider_agent", scopes),
    ):
        before = AuditEvent.objects.filter(outcome="denied").count()
        kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body else {}
        response = getattr(client, method)(path.format(key=key), **kwargs)
        assert response.status_code == 404, (path, response.content)
        assert response.json()["error"] == "not_found"
        assert AuditEvent.objects.filter(outcome="denied").count() == before + 1


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"queue": "it-general"}),
        json.dumps({"queue": "it-general", "title": ["list"]}),
        json.dumps({"queue": "it-general", "title": "x" * 201}),
        json.dumps({"queue": "it-general", "title": "ok title", "priority": "P0"}),
        json.dumps({"queue": "it-general", "title": "ok title", "patient_dob": "yesterday"}),
        json.dumps({"queue": "no-such-queue", "title": "ok title"}),
        json.dumps([1, 2, 3]),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_changes_nothing(hospital: Tenant, body: str):
    client = bearer(hospital, "requester")
    before = AuditEvent.objects.filter(action="ticket.create", outcome="allowed").count()
    response = client.post("/api/v1/tickets", data=body, content_type="application/json")
    assert 400 <= response.status_code < 500
    payload = response.json()
    assert payload["error"] and payload["message"]
    assert AuditEvent.objects.filter(action="ticket.create", outcome="allowed").count() == before


@pytest.mark.parametrize(
    "query",
    [
        "status=bogus",
        "priority=P7",
        "sort=random",
        "limit=0",
        "limit=1000",
        "cursor=zzz",
        "assignee=bob",
        "limit=abc",
    ],
)
def test_bad_filters_are_4xx(hospital: Tenant, query: str):
    response = bearer(hospital, "agent").get(f"/api/v1/tickets?{query}")
    assert 400 <= response.status_code < 500, query
    assert response.json()["error"]


def test_filters_and_cursor_pagination(hospital: Tenant):
    for i in range(5):
        hospital.file(title=f"Printer {i}", priority="P1" if i % 2 else "P4")
    client = bearer(hospital, "agent")
    body = client.get("/api/v1/tickets?priority=P1").json()
    assert {i["priority"] for i in body["items"]} == {"P1"} and body["total"] == 2
    first = client.get("/api/v1/tickets?limit=2&sort=oldest").json()
    second = client.get(f"/api/v1/tickets?limit=2&sort=oldest&cursor={first['next_cursor']}").json()
    assert [i["number"] for i in first["items"] + second["items"]] == [1, 2, 3, 4]
    assert client.get("/api/v1/tickets?q=printer 3").json()["total"] == 1


def test_expired_and_revoked_tokens_are_refused(hospital: Tenant):
    issued = token_create(
        actor=None, user=hospital.users["agent"], name="t", scopes=["tickets:read"]
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert client.get("/api/v1/tickets").status_code == 200
    ApiToken.unscoped.filter(pk=issued.token.pk).update(
        expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    )
    assert client.get("/api/v1/tickets").status_code == 401
    ApiToken.unscoped.filter(pk=issued.token.pk).update(
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        revoked_at=dt.datetime.now(dt.UTC),
    )
    assert client.get("/api/v1/tickets").status_code == 401


def test_deactivated_user_token_is_refused(hospital: Tenant):
    client = bearer(hospital, "agent")
    hospital.users["agent"].is_active = False
    hospital.users["agent"].save()
    assert client.get("/api/v1/tickets").status_code == 401


def test_token_is_stored_hashed(hospital: Tenant):
    issued = token_create(
        actor=None, user=hospital.users["agent"], name="t", scopes=["tickets:read"]
    )
    row = ApiToken.unscoped.get(pk=issued.token.pk)
    assert issued.secret not in (row.digest, row.prefix, row.name)
    assert len(row.digest) == 64


def test_session_auth_enforces_csrf(hospital: Tenant):
    client = Client(enforce_csrf_checks=True)
    assert client.login(email="requester@stmarys.example", password=PASSWORD)
    assert client.get("/api/v1/tickets").status_code == 200
    response = post(client, "/api/v1/tickets", {"queue": "it-general", "title": "via session"})
    assert response.status_code in (401, 403)
    token = "a" * 32  # a browser gets this from the cookie the pages set
    client.cookies["phidesk_csrf"] = token
    response = client.post(
        "/api/v1/tickets",
        data=json.dumps({"queue": "it-general", "title": "via session"}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 201


def test_me_shows_roles_and_token_scopes(hospital: Tenant):
    body = bearer(hospital, "lead", scopes=("tickets:read",)).get("/api/v1/me").json()
    assert body["roles"] == ["agent", "queue_lead"]
    assert body["token_scopes"] == ["tickets:read"]


def test_openapi_schema_is_served(hospital: Tenant):
    schema = Client().get("/api/v1/openapi.json").json()
    assert "/api/v1/tickets" in schema["paths"]
    assert "/api/v1/tickets/{key}/reveal" in schema["paths"]


def test_list_query_budget(hospital: Tenant, django_assert_max_num_queries):
    for i in range(30):
        hospital.file(title=f"Ticket {i}")
    client = bearer(hospital, "agent")
    with django_assert_max_num_queries(14):
        response = client.get("/api/v1/tickets?limit=25")
    assert len(response.json()["items"]) == 25
