"""/api/v1/audit: search, export and inclusion proofs for privacy officers and auditors.

Thin: the selectors authorize (404 for everyone else, token scope `audit:read`), audit
every call and shape nothing that could carry PHI.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any, Literal

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Field, Query, Router, Schema

from phidesk.access.declare import governed_by
from phidesk.api.schemas import ErrorOut
from phidesk.audit import selectors
from phidesk.core.actor import Actor

ERRORS: dict[int, type[Schema]] = {400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 409: ErrorOut}


class AuditQuery(Schema):
    user: int | None = Field(None, ge=1, description="Events this user did")
    ticket: int | None = Field(None, ge=1, description="Events on this ticket (id)")
    resource_type: str | None = Field(None, max_length=64)
    resource_id: str | None = Field(None, max_length=64)
    action: str | None = Field(None, max_length=64, description="e.g. ticket.view or ticket.*")
    outcome: Literal["allowed", "denied", "error"] | None = None
    ip: str | None = Field(None, max_length=45)
    since: dt.datetime | None = Field(None, description="From (inclusive), ISO 8601")
    until: dt.datetime | None = Field(None, description="Until (exclusive), ISO 8601")
    report: Literal["denied", "errors", "phi_reveals", "user_activity"] | None = None

    def filters(self) -> selectors.EventFilter:
        values = self.dict(exclude={"cursor", "limit"})
        return selectors.EventFilter(
            user_id=values.pop("user"), ticket_id=values.pop("ticket"), **values
        )


class AuditPageQuery(AuditQuery):
    cursor: str | None = Field(None, max_length=20, description="next_cursor of the last page")
    limit: int = Field(50, ge=1, le=selectors.MAX_PAGE)


class AuditEventOut(Schema):
    seq: int
    occurred_at: dt.datetime
    actor_user_id: int | None
    actor_token_id: int | None
    action: str
    resource_type: str
    resource_id: str
    outcome: str
    reason: str
    ip: str | None
    user_agent: str
    detail: dict[str, Any]


class AuditPageOut(Schema):
    items: list[AuditEventOut]
    next_cursor: str | None


class ProofOut(Schema):
    event: dict[str, Any]
    leaf_index: int
    tree_size: int
    leaf_hash: str
    path: list[str] = Field(..., description="RFC 9162 audit path, hex, leaf to root")
    checkpoint: str = Field(..., description="C2SP signed note (tlog-checkpoint)")
    public_key: str = Field(..., description="Verifier key; obtain it out of band too")


def _actor(request: HttpRequest) -> Actor:
    return request.auth  # type: ignore[attr-defined]


@governed_by("audit.view")
def audit_events(request: HttpRequest, params: Query[AuditPageQuery]) -> dict[str, Any]:
    page = selectors.audit_event_search(
        actor=_actor(request), filters=params.filters(), cursor=params.cursor, limit=params.limit
    )
    return {"items": [asdict(r) for r in page.rows], "next_cursor": page.next_cursor}


@governed_by("audit.export")
def audit_export(
    request: HttpRequest, params: Query[AuditQuery], format: Literal["csv", "jsonl"] = "jsonl"
) -> StreamingHttpResponse:
    lines = selectors.audit_event_export(
        actor=_actor(request), filters=params.filters(), fmt=format
    )
    kind = "text/csv" if format == "csv" else "application/jsonl"
    response = StreamingHttpResponse(lines, content_type=f"{kind}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-events.{format}"'
    return response


@governed_by("audit.view")
def audit_event_proof(request: HttpRequest, seq: int) -> dict[str, Any]:
    return asdict(selectors.audit_event_proof(actor=_actor(request), seq=seq))


def audit_router(auth: Any) -> Router:
    """The /audit routes, each carrying the API's authentication explicitly."""
    router = Router(tags=["audit"], auth=auth)
    router.get("/events", response={200: AuditPageOut, **ERRORS}, auth=auth)(audit_events)
    router.get("/export", response={200: None, **ERRORS}, auth=auth)(audit_export)
    router.get("/events/{seq}/proof", response={200: ProofOut, **ERRORS}, auth=auth)(
        audit_event_proof
    )
    return router
