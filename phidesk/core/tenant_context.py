"""The current tenant for this unit of work.

Every tenant-scoped manager reads it; a query on a scoped table with no tenant set
raises instead of silently returning every tenant's rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

_current: ContextVar[int | None] = ContextVar("phidesk_tenant", default=None)


def current_tenant_id() -> int | None:
    return _current.get()


@contextlib.contextmanager
def tenant_context(organization_id: int) -> Iterator[None]:
    token = _current.set(organization_id)
    try:
        yield
    finally:
        _current.reset(token)


def set_tenant(organization_id: int | None) -> object:
    """Set the tenant for the rest of this context (middleware); returns a reset token."""
    return _current.set(organization_id)


def reset_tenant(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
