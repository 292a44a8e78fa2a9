"""decide(): the one authorization primitive, for the web UI, the API, tasks and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from phidesk.access.policy import Rule, rules_for
from phidesk.core.actor import Actor
from phidesk.core.errors import DomainError


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    rule: str | None = None
    hide_existence: bool = True

    def __bool__(self) -> bool:
        return self.allowed


def _applies(rule: Rule, actor: Actor) -> bool:
    return bool(rule.roles & actor.roles)


def decide(actor: Actor, action: str, resource: Any = None) -> Decision:
    """Explain whether `actor` may perform `action` on `resource`. Deny by default."""
    rules = rules_for(action)
    if not rules:
        return Decision(False, f"no policy defines {action!r}")
    hide = all(r.hide_existence for r in rules)
    if resource is not None:
        resource_tenant = getattr(resource, "organization_id", None)
        if resource_tenant != actor.organization_id:
            return Decision(False, "the resource belongs to another organization", None, True)
    candidates = [r for r in rules if _applies(r, actor)]
    if not candidates:
        return Decision(False, f"no role of the actor may {action}", None, hide)
    failures: list[str] = []
    for rule in candidates:
        if actor.token_scopes is not None and rule.scope not in actor.token_scopes:
            failures.append(f"the API token lacks scope {rule.scope!r}")
            continue
        failed = next((c for c in rule.when if not c.test(actor, resource)), None)
        if failed is None:
            return Decision(True, f"allowed by {rule.id}", rule.id, rule.hide_existence)
        failures.append(failed.explain_fail)
    return Decision(False, "; ".join(dict.fromkeys(failures)), None, hide)


def may_attempt(actor: Actor, action: str) -> bool:
    """Whether any rule could allow `action` for this actor (to show or hide a control;
    the decision on a concrete resource is still `decide`)."""
    return scope_filter(actor, action) is not None


def scope_filter(actor: Actor, action: str) -> Q | None:
    """A filter selecting exactly the rows `decide` would allow, or None for none at all."""
    combined: Q | None = None
    for rule in rules_for(action):
        if not _applies(rule, actor):
            continue
        if actor.token_scopes is not None and rule.scope not in actor.token_scopes:
            continue
        q = Q()
        for cond in rule.when:
            if cond.q is None:
                raise TypeError(f"condition {cond.name} cannot filter querysets")
            q &= cond.q(actor)
        combined = q if combined is None else combined | q
    return combined


def restrict(queryset: QuerySet[Any], actor: Actor, action: str) -> QuerySet[Any]:
    """NetBox-style `restrict`: the rows of `queryset` this actor may `action`."""
    q = scope_filter(actor, action)
    if q is None:
        return queryset.none()
    return queryset.filter(organization_id=actor.organization_id).filter(q)


class AccessDenied(DomainError):
    """Raised by services on a denied decision. Audited, then shown as 404 or 403."""

    def __init__(
        self,
        *,
        actor: Actor,
        action: str,
        decision: Decision,
        resource_type: str,
        resource_id: str,
    ) -> None:
        hidden = decision.hide_existence
        super().__init__(
            "Not found." if hidden else "You are not allowed to do this.",
            code="not_found" if hidden else "forbidden",
        )
        self.status = 404 if hidden else 403
        self.actor = actor
        self.action = action
        self.decision = decision
        self.resource_type = resource_type
        self.resource_id = resource_id
