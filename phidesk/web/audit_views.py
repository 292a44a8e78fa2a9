"""Audit search and reports for privacy officers and auditors: parse, call a selector, render.

The selectors authorize (outsiders get 404), parse the filters and audit every search
and export; these views only carry the request to them.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from phidesk.access.declare import governed_by
from phidesk.audit import selectors
from phidesk.core.actor import Actor
from phidesk.core.errors import InvalidInput

PAGE_SIZE = 50
REPORT_LABELS = (
    ("denied", "All denied events"),
    ("phi_reveals", "Patient detail reveals"),
    ("errors", "Errors"),
)


def _actor(request: HttpRequest) -> Actor:
    return request.actor  # type: ignore[attr-defined]


@governed_by("audit.view")
@login_required
@require_GET
def audit_search(request: HttpRequest) -> HttpResponse:
    """Search the trail; canned reports are links that preset the filters."""
    context: dict[str, Any] = {
        "form": request.GET,
        "reports": REPORT_LABELS,
        "outcomes": selectors.OUTCOME_CHOICES,
    }
    status = 200
    try:
        page = selectors.audit_event_search(
            actor=_actor(request),
            filters=request.GET,
            cursor=request.GET.get("cursor") or None,
            limit=PAGE_SIZE,
        )
    except InvalidInput as exc:
        context["error"] = exc
        status = 400
    else:
        query = page.filters.query()
        context["page"] = page
        context["export_query"] = urlencode(query)
        if page.next_cursor:
            context["next_query"] = urlencode({**query, "cursor": page.next_cursor})
    htmx = request.headers.get("HX-Request") == "true"
    template = "web/audit/_results.html" if htmx else "web/audit/search.html"
    return render(request, template, context, status=status)


@governed_by("audit.export")
@login_required
@require_GET
def audit_export(request: HttpRequest, fmt: str) -> StreamingHttpResponse:
    """The matching events as a CSV or JSONL download (the export is audited)."""
    lines = selectors.audit_event_export(actor=_actor(request), filters=request.GET, fmt=fmt)
    kind = "text/csv" if fmt == "csv" else "application/jsonl"
    response = StreamingHttpResponse(lines, content_type=f"{kind}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-events.{fmt}"'
    return response
