"""Web views: parse the request, call a service or selector, render. Nothing else."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from phidesk.access.declare import authenticated_only, governed_by, public
from phidesk.administration import services as admin_services
from phidesk.administration.selectors import key_overview
from phidesk.core.actor import Actor
from phidesk.core.errors import DomainError, InvalidInput
from phidesk.tickets import selectors, services
from phidesk.tickets.choices import Category, Priority, Status
from phidesk.web.context import desk as desk_context


def _actor(request: HttpRequest) -> Actor:
    return request.actor  # type: ignore[attr-defined]


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def page_or_partial(
    request: HttpRequest, page: str, partial: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """The whole page for a normal request, just the fragment for an htmx request."""
    return render(request, partial if _is_htmx(request) else page, context, status=status)


CHOICES = {
    "statuses": Status.choices,
    "priorities": Priority.choices,
    "categories": Category.choices,
}


@public("liveness probe; shows no data")
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@authenticated_only("sends each person to their own start page")
@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if desk_context(request)["is_desk_staff"]:
        return redirect("web:desk")
    return redirect("web:portal")


def _filters_from(request: HttpRequest, **overrides: Any) -> selectors.TicketFilters:
    get = request.GET
    values: dict[str, Any] = {
        "queue": get.get("queue") or None,
        "status": get.get("status") or None,
        "priority": get.get("priority") or None,
        "assignee": get.get("assignee") or None,
        "text": get.get("q") or None,
        "open_only": get.get("open", "1" if not get.get("status") else "") == "1",
        "sort": get.get("sort") or "newest",
    }
    values.update(overrides)
    return selectors.TicketFilters(**values)


@governed_by("ticket.view")
@login_required
@require_GET
def portal(request: HttpRequest) -> HttpResponse:
    """A requester's own tickets."""
    actor = _actor(request)
    filters = _filters_from(request, requester="me", queue=None, assignee=None)
    page = selectors.ticket_list(actor=actor, filters=filters, cursor=request.GET.get("cursor"))
    return page_or_partial(
        request,
        "web/portal.html",
        "web/partials/ticket_table.html",
        {"page": page, "filters": filters, "mode": "portal", **CHOICES},
    )


