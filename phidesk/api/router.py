"""The JSON API, /api/v1/. Thin: parse, call a service or selector, shape the answer."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, NinjaAPI, Query, Schema, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer, SessionAuth

from phidesk.access.declare import authenticated_only, governed_by
from phidesk.administration.selectors import key_overview
from phidesk.api.audit import audit_router
from phidesk.api.schemas import (
    AssignIn,
    ErrorOut,
    MeOut,
    MessageIn,
    MessageOut,
    QueueOut,
    RevealIn,
    TicketIn,
    TicketOut,
    TicketPageOut,
    TicketPatch,
    TransitionIn,
)
from phidesk.core.actor import Actor
from phidesk.core.errors import DomainError
from phidesk.core.http import client_ip
from phidesk.identity.services import actor_for_user, token_authenticate
from phidesk.tickets import selectors, services
from phidesk.tickets.views_model import TicketDetail


class BearerTokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Actor | None:
        found = token_authenticate(token)
        if found is None:
            return None
        user, api_token = found
        actor = actor_for_user(
            user,
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            token=api_token,
        )
        request.actor = actor  # type: ignore[attr-defined]
        return actor


class SessionActorAuth(SessionAuth):
    """The browser's session, with CSRF enforced on unsafe methods."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Actor | None:
        if super().authenticate(request, key) is None:
            return None
        return getattr(request, "actor", None)


api = NinjaAPI(
    title="PHIdesk API",
    version="1",
    description="Tickets and queues of a PHI-safe help desk. Every call is authorized "
    "and audited; patient fields come back masked unless revealed with a reason.",
    auth=[BearerTokenAuth(), SessionActorAuth()],
    urls_namespace="api",
)


def _error(
    request: HttpRequest, status: int, code: str, message: str, field: str | None = None
) -> HttpResponse:
    return api.create_response(
        request, {"error": code, "message": message, "field": field}, status=status
    )


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return _error(request, exc.status, exc.code, exc.message, getattr(exc, "field", None))


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    loc = [str(p) for p in first.get("loc", []) if p not in ("body", "query", "path", "payload")]
    message = first.get("msg", "invalid input")
    return api.create_response(
        request,
        {
            "error": "invalid",
            "message": f"{'.'.join(loc)}: {message}" if loc else message,
            "field": ".".join(loc) or None,
            "details": [{"loc": e.get("loc"), "msg": e.get("msg")} for e in exc.errors],
        },
        status=422,
    )


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = _error(request, 401, "unauthenticated", "Sign in or send a valid bearer token.")
    response["WWW-Authenticate"] = 'Bearer realm="phidesk"'
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, "http_error", str(exc))


def _actor(request: HttpRequest) -> Actor:
    return request.auth  # type: ignore[attr-defined]


def _ticket_out(detail: TicketDetail) -> dict[str, Any]:
    data = asdict(detail)
    data["ticket"] = data.pop("row")
    data["can"]["transitions"] = list(detail.can.transitions)
    return data


ERRORS: dict[int, type[Schema]] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
}


class TicketQuery(Schema):
    queue: str | None = None
    status: str | None = None
    priority: str | None = None
    assignee: str | None = None
    requester: str | None = None
    q: str | None = None
    open: bool = False
    sort: str = "newest"
    cursor: str | None = None
    limit: int = 25


@api.get("/me", response={200: MeOut, 401: ErrorOut}, tags=["identity"])
@authenticated_only("who am I: the caller's own identity and roles")
def me(request: HttpRequest) -> dict[str, Any]:
    actor = _actor(request)
    return {
        "id": actor.user_id,
        "email": actor.email,
        "organization_id": actor.organization_id,
        "roles": sorted(actor.roles),
        "via_token": actor.token_id is not None,
        "token_scopes": sorted(actor.token_scopes) if actor.token_scopes is not None else None,
    }


@api.get("/tickets", response={200: TicketPageOut, **ERRORS}, tags=["tickets"])
@governed_by("ticket.view")
def ticket_list(request: HttpRequest, params: Query[TicketQuery]) -> dict[str, Any]:
    page = selectors.ticket_list(
        actor=_actor(request),
        filters=selectors.TicketFilters(
            queue=params.queue,
            status=params.status,
            priority=params.priority,
            assignee=params.assignee,
            requester=params.requester,
            text=params.q,
            open_only=params.open,
            sort=params.sort,
        ),
        cursor=params.cursor,
        limit=params.limit,
    )
    return {
        "items": [asdict(r) for r in page.rows],
        "total": page.total,
        "next_cursor": page.next_cursor,
    }


class PatientSearchIn(Schema):
    mrn: str = Field(..., min_length=1, max_length=40, description="The patient's MRN, exact match")
    cursor: str | None = None
    limit: int = 25


