"""Saved audit searches (owner only) and scheduled reports sent as PHI-free notices."""

from __future__ import annotations

import datetime as dt
import email
import socket
from collections.abc import Iterator
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command
from django.test import Client

from phidesk.audit.models import AuditEvent, SavedAuditSearch
from phidesk.audit.reports import report_send_due, saved_search_create
from phidesk.audit.services import record
from phidesk.conftest import PATIENT, Tenant
from phidesk.core.errors import InvalidInput
from phidesk.identity.models import RoleAssignment
from phidesk.identity.services import token_create

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 11, 6, 0, tzinfo=dt.UTC)  # a Wednesday


def web(tenant: Tenant, who: str) -> Client:
    client = Client()
    client.force_login(tenant.users[who])
    return client


def api(tenant: Tenant, who: str, scopes=("audit:read",)) -> Client:
    issued = token_create(actor=None, user=tenant.users[who], name="t", scopes=list(scopes))
    return Client(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")


def last(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).order_by("-seq").first()


def save(tenant: Tenant, who: str = "privacy", **kw: Any) -> int:
    kw.setdefault("name", "Denied this week")
    kw.setdefault("filters", {"outcome": "denied"})
    return saved_search_create(actor=tenant.actor(who), **kw).id


@pytest.fixture
def activity(hospital: Tenant) -> Tenant:
    hospital.file(queue="restricted", title="Chart will not open", **PATIENT)
    agent = hospital.actor("agent", ip="10.1.2.3")
    record(actor=agent, action="ticket.view", resource_type="ticket", resource_id=1,
           outcome="denied", reason="restricted queue")  # fmt: skip
    return hospital


# --- Owner only ----------------------------------------------------------------------


def test_it_creates_runs_and_deletes_via_the_web(activity: Tenant):
    client = web(activity, "privacy")
    data = {"name": "Denied", "outcome": "denied", "ip": "10.1.2.3", "schedule": "weekly"}
    response = client.post("/audit/saved/", data)
    assert response.status_code == 302
    saved = SavedAuditSearch.objects.get()
    assert response["Location"] == f"/audit/?saved={saved.pk}"
    assert saved.filters == {"outcome": "denied", "ip": "10.1.2.3"} and saved.schedule == "weekly"
    assert last("audit.saved_search.create").resource_id == str(saved.pk)

    page = client.get(f"/audit/?saved={saved.pk}")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Saved searches" in text and "Denied" in text and "restricted queue" in text
    assert last("audit.search").detail["filters"] == {"outcome": "denied", "ip": "10.1.2.3"}

    assert client.post(f"/audit/saved/{saved.pk}/delete").status_code == 302
    assert not SavedAuditSearch.objects.exists()
    assert last("audit.saved_search.delete").resource_id == str(saved.pk)


def test_the_search_page_offers_to_save_the_current_filters(activity: Tenant):
    text = web(activity, "auditor").get("/audit/?outcome=denied").content.decode()
    assert "Save this search" in text
    assert '<input type="hidden" name="outcome" value="denied">' in text


def test_it_creates_lists_and_deletes_via_the_api(activity: Tenant):
    client = api(activity, "auditor")
    created = client.post(
        "/api/v1/audit/saved-searches",
        {"name": "Errors", "schedule": "daily", "filters": {"outcome": "error"}},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["filters"] == {"outcome": "error"} and body["schedule"] == "daily"
    assert body["run_url"] == f"https://127.0.0.1:8443/audit/?saved={body['id']}"
    listed = client.get("/api/v1/audit/saved-searches").json()["items"]
    assert [s["name"] for s in listed] == ["Errors"]
    assert client.delete(f"/api/v1/audit/saved-searches/{body['id']}").status_code == 204
    assert client.get("/api/v1/audit/saved-searches").json()["items"] == []


@pytest.mark.parametrize("who", ["auditor", "agent", "admin", "other_privacy"])
def test_it_checks_ownership(activity: Tenant, other_hospital: Tenant, who: str):
    saved_id = save(activity)
    if who == "other_privacy":
        client, token = web(other_hospital, "privacy"), api(other_hospital, "privacy")
    else:
        client, token = web(activity, who), api(activity, who, ("audit:read", "tickets:read"))
    assert client.get(f"/audit/?saved={saved_id}").status_code == 404
    assert client.post(f"/audit/saved/{saved_id}/delete").status_code == 404
    assert token.delete(f"/api/v1/audit/saved-searches/{saved_id}").status_code == 404
    items = token.get("/api/v1/audit/saved-searches")
    assert items.status_code == 404 or items.json()["items"] == []
    assert SavedAuditSearch.objects.filter(pk=saved_id).exists()
    assert not AuditEvent.objects.filter(action="audit.saved_search.delete").exists()


def test_saved_searches_are_listed_to_their_owner_only(activity: Tenant):
    save(activity, name="Mine")
    save(activity, "auditor", name="Theirs")
    text = web(activity, "privacy").get("/audit/").content.decode()
    assert "Mine" in text and "Theirs" not in text


@pytest.mark.parametrize(
    "data",
    [
        {"name": "", "outcome": "denied"},
        {"name": "x" * 81},
        {"name": "Ok", "outcome": "maybe"},
        {"name": "Ok", "schedule": "hourly"},
        {"name": "MRN 00123456 access"},
        {"name": "Ok", "patient": "00123456"},
    ],
)
def test_bad_input_is_refused_and_nothing_changes(activity: Tenant, data: dict[str, str]):
    client = web(activity, "privacy")
    before = AuditEvent.objects.count()
    response = client.post("/audit/saved/", data)
    assert response.status_code == 400
    assert "00123456" not in response.content.decode()
    assert not SavedAuditSearch.objects.exists()
    assert not AuditEvent.objects.filter(action="audit.saved_search.create").exists()
    assert AuditEvent.objects.count() == before  # the page lists saved searches, no search


def test_bad_api_input_is_refused_and_nothing_changes(activity: Tenant):
    client = api(activity, "privacy")

    def post(body: dict[str, Any]) -> int:
        return client.post(
            "/api/v1/audit/saved-searches", body, content_type="application/json"
        ).status_code

    assert post({"name": "A", "filters": {"patient": "00123456"}}) == 422  # never dropped
    assert post({"name": "A", "schedule": "hourly"}) == 422
    assert post({"name": "A", "filters": {"report": "user_activity"}}) == 400
    assert post({"name": "Call 555-12345"}) == 400
    assert not SavedAuditSearch.objects.exists()
    assert post({"name": "A"}) == 201
    assert post({"name": "A"}) == 409
    assert SavedAuditSearch.objects.count() == 1


def test_a_patient_filter_is_never_saved(activity: Tenant):
    with pytest.raises(InvalidInput) as caught:
        save(activity, filters={"patient": PATIENT["patient_mrn"]})
    assert caught.value.field == "patient"
    text = web(activity, "privacy").get("/audit/?patient=00123456").content.decode()
    assert "cannot be saved" in text and "Save this search" not in text


# --- Scheduled reports ---------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp(settings: Any) -> Iterator[Inbox]:
    """A real SMTP server on loopback, and Django's SMTP backend pointed at it."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.DEFAULT_FROM_EMAIL = "phidesk@stmarys.example"
    try:
        yield inbox
    finally:
        controller.stop()


def test_the_notice_carries_no_phi_and_its_link_works_after_sign_in(activity: Tenant, smtp: Inbox):
    saved_id = save(activity, schedule="daily", filters={"outcome": "denied"})
    call_command("audit", "reports", "send-due")  # today: yesterday's events, none
    assert len(smtp.messages) == 1
    # Events of "yesterday" relative to a later run.
    run = report_send_due(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    assert run.sent == 1
    to, message = smtp.messages[-1]
    assert to == [activity.users["privacy"].email]
    subject, body = message["Subject"], message.get_payload()
    assert subject == "Your scheduled audit report 'Denied this week' is ready"
    assert "1 event matched" in body
    text = subject + body
    for secret in ("00123456", "Maria Jones", "Jones", "10.1.2.3", "restricted queue",
                   "ticket.view", "HD-0"):  # fmt: skip
        assert secret not in text
    seqs = AuditEvent.objects.values_list("seq", flat=True)
    assert not any(f"#{s}" in text for s in seqs)
    link = next(line for line in body.splitlines() if line.startswith("https://"))
    assert link == f"https://127.0.0.1:8443/audit/?saved={saved_id}"
    parts = urlsplit(link)
    path = f"{parts.path}?{parts.query}"
    assert Client().get(path).status_code == 302  # sign in first
    page = web(activity, "privacy").get(path)
    assert page.status_code == 200 and "restricted queue" in page.content.decode()
    assert web(activity, "auditor").get(path).status_code == 404
    sent = last("audit.report.send")
    assert sent.outcome == "allowed" and sent.actor_user_id == activity.users["privacy"].pk
    assert sent.detail["matched"] == 1
    assert SavedAuditSearch.objects.get().last_sent_at is not None


def test_a_period_is_sent_once(activity: Tenant, smtp: Inbox):
    save(activity, schedule="weekly")
    assert report_send_due(now=NOW).sent == 1
    assert report_send_due(now=NOW + dt.timedelta(days=2)).sent == 0  # same week
    assert len(smtp.messages) == 1
    assert report_send_due(now=NOW + dt.timedelta(days=5)).sent == 1  # next Monday on
    assert len(smtp.messages) == 2
    assert AuditEvent.objects.filter(action="audit.report.send").count() == 2


def test_unscheduled_searches_send_nothing(activity: Tenant, smtp: Inbox):
    save(activity)
    assert report_send_due(now=NOW).sent == 0 and smtp.messages == []


def test_an_owner_who_lost_the_role_gets_no_email_and_the_denial_is_audited(
    activity: Tenant, smtp: Inbox
):
    saved_id = save(activity, schedule="daily")
    RoleAssignment.unscoped.filter(user=activity.users["privacy"]).delete()
    run = report_send_due(now=NOW)
    assert (run.sent, run.denied) == (0, 1) and smtp.messages == []
    denied = last("audit.report.send")
    assert denied.outcome == "denied" and denied.resource_id == str(saved_id)
    assert denied.actor_user_id == activity.users["privacy"].pk
    assert report_send_due(now=NOW).denied == 0  # once per period, not on every run


def test_an_inactive_owner_gets_no_email(activity: Tenant, smtp: Inbox):
    save(activity, schedule="daily")
    user = activity.users["privacy"]
    user.is_active = False
    user.save()
    assert report_send_due(now=NOW).denied == 1 and smtp.messages == []
    assert last("audit.report.send").outcome == "denied"


def test_a_failed_email_is_retried_by_the_next_run(activity: Tenant, settings: Any):
    save(activity, schedule="daily")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = (
        "127.0.0.1",
        _free_port(),
        False,
    )
    assert report_send_due(now=NOW).failed == 1
    assert last("audit.report.send").outcome == "error"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert report_send_due(now=NOW).sent == 1
