"""Administrator commands on the organization's keys."""

from __future__ import annotations

from phidesk.access.guard import audited_service, authorize
from phidesk.audit.services import record
from phidesk.core.actor import Actor
from phidesk.crypto.rotation import RotationResult, rotate_tenant
from phidesk.tenancy.models import Organization


@audited_service
def keys_rotate(*, actor: Actor) -> RotationResult:
    """A new key-encryption key for the organization; every data key is rewrapped under it
    (no data is re-encrypted, so this takes seconds, not hours)."""
    org = Organization.objects.get(pk=actor.organization_id)
    authorize(actor, "keys.rotate", org, resource_type="organization", resource_id=org.pk)
    result = rotate_tenant(organization_id=org.pk)
    record(
        actor=actor,
        action="keys.rotate",
        resource_type="organization",
        resource_id=org.pk,
        detail={
            "old_version": result.old_version,
            "new_version": result.new_version,
            "rewrapped": result.rewrapped,
        },
    )
    return result
