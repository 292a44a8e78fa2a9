"""Every route that reads tickets leaves exactly the expected audit events.

The test walks the URL patterns: a new route governed by `ticket.view` must be listed
here with the events it writes, or this test fails.
"""

from __future__ import annotations

from django.test import Client

from phidesk.access.declare import ATTR
from phidesk.api.router import api
from phidesk.audit.models import AuditEvent
from phidesk.config.tests.test_url_policy import walk
from phidesk.conftest import PATIENT, Tenant
from phidesk.identity.services import token_create

# (method, url) -> the audit actions one request writes, in order.
WEB_READS = {
    "portal": ("GET", "/portal/", ["ticket.list"]),
    "desk": ("GET", "/desk/", ["ticket.list"]),
    "ticket_detail": ("GET", "/t/{key}/", ["ticket.view"]),
}
API_READS = {
    "ticket_list": ("GET", "/api/v1/tickets", ["ticket.list"]),
    "ticket_get": ("GET", "/api/v1/tickets/{key}", ["ticket.view"]),
    "message_list": ("GET", "/api/v1/tickets/{key}/messages", ["message.list"]),
}


def test_every_ticket_reading_route_is_listed():
    web_gets = {
        pattern.name
        for _route, pattern in walk()
        if "ticket.view" in (getattr(pattern.callback, ATTR, ()) or ())
        and "PathView" not in getattr(pattern.callback, "__qualname__", "")
    }
    assert web_gets == set(WEB_READS)
    api_gets = {
        op.view_func.__name__
        for _p, router in api._routers
        for path_view in router.path_operations.values()
        for op in path_view.operations
        if "GET" in op.methods and "ticket.view" in (getattr(op.view_func, ATTR, ()) or ())
    }
    assert api_gets == set(API_READS)


def _actions_of(request) -> list[str]:
    before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    response = request()
    assert response.status_code == 200, response.content[:300]
    return list(
        AuditEvent.objects.filter(seq__gt=before).order_by("seq").values_list("action", flat=True)
    )


def test_each_read_writes_exactly_its_events(hospital: Tenant):
    key = hospital.file(queue="restricted", **PATIENT)
    web = Client()
    web.force_login(hospital.users["phi_agent"])
    for _name, (_method, url, expected) in WEB_READS.items():
        assert _actions_of(lambda url=url: web.get(url.format(key=key))) == expected, url
    secret = token_create(
        actor=None, user=hospital.users["phi_agent"], name="t", scopes=["tickets:read"]
    ).secret
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    for _name, (_method, url, expected) in API_READS.items():
        assert _actions_of(lambda url=url: client.get(url.format(key=key))) == expected, url
