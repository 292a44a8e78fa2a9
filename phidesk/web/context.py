from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from phidesk.access.engine import may_attempt
from phidesk.access.policy import DESK_STAFF
from phidesk.tenancy.selectors import organization_name


def desk(request: HttpRequest) -> dict[str, Any]:
    actor = getattr(request, "actor", None)
    return {
        "actor": actor,
        "is_desk_staff": bool(actor and actor.roles & DESK_STAFF),
        "tenant_name": organization_name(actor.organization_id) if actor else "",
        "can_search_patients": bool(actor and may_attempt(actor, "ticket.phi_reveal")),
        "can_view_audit": bool(actor and may_attempt(actor, "audit.view")),
        "can_view_keys": bool(actor and may_attempt(actor, "keys.view")),
    }
