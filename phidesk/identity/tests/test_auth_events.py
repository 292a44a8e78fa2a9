from __future__ import annotations

from django.test import Client

from phidesk.audit.models import AuditEvent
from phidesk.conftest import PASSWORD, Tenant


def sign_in(client: Client, email: str, password: str):
    return client.post(
        "/accounts/login/", {"login": email, "password": password}, REMOTE_ADDR="10.0.0.9"
    )


def test_sign_in_sign_out_and_failures_are_audited(hospital: Tenant):
    client = Client()
    sign_in(client, "agent@stmarys.example", "wrong-password-123")
    failed = AuditEvent.objects.filter(action="auth.sign_in").order_by("-seq").first()
    assert (failed.outcome, failed.actor_user_id) == ("denied", hospital.users["agent"].pk)
    assert "wrong-password-123" not in str(failed.detail) + failed.reason

    sign_in(client, "agent@stmarys.example", PASSWORD)
    ok = AuditEvent.objects.filter(action="auth.sign_in").order_by("-seq").first()
    assert (ok.outcome, ok.ip, ok.organization_id) == ("allowed", "10.0.0.9", hospital.org.pk)
    assert ok.actor_session and ok.actor_session != client.session.session_key

    client.post("/accounts/logout/")
    assert AuditEvent.objects.filter(
        action="auth.sign_out", actor_user_id=hospital.users["agent"].pk
    ).exists()


def test_unknown_account_attempts_are_audited_without_a_tenant(hospital: Tenant):
    sign_in(Client(), "nobody@evil.example", "guess-guess-guess")
    event = AuditEvent.objects.filter(action="auth.sign_in").order_by("-seq").first()
    assert (event.outcome, event.organization_id, event.detail) == (
        "denied",
        None,
        {"email": "nobody@evil.example"},
    )
