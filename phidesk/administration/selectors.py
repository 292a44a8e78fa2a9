"""What an organization's administrator may look at: the state of its keys."""

from __future__ import annotations

from phidesk.access.guard import audited_service, authorize
from phidesk.audit.services import record
from phidesk.core.actor import Actor
from phidesk.crypto.rotation import KeyStatus, key_status
from phidesk.tenancy.models import Organization


@audited_service
def key_overview(*, actor: Actor) -> KeyStatus:
    """Provider, health, FIPS mode and the tenant's key versions with their ages."""
    org = Organization.objects.get(pk=actor.organization_id)
    authorize(actor, "keys.view", org, resource_type="organization", resource_id=org.pk)
    status = key_status(organization_id=org.pk)
    record(actor=actor, action="keys.view", resource_type="organization", resource_id=org.pk)
    return status
