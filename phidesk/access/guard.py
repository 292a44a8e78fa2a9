"""The service-side guard: decide, raise on denial, and make sure denials are audited."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.db import transaction

from phidesk.access.engine import AccessDenied, Decision, decide
from phidesk.audit.models import Outcome
from phidesk.audit.services import record
from phidesk.core.actor import Actor

P = ParamSpec("P")
R = TypeVar("R")


def authorize(
    actor: Actor,
    action: str,
    resource: Any,
    *,
    resource_type: str,
    resource_id: str | int,
) -> Decision:
    """Return the allowing decision, or raise AccessDenied (audited by `audited_service`)."""
    decision = decide(actor, action, resource)
    if not decision.allowed:
        raise AccessDenied(
            actor=actor,
            action=action,
            decision=decision,
            resource_type=resource_type,
            resource_id=str(resource_id),
        )
    return decision


def record_denial(denied: AccessDenied) -> None:
    record(
        actor=denied.actor,
        action=denied.action,
        resource_type=denied.resource_type,
        resource_id=denied.resource_id,
        outcome=Outcome.DENIED,
        reason=denied.decision.reason,
    )


def audited_service(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a service atomically. On an access denial its work is rolled back, the
    denial is audited in a transaction of its own, and the error goes up to the
    adapter (which answers 404 or 403)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            with transaction.atomic():
                return fn(*args, **kwargs)
        except AccessDenied as denied:
            record_denial(denied)
            raise

    return wrapper
