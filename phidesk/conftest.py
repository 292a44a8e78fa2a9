"""Shared fixtures: two hospitals, a person per role in each, a general and a restricted queue.

Personas follow the Healthchecks habit: the owner (requester), the team (agents in the
queue), the outsider (an agent outside a restricted queue, or in another tenant).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from phidesk.core.actor import Actor
from phidesk.core.tenant_context import tenant_context
from phidesk.identity.models import User
from phidesk.identity.services import actor_for_user, queue_membership_set, user_provision
from phidesk.tenancy.models import Organization
from phidesk.tickets import services
from phidesk.tickets.models import Queue

PASSWORD = "correct-horse-battery-staple-42"


@dataclass
class Tenant:
    org: Organization
    general: Queue
    restricted: Queue
    users: dict[str, User] = field(default_factory=dict)

    def actor(self, who: str, **kw: Any) -> Actor:
        return actor_for_user(self.users[who], **kw)

    def file(self, who: str = "requester", *, queue: str = "general", **data: Any) -> str:
        """File a ticket as `who`; returns its key (e.g. HD-000001)."""
        slug = self.general.slug if queue == "general" else self.restricted.slug
        data.setdefault("title", "Printer on 4 West is jammed")
        detail = services.ticket_create(
            actor=self.actor(who), data=services.NewTicket(queue=slug, **data)
        )
        return detail.row.key


PERSONAS = {
    "requester": ["requester"],
    "requester2": ["requester"],
    "agent": ["agent"],
    "phi_agent": ["phi_agent"],
    "outsider_agent": ["agent"],
    "lead": ["queue_lead", "agent"],
    "privacy": ["privacy_officer"],
    "auditor": ["auditor"],
    "admin": ["admin"],
}


def make_tenant(slug: str) -> Tenant:
    org = Organization.objects.create(slug=slug, name=slug.title(), ticket_prefix="HD")
    with tenant_context(org.pk):
        general = Queue.objects.create(organization=org, slug="it-general", name="General IT")
        restricted = Queue.objects.create(
            organization=org, slug="ehr-phi", name="EHR & patient records", restricted_phi=True
        )
    tenant = Tenant(org=org, general=general, restricted=restricted)
    for who, roles in PERSONAS.items():
        tenant.users[who] = user_provision(
            organization_id=org.pk,
            email=f"{who}@{slug}.example",
            display_name=who.replace("_", " ").title(),
            roles=roles,
            password=PASSWORD,
        )
    queue_membership_set(organization_id=org.pk, user=tenant.users["agent"], queue_id=general.pk)
    queue_membership_set(
        organization_id=org.pk, user=tenant.users["phi_agent"], queue_id=restricted.pk
    )
    queue_membership_set(
        organization_id=org.pk, user=tenant.users["lead"], queue_id=restricted.pk, is_lead=True
    )
    return tenant


@pytest.fixture
def hospital(db: None) -> Tenant:
    return make_tenant("stmarys")


@pytest.fixture
def other_hospital(db: None) -> Tenant:
    return make_tenant("lakeside")


PATIENT = {"patient_mrn": "00123456", "patient_name": "Maria Jones", "patient_dob": "1948-03-14"}


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Each test starts with an empty cache (sign-in rate limits, cached tenant names)."""
    from django.core.cache import cache

    cache.clear()
