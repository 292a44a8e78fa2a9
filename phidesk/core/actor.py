"""Who is acting, in what capacity, from where: the input of every access decision."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    user_id: int
    organization_id: int
    email: str
    roles: frozenset[str]
    queue_ids: frozenset[int] = frozenset()
    lead_queue_ids: frozenset[int] = frozenset()
    ip: str | None = None
    user_agent: str = ""
    session_key: str | None = None
    token_id: int | None = None
    # None for a browser session (all the user's rights); a set for an API token.
    token_scopes: frozenset[str] | None = None
    mfa_verified_at: dt.datetime | None = None
    purpose: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)
