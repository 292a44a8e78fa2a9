"""audit.record(): append one event to the chain, inside the caller's transaction.

Appends are ordered by one lock held until the caller commits, so seq is gapless and
each event names its committed predecessor. On PostgreSQL the lock, the read of the
chain head, the hash and the insert run in one server-side call (`audit_append`, see
migration 0003): one round trip, so the lock is held as briefly as a commit allows.
Record last in a transaction: the lock is held from here to the commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
from typing import Any

from django.db import connection, transaction

from phidesk.audit import checkpoints
from phidesk.audit.chain import GENESIS, canonical_body, event_hash
from phidesk.audit.models import AuditEvent, Outcome
from phidesk.audit.standalone_verify import canonical_json_exact
from phidesk.core.actor import Actor

# The PostgreSQL advisory lock that orders appends is taken inside `audit_append`
# (migration 0004): key 0x50484944 ("PHID"), visible in pg_locks as objid 1346914628.

_LIMITS = {
    "actor_session": 64,
    "action": 64,
    "resource_type": 64,
    "resource_id": 64,
    "reason": 500,
    "user_agent": 300,
    "device_id": 64,
}
_DETAIL_MAX_DEPTH = 6


def _session_ref(session_key: str | None) -> str:
    """Refer to a session without storing its key (a key in a log is a usable credential)."""
    if not session_key:
        return ""
    return hashlib.sha256(session_key.encode()).hexdigest()[:32]


def _text(value: object, limit: int) -> str:
    """Text the database stores byte for byte: no NUL, no lone surrogates, within limits."""
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        text = text.replace("\x00", "")
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:limit]


def _ip(value: str | None) -> str | None:
    """The address as PostgreSQL's inet prints it, so the stored value hashes the same."""
    if not value:
        return None
    try:
        addr: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
            value.strip().split("%", 1)[0]
        )
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        elif 1 < int(addr) < 2**32:  # deprecated IPv4-compatible form, ::a.b.c.d
            addr = ipaddress.IPv4Address(int(addr))
    return str(addr)


def _json_safe(value: Any, depth: int = 0) -> Any:
    """Detail values that survive a JSON/jsonb round trip unchanged (floats become text)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _text(value, 1000)
    if depth >= _DETAIL_MAX_DEPTH:
        return _text(json.dumps(value, default=str), 1000)
    if isinstance(value, dict):
        return {_text(k, 100): _json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_json_safe(v, depth + 1) for v in items]
    return _text(repr(value) if isinstance(value, float) else value, 1000)


def _values(
    *,
    actor: Actor | None,
    action: str,
    resource_type: str,
    resource_id: str | int,
    outcome: str,
    reason: str,
    organization_id: int | None,
    detail: dict[str, Any] | None,
) -> dict[str, Any]:
    if str(outcome) not in Outcome.values:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    return {
        "occurred_at": dt.datetime.now(dt.UTC),
        "organization_id": organization_id
        if organization_id is not None
        else (actor.organization_id if actor else None),
        "actor_user_id": actor.user_id if actor else None,
        "actor_token_id": actor.token_id if actor else None,
        "actor_session": _session_ref(actor.session_key if actor else None),
        "action": _text(action, _LIMITS["action"]),
        "resource_type": _text(resource_type, _LIMITS["resource_type"]),
        "resource_id": _text(resource_id, _LIMITS["resource_id"]),
        "outcome": str(outcome),
        "reason": _text(reason, _LIMITS["reason"]),
        "ip": _ip(actor.ip) if actor else None,
        "user_agent": _text(actor.user_agent, _LIMITS["user_agent"]) if actor else "",
        "device_id": _text(actor.extra.get("device_id", ""), _LIMITS["device_id"]) if actor else "",
        "detail": _json_safe(detail or {}),
    }


_PREV_MARK = "#" * 64
_PREV_SLOT = f'"prev_hash":"{_PREV_MARK}"'
_SEQ_SLOT = ',"seq":0,"user_agent":'


def _template(values: dict[str, Any]) -> tuple[str, str, str]:
    """The canonical text split around prev_hash and seq, which only the database knows.

    The two slots are found from the right: every key after `detail` holds a plain
    string or number, and a quote inside a string is escaped, so neither slot can be
    imitated by data.
    """
    text = canonical_json_exact(canonical_body({**values, "prev_hash": _PREV_MARK, "seq": 0}))
    decoded = text.decode()
    cut = decoded.rindex(_PREV_SLOT) + len('"prev_hash":"')
    head, after = decoded[:cut], decoded[cut + len(_PREV_MARK) :]
    seq_at = after.rindex(_SEQ_SLOT) + len(',"seq":')
    return head, after[:seq_at], after[seq_at + 1 :]


_APPEND_SQL = (
    "SELECT new_seq, new_prev_hash, new_hash FROM audit_append("
    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::inet, %s, %s, %s::jsonb)"
)


def _append_postgresql(values: dict[str, Any]) -> dict[str, Any]:
    head, mid, tail = _template(values)
    params = [
        head,
        mid,
        tail,
        values["occurred_at"],
        values["organization_id"],
        values["actor_user_id"],
        values["actor_token_id"],
        values["actor_session"],
        values["action"],
        values["resource_type"],
        values["resource_id"],
        values["outcome"],
        values["reason"],
        values["ip"],
        values["user_agent"],
        values["device_id"],
        json.dumps(values["detail"], ensure_ascii=False),
    ]
    with connection.cursor() as cur:
        cur.execute(_APPEND_SQL, params)
        seq, prev_hash, digest = cur.fetchone()
    expected = hashlib.sha256(f"{head}{prev_hash}{mid}{seq}{tail}".encode()).hexdigest()
    if digest != expected:
        # The database hashed other bytes than we would (encoding?): never chain those.
        raise RuntimeError("audit_append hashed unexpected bytes; check the database encoding")
    return {**values, "seq": seq, "prev_hash": prev_hash, "hash": digest}


def _append_python(values: dict[str, Any]) -> dict[str, Any]:
    """SQLite: the IMMEDIATE transaction holds the database write lock until commit."""
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    values = {
        **values,
        "seq": (last[0] + 1) if last else 1,
        "prev_hash": last[1] if last else GENESIS,
    }
    values["hash"] = event_hash(values)
    AuditEvent(**values).save(force_insert=True)
    return values


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
    """Append one event. Call inside the transaction of the change being recorded.

    Never put PHI in clear into `reason` or `detail`: refer to patients by blind index.
    """
    values = _values(
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        outcome=outcome,
        reason=reason,
        organization_id=organization_id,
        detail=detail,
    )
    if connection.vendor == "postgresql":
        # Outside a transaction the single statement is its own transaction.
        stored = _append_postgresql(values)
    elif transaction.get_connection().in_atomic_block:
        stored = _append_python(values)
    else:
        with transaction.atomic():
            stored = _append_python(values)
    checkpoints.after_append(stored["seq"])
    event = AuditEvent(**stored)
    event._state.adding = False
    event._state.db = connection.alias
    return event
