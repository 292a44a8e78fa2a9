from __future__ import annotations

from dataclasses import dataclass

from phidesk.core.tenant_context import tenant_context
from phidesk.identity.models import RoleAssignment, User


@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    name: str
    tenant: str
    roles: tuple[str, ...]
    is_active: bool


def user_rows(*, tenant_slug: str | None = None) -> list[UserRow]:
    """All users with tenant and roles, for the operator CLI (two queries in all)."""
    users = User.objects.select_related("organization").order_by("organization__slug", "email")
    if tenant_slug:
        users = users.filter(organization__slug=tenant_slug)
    roles: dict[int, list[str]] = {}
    for org_id in {u.organization_id for u in users}:
        with tenant_context(org_id):
            for user_id, role in RoleAssignment.objects.values_list("user_id", "role"):
                roles.setdefault(user_id, []).append(role)
    return [
        UserRow(
            id=u.pk,
            email=u.email,
            name=u.name,
            tenant=u.organization.slug,
            roles=tuple(sorted(roles.get(u.pk, []))),
            is_active=u.is_active,
        )
        for u in users
    ]


def user_get_by_email(email: str) -> User | None:
    return User.objects.filter(email=email.lower()).first()
