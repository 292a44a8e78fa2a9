"""Domain errors. Adapters (web, API) map each to one HTTP status; none is ever a 500."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a user can cause. Carries a stable code and a safe message."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(DomainError):
    """Missing, or not visible to this actor: the two are indistinguishable on purpose."""

    status = 404
    code = "not_found"


class Forbidden(DomainError):
    """The actor can see the resource but may not do this to it."""

    status = 403
    code = "forbidden"


class Conflict(DomainError):
    """The request is valid but the resource's state does not allow it (e.g. a transition)."""

    status = 409
    code = "conflict"


class InvalidInput(DomainError):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


class TenantContextMissing(RuntimeError):
    """A tenant-scoped table was queried outside a tenant context: a programming error."""