@governed_by("ticket.create", "queue.intake")
@login_required
def ticket_new(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    queues = selectors.queue_list(actor=actor, purpose="intake")
    # Preselect a general queue: most requests are not about a patient's record.
    default_queue = next((q for q in queues if not q.restricted_phi), queues[0] if queues else None)
    form: dict[str, Any] = {
        "queue": default_queue.slug if default_queue else "",
        "category": Category.OTHER,
        "priority": Priority.P3,
    }
    error: DomainError | None = None
    if request.method == "POST":
        form = {
            k: request.POST.get(k, "")
            for k in (
                "queue",
                "title",
                "description",
                "category",
                "priority",
                "patient_mrn",
                "patient_name",
                "patient_dob",
            )
        }
        try:
            detail = services.ticket_create(actor=actor, data=services.NewTicket(**form))
        except InvalidInput as exc:
            error = exc
        else:
            return redirect("web:ticket_detail", key=detail.row.key)
    return render(
        request,
        "web/ticket_new.html",
        {"queues": queues, "form": form, "error": error, **CHOICES},
        status=400 if error else 200,
    )


@governed_by("ticket.view", "queue.view")
@login_required
@require_GET
def desk(request: HttpRequest) -> HttpResponse:
    """The agent's queue view: filter, sort, page."""
    actor = _actor(request)
    filters = _filters_from(request)
    page = selectors.ticket_list(actor=actor, filters=filters, cursor=request.GET.get("cursor"))
    queues = selectors.queue_list(actor=actor, purpose="work")
    counts = selectors.queue_counts(actor=actor)
    return page_or_partial(
        request,
        "web/desk.html",
        "web/partials/ticket_table.html",
        {
            "page": page,
            "filters": filters,
            "queues": [(q, counts.get(q.id, 0)) for q in queues],
            "mode": "desk",
            **CHOICES,
        },
    )


@governed_by("ticket.phi_reveal")
@login_required
def patient_search(request: HttpRequest) -> HttpResponse:
    """Tickets about one patient, by exact MRN. POST only, so the MRN stays out of URLs,
    server logs and browser history; the search is audited without the MRN."""
    context: dict[str, Any] = {"filters": selectors.TicketFilters(), "mode": "desk", **CHOICES}
    if request.method == "POST":
        mrn = request.POST.get("mrn", "").strip()
        if not mrn:
            raise InvalidInput("give the MRN to search for", field="mrn")
        context["page"] = selectors.ticket_list(
            actor=_actor(request),
            filters=selectors.TicketFilters(patient_mrn=mrn),
            limit=selectors.MAX_PAGE,
        )
    return render(request, "web/patient_search.html", context)


@governed_by("keys.view")
@login_required
@require_GET
def keys_page(request: HttpRequest) -> HttpResponse:
    """Encryption keys of the organization: provider health, versions and their ages."""
    status = key_overview(actor=_actor(request))
    return render(request, "web/keys.html", {"status": status})


@governed_by("keys.rotate")
@login_required
@require_POST
def keys_rotate(request: HttpRequest) -> HttpResponse:
    result = admin_services.keys_rotate(actor=_actor(request))
    messages.success(
        request,
        f"New key version v{result.new_version}; {result.rewrapped} data keys rewrapped.",
    )
    return redirect("web:keys")


def _detail_context(request: HttpRequest, detail: Any) -> dict[str, Any]:
    actor = _actor(request)
    context: dict[str, Any] = {"t": detail, **CHOICES}
    if detail.can.assign:
        context["assignable"] = selectors.assignable_people(
            actor=actor, queue_id=detail.row.queue.id
        )
    if detail.can.update:
        context["move_targets"] = selectors.queue_list(actor=actor, purpose="work")
    return context


@governed_by("ticket.view")
@login_required
@require_GET
def ticket_detail(request: HttpRequest, key: str) -> HttpResponse:
    detail = selectors.ticket_get(actor=_actor(request), key=key)
    return render(request, "web/ticket_detail.html", _detail_context(request, detail))


def _after_action(request: HttpRequest, detail: Any) -> HttpResponse:
    if _is_htmx(request):
        return render(request, "web/partials/ticket_main.html", _detail_context(request, detail))
    return redirect(reverse("web:ticket_detail", kwargs={"key": detail.row.key}))


@governed_by("message.reply")
@login_required
@require_POST
def ticket_reply(request: HttpRequest, key: str) -> HttpResponse:
    detail = services.message_create(
        actor=_actor(request), key=key, body=request.POST.get("body", ""), internal=False
    )
    return _after_action(request, detail)


@governed_by("message.note")
@login_required
@require_POST
def ticket_note(request: HttpRequest, key: str) -> HttpResponse:
    detail = services.message_create(
        actor=_actor(request), key=key, body=request.POST.get("body", ""), internal=True
    )
    return _after_action(request, detail)


@governed_by("ticket.assign")
@login_required
@require_POST
def ticket_assign(request: HttpRequest, key: str) -> HttpResponse:
    raw = request.POST.get("assignee", "")
    if raw and not raw.isdigit():
        raise InvalidInput("choose a person from the list", field="assignee")
    detail = services.ticket_assign(
        actor=_actor(request), key=key, assignee_id=int(raw) if raw else None
    )
    return _after_action(request, detail)


@governed_by("ticket.transition", "ticket.requester_transition")
@login_required
@require_POST
def ticket_transition(request: HttpRequest, key: str) -> HttpResponse:
    detail = services.ticket_transition(
        actor=_actor(request),
        key=key,
        to_status=request.POST.get("to", ""),
        comment=request.POST.get("comment", ""),
    )
    return _after_action(request, detail)


def _parse_due(raw: str) -> dt.datetime | None:
    if not raw:
        return None
    try:
        return dt.datetime.fromisoformat(raw).replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise InvalidInput("due date must be a date and time", field="due_at") from exc


@governed_by("ticket.update")
@login_required
@require_POST
def ticket_edit(request: HttpRequest, key: str) -> HttpResponse:
    post = request.POST
    changes: dict[str, Any] = {
        name: post[name] for name in ("title", "category", "priority", "queue") if name in post
    }
    if "due_at" in post:
        changes["due_at"] = _parse_due(post["due_at"])
    detail = services.ticket_update(actor=_actor(request), key=key, changes=changes)
    return _after_action(request, detail)


@governed_by("ticket.phi_reveal")
@login_required
@require_POST
def ticket_reveal(request: HttpRequest, key: str) -> HttpResponse:
    detail = services.ticket_reveal_phi(
        actor=_actor(request), key=key, reason=request.POST.get("reason", "")
    )
    context = {"t": detail}
    return page_or_partial(
        request, "web/ticket_revealed.html", "web/partials/patient.html", context
    )


# --- Error pages (never a stack trace, never a 500 for bad input) -------------


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(
        request, "web/error.html", {"error": {"status": 404, "message": "Not found."}}, status=404
    )


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(
        request,
        "web/error.html",
        {"error": {"status": 403, "message": "You are not allowed to do this."}},
        status=403,
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(
        request, "web/error.html", {"error": {"status": 400, "message": "Bad request."}}, status=400
    )


def server_error(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "web/error.html",
        {"error": {"status": 500, "message": "Something went wrong on our side."}},
        status=500,
    )
