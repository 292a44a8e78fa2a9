from __future__ import annotations

from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The peer address. Behind a proxy, SecurityMiddleware settings decide what to trust."""
    return request.META.get("REMOTE_ADDR") or None
