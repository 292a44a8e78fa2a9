"""Shared model bases. Imports no app: tenancy plugs in through the foreign key name."""

from __future__ import annotations

from typing import Any

from django.db import models

from phidesk.core.errors import TenantContextMissing
from phidesk.core.tenant_context import current_tenant_id


class TimeStamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class TenantScopedManager(models.Manager):
    """Default manager of every tenant-owned model: rows of the current tenant only.

    Querying with no tenant in context is a bug, so it raises rather than returning
    every tenant's rows. System code that must cross tenants uses `Model.unscoped`.
    """

    def get_queryset(self) -> models.QuerySet[Any]:
        tenant_id = current_tenant_id()
        if tenant_id is None:
            raise TenantContextMissing(f"{self.model.__name__} queried outside a tenant context")
        return super().get_queryset().filter(organization_id=tenant_id)


class TenantOwned(models.Model):
    """A row that belongs to exactly one organization.

    The concrete model declares `organization = ForeignKey("tenancy.Organization")`.
    Saving a row into another tenant than the current one is refused.
    """

    objects = TenantScopedManager()
    unscoped = models.Manager()  # noqa: DJ012 - both managers belong together

    class Meta:
        abstract = True
        base_manager_name = "unscoped"

    def save(self, *args: Any, **kwargs: Any) -> None:
        tenant_id = current_tenant_id()
        own = self.organization_id  # type: ignore[attr-defined]
        if tenant_id is not None and own is not None and own != tenant_id:
            raise TenantContextMissing(
                f"{type(self).__name__} of tenant {own} saved in tenant {tenant_id}"
            )
        super().save(*args, **kwargs)
