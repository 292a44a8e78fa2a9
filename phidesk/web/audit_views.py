"""Audit search and reports for privacy officers and auditors: parse, call a selector, render.

The selectors authorize (outsiders get 404), parse the filters and audit every search
and export; these views only carry the request to them. Saved searches are the
signed-in person's own (`phidesk.audit.reports`); anyone else's id is a 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from phidesk.access.declare import governed_by
from phidesk.audit import reports, selectors
from phidesk.core.actor import Actor
from phidesk.core.errors import DomainError, InvalidInput, NotFound

PAGE_SIZE = 50
REPORT_LABELS = (
    ("denied", "All denied events"),
    ("phi_reveals", "Patient detail reveals"),
    ("errors", "Errors"),
)


def _actor(request: HttpRequest) -> Actor:
    return request.actor  # type: ignore[attr-defined]


def _saved_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 18:
        raise NotFound("Not found.")
    return int(raw)


def _base_context(form: Mapping[str, str]) -> dict[str, Any]:
    return {
        "form": form,
        "reports": REPORT_LABELS,
        "outcomes": selectors.OUTCOME_CHOICES,
        "schedules": selectors.SCHEDULE_CHOICES,
    }


@governed_by("audit.view")
@login_required
@require_GET
def audit_search(request: HttpRequest) -> HttpResponse:
    """Search the trail; canned reports and saved searches (`?saved=<id>`) preset filters."""
    actor = _actor(request)
    context = _base_context(request.GET)
    filters: Mapping[str, str] = request.GET
    status = 200
    try:
        if "saved" in request.GET:
            current = selectors.saved_search_get(
                actor=actor, saved_id=_saved_id(request.GET["saved"])
            )
            filters = current.filters
            context.update(form=current.filters, current_saved=current)
        page = selectors.audit_event_search(
            actor=actor, filters=filters, cursor=request.GET.get("cursor") or None, limit=PAGE_SIZE
        )
    except InvalidInput as exc:
        context["error"] = exc
        status = 400
    else:
        query = page.filters.query()
        context["page"] = page
        context["export_query"] = urlencode(query)
        context["save_fields"] = sorted(query.items())
        context["can_save"] = page.filters.patient is None
        if page.next_cursor:
            context["next_query"] = urlencode({**query, "cursor": page.next_cursor})
    if request.headers.get("HX-Request") == "true":
        return render(request, "web/audit/_results.html", context, status=status)
    context["saved_searches"] = selectors.saved_search_list(actor=actor)
    return render(request, "web/audit/search.html", context, status=status)


@governed_by("audit.view")
@login_required
@require_POST
def audit_patient_report(request: HttpRequest) -> HttpResponse:
    """Everything that touched one patient's tickets. A POST, so the MRN stays out of URLs,
    logs and history; one page of the newest events (no cursor link that would carry it)."""
    actor = _actor(request)
    context = _base_context({})
    status = 200
    mrn = request.POST.get("mrn", "").strip()
    try:
        if not mrn:
            raise InvalidInput("give the patient's MRN", field="patient")
        context["page"] = selectors.audit_event_search(
            actor=actor, filters={"patient": mrn}, limit=selectors.MAX_PAGE
        )
        context["patient_report"] = True
    except InvalidInput as exc:
        context["error"] = exc
        status = 400
    context["saved_searches"] = selectors.saved_search_list(actor=actor)
    return render(request, "web/audit/search.html", context, status=status)


@governed_by("audit.saved_search")
@login_required
@require_POST
def audit_saved_create(request: HttpRequest) -> HttpResponse:
    """Save the posted filters under a name, optionally with a schedule."""
    actor = _actor(request)
    try:
        saved = reports.saved_search_create(
            actor=actor,
            name=request.POST.get("name", ""),
            filters=request.POST,
            schedule=request.POST.get("schedule") or "none",
        )
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        context = _base_context(request.POST)
        context["save_error"] = exc
        context["save_fields"] = [
            (k, request.POST[k]) for k in selectors.SAVABLE_PARAMS if request.POST.get(k)
        ]
        context["can_save"] = not request.POST.get("patient")
        context["saved_searches"] = selectors.saved_search_list(actor=actor)
        return render(request, "web/audit/search.html", context, status=exc.status)
    messages.success(request, f"Saved the search “{saved.name}”.")
    return redirect(f"{reverse('web:audit_search')}?{urlencode({'saved': saved.id})}")


@governed_by("audit.saved_search")
@login_required
@require_POST
def audit_saved_delete(request: HttpRequest, saved_id: int) -> HttpResponse:
    """Delete one of your own saved searches (anyone else's is a 404)."""
    reports.saved_search_delete(actor=_actor(request), saved_id=saved_id)
    messages.success(request, "Deleted the saved search.")
    return redirect("web:audit_search")


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
