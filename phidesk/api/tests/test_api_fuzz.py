"""Invariant 5 for the API: schemathesis sends generated requests to every operation of
our OpenAPI schema, authenticated as a PHI agent; nothing may answer with a 5xx, and
every 4xx carries our JSON error shape."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings

from phidesk.conftest import PATIENT, Tenant
from phidesk.identity.services import token_create

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@pytest.fixture(autouse=True)
def _keep_test_connection():
    """Like Django's test client: the WSGI app must not close the test's connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_headers(hospital: Tenant) -> dict[str, str]:
    hospital.file(queue="restricted", **PATIENT)
    hospital.file(queue="general")
    secret = token_create(
        actor=None,
        user=hospital.users["phi_agent"],
        name="fuzz",
        scopes=["tickets:read", "tickets:write", "phi:reveal", "audit:read"],
    ).secret
    return {"Authorization": f"Bearer {secret}"}


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.django_db
def test_no_request_yields_a_server_error(case, api_headers):
    response = case.call(headers=api_headers)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
    content_type = response.headers.get("content-type") or [""]
    if 400 <= response.status_code < 500 and "application/json" in str(content_type):
        body = response.json()
        assert "error" in body or "detail" in body, body
