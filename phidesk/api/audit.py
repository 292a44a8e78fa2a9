"""/api/v1/audit: search, export, inclusion proofs and saved searches for privacy officers
and auditors.

Thin: the selectors authorize (404 for everyone else, token scope `audit:read`), audit
every call and shape nothing that could carry PHI.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from phidesk.access.declare import governed_by
from phidesk.api.schemas import ErrorOut
from phidesk.audit import reports, selectors
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


class SavedFiltersIn(AuditQuery):
    """The filters to save. Unknown fields (a patient, say) are refused, never dropped."""

    model_config = ConfigDict(extra="forbid")


class SavedSearchIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        ..., min_length=1, max_length=80, description="Sent in email notices: never a patient"
    )
    schedule: Literal["none", "daily", "weekly"] = "none"
    filters: SavedFiltersIn | None = None


class SavedSearchOut(Schema):
    id: int
    name: str
    schedule: str
    filters: dict[str, str] = Field(..., description="Query-string form of the filters")
    created_at: dt.datetime
    last_sent_at: dt.datetime | None
    run_url: str = Field(..., description="The search page with this saved search applied")


class SavedSearchListOut(Schema):
    items: list[SavedSearchOut]


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


class PatientReportIn(Schema):
    mrn: str = Field(..., min_length=1, max_length=40, description="The patient's MRN")
    limit: int = 200


@governed_by("audit.view")
def audit_patient_report(request: HttpRequest, payload: PatientReportIn) -> dict[str, Any]:
    """Events about one patient's tickets, by blind index. A POST: the MRN stays out of
    URLs and logs, and the `audit.search` event records only that a patient was asked."""
    page = selectors.audit_event_search(
        actor=_actor(request), filters={"patient": payload.mrn}, limit=payload.limit
    )
    return {"items": [asdict(r) for r in page.rows], "next_cursor": None}


def _saved_out(saved: selectors.SavedSearch) -> dict[str, Any]:
    data = asdict(saved)
    data["run_url"] = reports.report_link(saved_id=saved.id)
    return data


@governed_by("audit.view")
def saved_search_list(request: HttpRequest) -> dict[str, Any]:
    return {"items": [_saved_out(s) for s in selectors.saved_search_list(actor=_actor(request))]}


@governed_by("audit.saved_search")
def saved_search_create(request: HttpRequest, payload: SavedSearchIn) -> Status:
    saved = reports.saved_search_create(
        actor=_actor(request),
        name=payload.name,
        filters=payload.filters.filters() if payload.filters else selectors.EventFilter(),
        schedule=payload.schedule,
    )
    return Status(201, _saved_out(saved))


@governed_by("audit.saved_search")
def saved_search_delete(request: HttpRequest, saved_id: int) -> HttpResponse:
    reports.saved_search_delete(actor=_actor(request), saved_id=saved_id)
    return HttpResponse(status=204)


def audit_router(auth: Any) -> Router:
    """The /audit routes, each carrying the API's authentication explicitly."""
    router = Router(tags=["audit"], auth=auth)
    router.get("/events", response={200: AuditPageOut, **ERRORS}, auth=auth)(audit_events)
    router.get("/export", response={200: None, **ERRORS}, auth=auth)(audit_export)
    router.post("/patient-report", response={200: AuditPageOut, **ERRORS}, auth=auth)(
        audit_patient_report
    )
    router.get("/events/{seq}/proof", response={200: ProofOut, **ERRORS}, auth=auth)(
        audit_event_proof
    )
    router.get("/saved-searches", response={200: SavedSearchListOut, **ERRORS}, auth=auth)(
        saved_search_list
    )
    router.post("/saved-searches", response={201: SavedSearchOut, **ERRORS}, auth=auth)(
        saved_search_create
    )
    router.delete("/saved-searches/{saved_id}", response={204: None, **ERRORS}, auth=auth)(
        saved_search_delete
    )
    return router
