"""Mark every view and API route with the policy actions that govern it.

A test walks all URL patterns and fails on any route without a mark, so a new
route cannot be added without saying which decision protects it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from phidesk.access.policy import known_actions

F = TypeVar("F", bound=Callable[..., object])
ATTR = "phidesk_policy"


def governed_by(*actions: str) -> Callable[[F], F]:
    unknown = set(actions) - known_actions()
    if unknown or not actions:
        raise ValueError(f"unknown policy action(s): {sorted(unknown)}")

    def mark(fn: F) -> F:
        setattr(fn, ATTR, tuple(actions))
        return fn

    return mark


def public(reason: str) -> Callable[[F], F]:
    """For routes that show nothing of a tenant (health check, sign-in page)."""

    def mark(fn: F) -> F:
        setattr(fn, ATTR, ("public:" + reason,))
        return fn

    return mark


def authenticated_only(reason: str) -> Callable[[F], F]:
    """Routes that need a signed-in user but show only the user's own data."""

    def mark(fn: F) -> F:
        setattr(fn, ATTR, ("self:" + reason,))
        return fn

    return mark