@api.post("/tickets/by-patient", response={200: TicketPageOut, **ERRORS}, tags=["tickets"])
@governed_by("ticket.phi_reveal")
def ticket_search_by_patient(request: HttpRequest, payload: PatientSearchIn) -> dict[str, Any]:
    """Tickets about one patient, by exact MRN through the blind index. A POST so the
    MRN never lands in a URL, a proxy log or browser history."""
    page = selectors.ticket_list(
        actor=_actor(request),
        filters=selectors.TicketFilters(patient_mrn=payload.mrn, open_only=False),
        cursor=payload.cursor,
        limit=payload.limit,
    )
    return {
        "items": [asdict(r) for r in page.rows],
        "total": page.total,
        "next_cursor": page.next_cursor,
    }


@api.post("/tickets", response={201: TicketOut, **ERRORS}, tags=["tickets"])
@governed_by("ticket.create")
def ticket_create(request: HttpRequest, payload: TicketIn) -> Status:
    detail = services.ticket_create(
        actor=_actor(request), data=services.NewTicket(**payload.dict())
    )
    return Status(201, _ticket_out(detail))


@api.get("/tickets/{key}", response={200: TicketOut, **ERRORS}, tags=["tickets"])
@governed_by("ticket.view")
def ticket_get(request: HttpRequest, key: str) -> dict[str, Any]:
    return _ticket_out(selectors.ticket_get(actor=_actor(request), key=key))


@api.patch("/tickets/{key}", response={200: TicketOut, **ERRORS}, tags=["tickets"])
@governed_by("ticket.update", "ticket.phi_edit")
def ticket_update(request: HttpRequest, key: str, payload: TicketPatch) -> dict[str, Any]:
    changes = payload.dict(exclude_unset=True)
    return _ticket_out(services.ticket_update(actor=_actor(request), key=key, changes=changes))


@api.post("/tickets/{key}/transition", response={200: TicketOut, **ERRORS}, tags=["tickets"])
@governed_by("ticket.transition", "ticket.requester_transition")
def ticket_transition(request: HttpRequest, key: str, payload: TransitionIn) -> dict[str, Any]:
    return _ticket_out(
        services.ticket_transition(
            actor=_actor(request), key=key, to_status=payload.to, comment=payload.comment
        )
    )


@api.post("/tickets/{key}/assign", response={200: TicketOut, **ERRORS}, tags=["tickets"])
@governed_by("ticket.assign")
def ticket_assign(request: HttpRequest, key: str, payload: AssignIn) -> dict[str, Any]:
    return _ticket_out(
        services.ticket_assign(actor=_actor(request), key=key, assignee_id=payload.assignee_id)
    )


@api.post("/tickets/{key}/reveal", response={200: TicketOut, **ERRORS}, tags=["tickets"])
@governed_by("ticket.phi_reveal")
def ticket_reveal(request: HttpRequest, key: str, payload: RevealIn) -> dict[str, Any]:
    return _ticket_out(
        services.ticket_reveal_phi(actor=_actor(request), key=key, reason=payload.reason)
    )


@api.get("/tickets/{key}/messages", response={200: list[MessageOut], **ERRORS}, tags=["messages"])
@governed_by("ticket.view", "message.view_notes")
def message_list(request: HttpRequest, key: str) -> list[dict[str, Any]]:
    return [asdict(m) for m in selectors.message_list(actor=_actor(request), key=key)]


@api.post("/tickets/{key}/messages", response={201: TicketOut, **ERRORS}, tags=["messages"])
@governed_by("message.reply", "message.note")
def message_create(request: HttpRequest, key: str, payload: MessageIn) -> Status:
    detail = services.message_create(
        actor=_actor(request), key=key, body=payload.body, internal=payload.internal
    )
    return Status(201, _ticket_out(detail))


@api.get("/admin/keys", response={200: dict, **ERRORS}, tags=["administration"])
@governed_by("keys.view")
def keys_status(request: HttpRequest) -> dict[str, Any]:
    """Key provider, health, FIPS mode and the organization's key versions and ages."""
    return asdict(key_overview(actor=_actor(request)))


@api.get("/queues", response={200: list[QueueOut], **ERRORS}, tags=["queues"])
@governed_by("queue.view", "queue.intake")
def queue_list(request: HttpRequest, purpose: str = "work") -> list[dict[str, Any]]:
    if purpose not in ("work", "intake"):
        raise DomainError("purpose must be work or intake")
    return [asdict(q) for q in selectors.queue_list(actor=_actor(request), purpose=purpose)]


api.add_router("/audit", audit_router(api.auth))
