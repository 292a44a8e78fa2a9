from __future__ import annotations

from phidesk.tenancy.models import Organization


def organization_get(*, slug: str) -> Organization:
    return Organization.objects.get(slug=slug)


def organization_list() -> list[Organization]:
    return list(Organization.objects.order_by("slug"))
