"""The canonical serialization and hash of an audit event (documented in docs/audit.md).

The byte-level rules live in `standalone_verify`, the file auditors run offline, so the
server and the auditor hash exactly the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from phidesk.audit.standalone_verify import CHAINED_FIELDS, GENESIS, canonical_json

__all__ = ["CHAINED_FIELDS", "GENESIS", "canonical", "event_hash", "timestamp_text"]

_UTC = dt.UTC


def timestamp_text(value: dt.datetime | str) -> str:
    """ISO 8601 UTC with microseconds and `Z`, from an aware datetime or a SQLite text value."""
    if isinstance(value, str):
        # SQLite keeps Django datetimes as naive UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]".
        value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=_UTC)
    if value.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    if value.utcoffset():
        value = value.astimezone(_UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_body(values: dict[str, Any]) -> dict[str, Any]:
    """The chained fields of `values` as JSON-ready data."""
    body = {name: values[name] for name in CHAINED_FIELDS}
    body["occurred_at"] = timestamp_text(values["occurred_at"])
    return body


def canonical(values: dict[str, Any]) -> bytes:
    """Sorted-key compact JSON, UTF-8; timestamps as ISO 8601 UTC with microseconds."""
    return canonical_json(canonical_body(values))


def event_hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(values)).hexdigest()
