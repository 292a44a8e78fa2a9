"""The canonical serialization and hash of an audit event (documented in docs/audit.md)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "0" * 64

CHAINED_FIELDS = (
    "seq",
    "occurred_at",
    "organization_id",
    "actor_user_id",
    "actor_token_id",
    "actor_session",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "reason",
    "ip",
    "user_agent",
    "device_id",
    "detail",
    "prev_hash",
)


def canonical(values: dict[str, Any]) -> bytes:
    """Sorted-key compact JSON, UTF-8; timestamps as ISO 8601 UTC with microseconds."""
    body = {}
    for name in CHAINED_FIELDS:
        value = values[name]
        if name == "occurred_at":
            value = value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body[name] = value
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(values)).hexdigest()
