"""Every route is covered by a policy decision: a new URL without one fails here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from phidesk.access.declare import ATTR
from phidesk.access.policy import known_actions
from phidesk.api.router import api

# django-allauth's own account pages: sign-in and the signed-in user's own settings.
ALLAUTH_SELF_SERVICE = {
    "account_login",
    "account_logout",
    "account_inactive",
    "account_signup",  # closed by DeskAccountAdapter; tested in test_settings
    "account_reauthenticate",
    "account_request_reauthentication_code",
    "account_confirm_reauthentication_code",
    "account_email",
    "account_email_verification_sent",
    "account_confirm_email",
    "account_change_password",
    "account_set_password",
    "account_confirm_login_code",
    "account_reset_password",
    "account_reset_password_done",
    "account_reset_password_from_key",
    "account_reset_password_from_key_done",
}
NINJA_PUBLIC = {"openapi-json", "openapi-view", "api-root"}


def walk(patterns=None, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern), entry


def is_ninja(pattern: URLPattern) -> bool:
    qualname = getattr(pattern.callback, "__qualname__", "")
    return "PathView" in qualname or pattern.name in NINJA_PUBLIC


def test_every_web_route_declares_its_policy():
    missing = []
    for route, pattern in walk():
        callback = pattern.callback
        if is_ninja(pattern):
            continue
        if callback.__module__.startswith("allauth."):
            if pattern.name not in ALLAUTH_SELF_SERVICE:
                missing.append(f"{route} (allauth {pattern.name})")
            continue
        marks = getattr(callback, ATTR, None)
        if not marks:
            missing.append(route)
            continue
        for mark in marks:
            assert mark.startswith(("public:", "self:")) or mark in known_actions(), (route, mark)
    assert not missing, f"routes without a policy: {missing}"


def test_every_api_operation_is_authenticated_and_declares_its_policy():
    operations = 0
    for _prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                operations += 1
                assert operation.auth_callbacks, f"{path} has no authentication"
                marks = getattr(operation.view_func, ATTR, None)
                assert marks, f"API {path} {operation.methods} declares no policy"
                for mark in marks:
                    assert mark.startswith("self:") or mark in known_actions(), (path, mark)
    assert operations >= 10


def test_ninja_public_routes_are_only_the_schema_and_docs():
    unauthenticated = {
        p.name
        for _, p in walk()
        if not getattr(p.callback, "__qualname__", "").startswith("PathView")
        and str(p.pattern).startswith(("openapi", "docs", ""))
        and p.callback.__module__ == "functools"
    }
    assert unauthenticated == NINJA_PUBLIC


def _sample(route: str) -> str:
    return (
        ("/" + route.replace("<str:key>", "HD-000001").replace("<key>", "HD-000001"))
        .replace("^", "")
        .replace("$", "")
    )


@pytest.mark.django_db
def test_anonymous_requests_never_reach_data():
    """Every non-public route answers an anonymous caller with a sign-in redirect or 401."""
    client = Client()
    checked = 0
    for route, pattern in walk():
        if "<" in route.replace("<str:key>", "") or "(?P" in route:
            continue  # allauth key-bearing routes
        marks = getattr(pattern.callback, ATTR, ()) or ()
        if any(m.startswith("public:") for m in marks) or pattern.callback.__module__.startswith(
            "allauth."
        ):
            continue
        if pattern.name in NINJA_PUBLIC:
            continue
        url = _sample(route)
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code in (302, 401, 405), (method, url, response.status_code)
            if response.status_code == 302:
                assert response["Location"].startswith("/accounts/login/"), url
        checked += 1
    assert checked >= 12
