"""The ticket status workflow as data."""

from __future__ import annotations

from phidesk.tickets.choices import Status

S = Status
TRANSITIONS: dict[str, frozenset[str]] = {
    S.NEW: frozenset({S.TRIAGED, S.ASSIGNED, S.IN_PROGRESS, S.RESOLVED, S.CLOSED}),
    S.TRIAGED: frozenset({S.ASSIGNED, S.IN_PROGRESS, S.PENDING, S.RESOLVED, S.CLOSED}),
    S.ASSIGNED: frozenset({S.TRIAGED, S.IN_PROGRESS, S.PENDING, S.RESOLVED}),
    S.IN_PROGRESS: frozenset({S.ASSIGNED, S.PENDING, S.RESOLVED}),
    S.PENDING: frozenset({S.IN_PROGRESS, S.RESOLVED}),
    S.RESOLVED: frozenset({S.CLOSED, S.IN_PROGRESS}),
    S.CLOSED: frozenset({S.IN_PROGRESS}),
}

# What a requester may do to their own ticket: accept a resolution, or reopen it.
REQUESTER_TRANSITIONS: dict[str, frozenset[str]] = {
    S.RESOLVED: frozenset({S.CLOSED, S.IN_PROGRESS}),
}

OPEN_STATUSES = frozenset({S.NEW, S.TRIAGED, S.ASSIGNED, S.IN_PROGRESS, S.PENDING})


def is_reopen(from_status: str, to_status: str) -> bool:
    return from_status in (S.RESOLVED, S.CLOSED) and to_status not in (S.RESOLVED, S.CLOSED)


def allowed_targets(from_status: str, *, as_requester: bool = False) -> frozenset[str]:
    table = REQUESTER_TRANSITIONS if as_requester else TRANSITIONS
    return table.get(from_status, frozenset())
