"""Per-request actor and tenant context, domain errors as pages, security headers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from phidesk.core.errors import DomainError
from phidesk.core.http import client_ip
from phidesk.core.tenant_context import reset_tenant, set_tenant
from phidesk.identity.services import actor_for_user


class ActorMiddleware:
    """Attach `request.actor` for a signed-in user and scope the request to their tenant."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        request.actor = None  # type: ignore[attr-defined]
        token = None
        if user is not None and user.is_authenticated:
            request.actor = actor_for_user(  # type: ignore[attr-defined]
                user,
                ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
                session_key=request.session.session_key,
            )
            token = set_tenant(user.organization_id)
        try:
            return self.get_response(request)
        finally:
            if token is not None:
                reset_tenant(token)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, DomainError) and not request.path.startswith("/api/"):
            template = (
                "web/partials/error.html" if request.headers.get("HX-Request") else "web/error.html"
            )
            return render(request, template, {"error": exc}, status=exc.status)
        return None


request_log = logging.getLogger("phidesk.request")


class RequestLogMiddleware:
    """One line per request: method, path, status, time, user id. Never the query string
    or the body, where people type patient details; never a session key or a token."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        actor = getattr(request, "actor", None)
        request_log.info(
            "%s %s %s %.1fms user=%s",
            request.method,
            request.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            actor.user_id if actor else "-",
        )
        return response


CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)


class SecurityHeadersMiddleware:
    """A strict Content-Security-Policy and no caching of pages that may hold PHI."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith("/api/v1/docs"):
            # The OpenAPI docs page loads its own scripts from the package's static files.
            response.setdefault(
                "Content-Security-Policy",
                CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
                    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
                ),
            )
        else:
            response.setdefault("Content-Security-Policy", CSP)
        if not request.path.startswith("/static/"):
            response["Cache-Control"] = "no-store"
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response
