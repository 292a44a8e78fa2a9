"""Sign-ins, sign-outs and failed attempts go to the audit log.

Django and allauth run the sign-in flow, so their signals are the one place to hear it;
each receiver writes one explicit audit event (never the password, never the session key).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from phidesk.audit.models import Outcome
from phidesk.audit.services import record
from phidesk.core.actor import Actor
from phidesk.core.http import client_ip
from phidesk.identity.models import User


def _actor(user: User, request: HttpRequest | None) -> Actor:
    session = getattr(request, "session", None)
    return Actor(
        user_id=user.pk,
        organization_id=user.organization_id,
        email=user.email,
        roles=frozenset(),
        ip=client_ip(request) if request is not None else None,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300] if request is not None else "",
        session_key=session.session_key if session is not None else None,
    )


@receiver(user_logged_in)
def _signed_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    record(
        actor=_actor(user, request),
        action="auth.sign_in",
        resource_type="user",
        resource_id=user.pk,
    )


@receiver(user_logged_out)
def _signed_out(sender: Any, request: HttpRequest | None, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        record(
            actor=_actor(user, request),
            action="auth.sign_out",
            resource_type="user",
            resource_id=user.pk,
        )


@receiver(user_login_failed)
def _sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Django has already replaced the password in `credentials`; we keep the email only.
    email = str(credentials.get("email") or credentials.get("username") or "")[:254].lower()
    user = User.objects.filter(email=email).first() if email else None
    record(
        actor=_actor(user, request) if user else None,
        organization_id=user.organization_id if user else None,
        action="auth.sign_in",
        resource_type="user",
        resource_id=user.pk if user else "",
        outcome=Outcome.DENIED,
        reason="wrong credentials" if user else "no such account",
        detail={"email": email} if user is None else {},
    )
