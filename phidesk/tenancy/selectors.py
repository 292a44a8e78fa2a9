from __future__ import annotations

from phidesk.tenancy.models import Organization


def organization_name(organization_id: int) -> str:
    """The display name for page headers, cached for five minutes (renames are rare)."""
    from django.core.cache import cache

    key = f"phidesk:org-name:{organization_id}"
    name = cache.get(key)
    if name is None:
        name = (
            Organization.objects.filter(pk=organization_id).values_list("name", flat=True).first()
            or ""
        )
        cache.set(key, name, 300)
    return str(name)
