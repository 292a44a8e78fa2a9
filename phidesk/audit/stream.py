"""Read events in seq order, fast, as (seq, canonical bytes, prev_hash, hash).

Verification, checkpoints, proofs and bundles all hash the same rows; reading them
through this one generator keeps the tight loop in one place. It bypasses the ORM's
per-row converters: the database formats the timestamp, and the canonical JSON is
assembled field by field (a test pins it to `standalone_verify.canonical_json`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from json.encoder import encode_basestring
from typing import Any, NamedTuple

from django.db import connection

from phidesk.audit.chain import timestamp_text
from phidesk.audit.models import AuditEvent

CHUNK = 5000

_TIMESTAMP_SQL = {
    "postgresql": """to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""",
    # Django keeps naive UTC text, with the fraction only when it is not zero.
    "sqlite": "replace(occurred_at, ' ', 'T') || "
    "CASE WHEN length(occurred_at) = 19 THEN '.000000Z' ELSE 'Z' END",
}
_IP_SQL = {"postgresql": "host(ip)", "sqlite": "ip"}
_DETAIL_SQL = {"postgresql": "detail::text", "sqlite": "detail"}


class Row(NamedTuple):
    seq: int
    canonical: bytes
    prev_hash: str
    hash: str


def _select(vendor: str) -> str:
    """Constant SQL per vendor: no user input reaches it (the bounds are parameters)."""
    columns = (
        f"seq, {_TIMESTAMP_SQL[vendor]}, organization_id, actor_user_id, actor_token_id, "
        f"actor_session, action, resource_type, resource_id, outcome, reason, {_IP_SQL[vendor]}, "
        f"user_agent, device_id, {_DETAIL_SQL[vendor]}, prev_hash, hash"
    )
    where = "WHERE seq >= %s AND seq <= %s ORDER BY seq"
    return f"SELECT {columns} FROM {AuditEvent._meta.db_table} {where}"  # noqa: S608


# The canonical encoder for `detail`, made once: sorted keys, compact, UTF-8 as is.
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
if _c_make_encoder is not None:
    _encode_detail: Callable[[Any, int], Iterable[str]] = _c_make_encoder(
        None, None, encode_basestring, None, ":", ",", True, False, True
    )
else:  # pragma: no cover - CPython always has the C encoder
    _fallback = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def _encode_detail(value: Any, _level: int) -> Iterable[str]:
        return _fallback.iterencode(value)


_parse = json.JSONDecoder().decode
_DETAILS: dict[str, str] = {}


def canonical_detail(raw: str) -> str:
    """The canonical text of a stored `detail` (cached: most details repeat)."""
    found = _DETAILS.get(raw)
    if found is None:
        found = "".join(_encode_detail(_parse(raw), 0))
        if len(_DETAILS) < 4096:
            _DETAILS[raw] = found
    return found


def canonical_from_columns(values: tuple[Any, ...]) -> bytes:
    """The canonical bytes from one row of `_select` (timestamp and detail as text).

    Keys in sorted order, as `json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)` writes them.
    """
    (seq, ts, org, user, token, session, action, rtype, rid, outcome, reason, ip, agent,
     device, detail, prev, _) = values  # fmt: skip
    s = encode_basestring
    if len(ts) != 27:
        ts = timestamp_text(ts)
    return (
        f'{{"action":{s(action)},"actor_session":{s(session)},'
        f'"actor_token_id":{"null" if token is None else token},'
        f'"actor_user_id":{"null" if user is None else user},'
        f'"detail":{canonical_detail(detail)},"device_id":{s(device)},'
        f'"ip":{"null" if ip is None else s(ip)},"occurred_at":"{ts}",'
        f'"organization_id":{"null" if org is None else org},"outcome":{s(outcome)},'
        f'"prev_hash":{s(prev)},"reason":{s(reason)},"resource_id":{s(rid)},'
        f'"resource_type":{s(rtype)},"seq":{seq},"user_agent":{s(agent)}}}'
    ).encode()


def rows(*, start: int = 1, end: int | None = None, chunk_size: int = CHUNK) -> Iterator[Row]:
    """Events with start <= seq <= end, by seq; gaps show as jumps in `seq`."""
    sql = _select(connection.vendor)
    build = canonical_from_columns
    with connection.chunked_cursor() as cur:
        cur.execute(sql, [start, end if end is not None else 2**62])
        while True:
            chunk = cur.fetchmany(chunk_size)
            if not chunk:
                return
            for values in chunk:
                yield Row(values[0], build(values), values[15], values[16])


def body_of(seq: int) -> dict[str, object] | None:
    """One event as bundle/JSONL data (chained fields, canonical timestamp, hash)."""
    found = next(iter(rows(start=seq, end=seq)), None)
    if found is None:
        return None
    body: dict[str, object] = json.loads(found.canonical)
    body["hash"] = found.hash
    return body
