"""audit.record(): append one event to the chain, inside the caller's transaction."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.db import connection, transaction

from phidesk.audit.chain import GENESIS, event_hash
from phidesk.audit.models import AuditEvent, Outcome
from phidesk.core.actor import Actor

# One constant key for the PostgreSQL advisory lock that orders appends.
_CHAIN_LOCK_KEY = 0x50484944  # "PHID"


def _session_ref(session_key: str | None) -> str:
    """Refer to a session without storing its key (a key in a log is a usable credential)."""
    if not session_key:
        return ""
    return hashlib.sha256(session_key.encode()).hexdigest()[:32]


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])


def record(
    *,
    actor: Actor | None,
    action: str,
    resource_type: str = "",
    resource_id: str | int = "",
    outcome: str = Outcome.ALLOWED,
    reason: str = "",
    organization_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. Call inside the transaction of the change being recorded."""
    if not transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            return record(
                actor=actor,
                action=action,
                resource_type=resource_type,
                resource_id=resource_id,
                outcome=outcome,
                reason=reason,
                organization_id=organization_id,
                detail=detail,
            )
    _lock_chain()
    last = AuditEvent.objects.order_by("-seq").values("seq", "hash").first()
    values: dict[str, Any] = {
        "seq": (last["seq"] + 1) if last else 1,
        "occurred_at": dt.datetime.now(dt.UTC),
        "organization_id": organization_id
        if organization_id is not None
        else (actor.organization_id if actor else None),
        "actor_user_id": actor.user_id if actor else None,
        "actor_token_id": actor.token_id if actor else None,
        "actor_session": _session_ref(actor.session_key if actor else None),
        "action": action,
        "resource_type": resource_type,
        "resource_id": str(resource_id),
        "outcome": str(outcome),
        "reason": reason[:500],
        "ip": actor.ip if actor else None,
        "user_agent": actor.user_agent[:300] if actor else "",
        "device_id": "",
        "detail": detail or {},
        "prev_hash": last["hash"] if last else GENESIS,
    }
    values["hash"] = event_hash(values)
    event = AuditEvent(**values)
    event.save(force_insert=True)
    return event
