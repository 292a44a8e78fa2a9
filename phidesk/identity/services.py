"""Identity commands: building actors, API tokens, provisioning users."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.db import transaction

from phidesk.access.guard import audited_service, authorize
from phidesk.access.policy import TOKEN_SCOPES
from phidesk.access.roles import Role
from phidesk.audit.services import record
from phidesk.core import clock
from phidesk.core.actor import Actor
from phidesk.core.errors import InvalidInput
from phidesk.core.tenant_context import tenant_context
from phidesk.identity.models import ApiToken, QueueMembership, RoleAssignment, User

TOKEN_PREFIX = "phd"  # noqa: S105 - a public marker, not a secret
MAX_TOKEN_DAYS = 365


def actor_for_user(
    user: User,
    *,
    ip: str | None = None,
    user_agent: str = "",
    session_key: str | None = None,
    token: ApiToken | None = None,
) -> Actor:
    """Load roles and queue memberships once per request into an immutable Actor."""
    with tenant_context(user.organization_id):
        roles = frozenset(RoleAssignment.objects.filter(user=user).values_list("role", flat=True))
        memberships = list(
            QueueMembership.objects.filter(user=user).values_list("queue_id", "is_lead")
        )
    return Actor(
        user_id=user.pk,
        organization_id=user.organization_id,
        email=user.email,
        roles=roles,
        queue_ids=frozenset(q for q, _ in memberships),
        lead_queue_ids=frozenset(q for q, lead in memberships if lead),
        ip=ip,
        user_agent=user_agent[:300],
        session_key=session_key,
        token_id=token.pk if token else None,
        token_scopes=frozenset(token.scopes) if token else None,
    )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def _validate_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(TOKEN_SCOPES))
    if unknown:
        raise InvalidInput(
            f"unknown scope(s): {', '.join(unknown)}; choose from {', '.join(TOKEN_SCOPES)}",
            field="scopes",
        )
    if not scopes:
        raise InvalidInput("a token needs at least one scope", field="scopes")
    return sorted(set(scopes))


@audited_service
def token_create(
    *,
    actor: Actor | None,
    user: User,
    name: str,
    scopes: list[str],
    expires_days: int = 90,
) -> IssuedToken:
    """Issue a personal API token. `actor` None means the operator's CLI on the server."""
    if actor is not None and actor.user_id != user.pk:
        authorize(actor, "token.manage", user, resource_type="user", resource_id=user.pk)
    if not 1 <= expires_days <= MAX_TOKEN_DAYS:
        raise InvalidInput(f"expiry must be 1 to {MAX_TOKEN_DAYS} days", field="expires")
    if not user.is_active:
        raise InvalidInput("the user is deactivated", field="user")
    scopes = _validate_scopes(scopes)
    prefix = secrets.token_hex(6)
    body = secrets.token_urlsafe(32)
    secret = f"{TOKEN_PREFIX}_{prefix}_{body}"
    with tenant_context(user.organization_id):
        token = ApiToken.objects.create(
            organization_id=user.organization_id,
            user=user,
            name=name[:100] or "token",
            prefix=prefix,
            digest=_digest(secret),
            scopes=scopes,
            expires_at=clock.now() + dt.timedelta(days=expires_days),
        )
    record(
        actor=actor,
        organization_id=user.organization_id,
        action="token.create",
        resource_type="api_token",
        resource_id=token.pk,
        reason="issued by operator CLI" if actor is None else "issued in app",
        detail={"user_id": user.pk, "scopes": scopes, "expires_days": expires_days},
    )
    return IssuedToken(token=token, secret=secret)


def token_authenticate(raw: str) -> tuple[User, ApiToken] | None:
    """Resolve a bearer secret to its active user and token, or None. Constant-time compare."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    token = (
        ApiToken.unscoped.select_related("user")
        .filter(prefix=parts[1], revoked_at__isnull=True)
        .first()
    )
    if token is None or not hmac.compare_digest(token.digest, _digest(raw)):
        return None
    now = clock.now()
    if token.expires_at <= now or not token.user.is_active:
        return None
    # Coarse last-used stamp: at most one write per token per minute.
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        ApiToken.unscoped.filter(pk=token.pk).update(last_used_at=now)
    return token.user, token


@transaction.atomic
def user_provision(
    *,
    organization_id: int,
    email: str,
    display_name: str,
    roles: list[str],
    password: str | None = None,
) -> User:
    """Create or update a user and their roles (used by the demo seed; SCIM later)."""
    unknown = set(roles) - {r.value for r in Role}
    if unknown:
        raise InvalidInput(f"unknown role(s): {', '.join(sorted(unknown))}", field="roles")
    user = User.objects.filter(email=email.lower()).first()
    if user is None:
        user = User.objects.create_user(
            email, password, organization_id=organization_id, display_name=display_name
        )
        record(
            actor=None,
            organization_id=organization_id,
            action="user.create",
            resource_type="user",
            resource_id=user.pk,
            detail={"roles": sorted(roles)},
        )
    with tenant_context(organization_id):
        for role in roles:
            _, created = RoleAssignment.objects.get_or_create(
                organization_id=organization_id, user=user, role=role
            )
            if created:
                record(
                    actor=None,
                    organization_id=organization_id,
                    action="role.grant",
                    resource_type="user",
                    resource_id=user.pk,
                    detail={"role": role},
                )
    return user


def queue_membership_set(
    *, organization_id: int, user: User, queue_id: int, is_lead: bool = False
) -> None:
    with tenant_context(organization_id):
        QueueMembership.objects.update_or_create(
            organization_id=organization_id,
            user=user,
            queue_id=queue_id,
            defaults={"is_lead": is_lead},
        )
