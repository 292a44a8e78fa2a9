"""Audit search and reports for privacy officers and auditors. Every search is audited.

Authorization: audit sits below access in the layers (access records its denials here),
so it cannot import it. The decision function is named by the setting
PHIDESK_AUDIT_AUTHORIZER (default `phidesk.access.engine.decide`) and resolved when
used: the one policy still decides, and a missing or failing authorizer denies.
Outsiders get 404: the trail's existence is not theirs to probe.

Patients: search by blind index only. The crypto work will supply the indexer
(PHIDESK_AUDIT_PATIENT_INDEXER: `f(patient_ref, organization_id) -> index`), and
services put the index into `detail["patient_index"]` when they touch a patient.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import ipaddress
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.module_loading import import_string

from phidesk.audit import conf
from phidesk.audit.chain import CHAINED_FIELDS, timestamp_text
from phidesk.audit.merkle import ProofUnavailable, inclusion_proof
from phidesk.audit.models import AuditEvent, Outcome, SavedAuditSearch, Schedule
from phidesk.audit.services import record
from phidesk.audit.signing import public_key_text
from phidesk.audit.stream import body_of
from phidesk.core.actor import Actor
from phidesk.core.errors import Conflict, InvalidInput, NotFound

MAX_PAGE = 200
OUTCOME_CHOICES = Outcome.choices
SCHEDULE_CHOICES = Schedule.choices
EXPORT_FORMATS = ("csv", "jsonl")
# The query-string names of EventFilter's fields that a saved search may hold (no patient).
SAVABLE_PARAMS = (
    "user",
    "ticket",
    "resource_type",
    "resource_id",
    "action",
    "outcome",
    "ip",
    "since",
    "until",
    "report",
)
_ACTION_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-*")

# Canned reports: a name and the filters it means.
REPORTS: dict[str, dict[str, str]] = {
    "denied": {"outcome": Outcome.DENIED},
    "errors": {"outcome": Outcome.ERROR},
    "phi_reveals": {"action": "ticket.phi_reveal"},
    "user_activity": {},  # "everything user Y touched": needs `user`
}


class _Decision(Protocol):
    allowed: bool
    reason: str


@dataclass(frozen=True)
class EventFilter:
    """What to look for. Text fields are matched exactly; `action` takes a trailing `*`."""

    user_id: int | None = None
    ticket_id: int | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    action: str | None = None
    outcome: str | None = None
    ip: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    patient: str | None = None
    report: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> EventFilter:
        """Filters from form or query-string text ("" means unset). Times are UTC."""

        def text(name: str) -> str | None:
            value = (query.get(name) or "").strip()
            return value or None

        def number(name: str) -> int | None:
            value = text(name)
            if value is None:
                return None
            if not value.isdigit() or len(value) > 18:
                raise InvalidInput(f"{name} must be a number", field=name)
            return int(value)

        def moment(name: str, *, end: bool = False) -> dt.datetime | None:
            value = text(name)
            if value is None:
                return None
            try:
                parsed = dt.datetime.fromisoformat(value)
            except ValueError as exc:
                raise InvalidInput(
                    f"{name} must be a date (YYYY-MM-DD[THH:MM])", field=name
                ) from exc
            if end and len(value) == 10:  # a whole day: up to the next midnight
                parsed += dt.timedelta(days=1)
            return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed

        return cls(
            user_id=number("user"),
            ticket_id=number("ticket"),
            resource_type=text("resource_type"),
            resource_id=text("resource_id"),
            action=text("action"),
            outcome=text("outcome"),
            ip=text("ip"),
            since=moment("since"),
            until=moment("until", end=True),
            patient=text("patient"),
            report=text("report"),
        )

    def query(self) -> dict[str, str]:
        """The filters as query-string values (for links: next page, export)."""
        names = {"user_id": "user", "ticket_id": "ticket"}
        out: dict[str, str] = {}
        for key, value in asdict(self).items():
            if value is None or key == "patient":
                continue
            out[names.get(key, key)] = (
                value.strftime("%Y-%m-%dT%H:%M") if isinstance(value, dt.datetime) else str(value)
            )
        return out

    def validate(self) -> EventFilter:
        if self.report is not None and self.report not in REPORTS:
            raise InvalidInput(f"unknown report {self.report!r}", field="report")
        if self.report == "user_activity" and self.user_id is None:
            raise InvalidInput("choose the user whose activity to report", field="user")
        if self.outcome is not None and self.outcome not in Outcome.values:
            raise InvalidInput("outcome must be allowed, denied or error", field="outcome")
        if self.action is not None and (
            len(self.action) > 64 or not set(self.action) <= _ACTION_CHARS
        ):
            raise InvalidInput("an action looks like ticket.view or ticket.*", field="action")
        if self.ip is not None:
            try:
                ipaddress.ip_address(self.ip)
            except ValueError as exc:
                raise InvalidInput("not an IP address", field="ip") from exc
        for name in ("resource_type", "resource_id"):
            value = getattr(self, name)
            if value is not None and len(value) > 64:
                raise InvalidInput(f"{name} is at most 64 characters", field=name)
        if self.since and self.until and self.since > self.until:
            raise InvalidInput("the time range ends before it starts", field="until")
        if self.patient is not None and conf.patient_indexer() is None:
            raise InvalidInput(
                "patient search needs blind indexes, which are not configured yet",
                field="patient",
            )
        return self

    def effective(self) -> EventFilter:
        """This filter with its report's filters applied."""
        preset = REPORTS.get(self.report or "", {})
        values = {k: v for k, v in asdict(self).items() if v is not None}
        return EventFilter(**{**preset, **values})

    def audit_detail(self) -> dict[str, Any]:
        """The filters for the audit log. A patient reference is recorded as its index."""
        detail: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if value is None or key == "patient":
                continue
            detail[key] = value.isoformat() if isinstance(value, dt.datetime) else value
        if self.patient is not None:
            detail["patient_index"] = "<blind index>"
        return detail


@dataclass(frozen=True)
class EventRow:
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


@dataclass(frozen=True)
class EventPage:
    rows: list[EventRow]
    next_cursor: str | None
    filters: EventFilter


_ROW_FIELDS = tuple(EventRow.__dataclass_fields__)


def audit_decision(actor: Actor, action: str) -> tuple[bool, str]:
    """Ask the access policy named by PHIDESK_AUDIT_AUTHORIZER; (allowed, reason).

    Nothing is recorded here; a missing or failing authorizer denies.
    """
    try:
        decide = import_string(conf.authorizer())
        decision: _Decision = decide(actor, action, None)
        return bool(decision.allowed), str(decision.reason)
    except Exception as exc:  # a broken authorizer must deny, never allow
        return False, f"authorizer failed: {type(exc).__name__}"


def audit_authorize(actor: Actor, action: str) -> None:
    """Ask the access policy; audit and answer 404 on denial."""
    allowed, reason = audit_decision(actor, action)
    if not allowed:
        record(
            actor=actor,
            action=action,
            resource_type="audit",
            outcome=Outcome.DENIED,
            reason=reason,
        )
        raise NotFound("Not found.")


def _patient_index(actor: Actor, patient: str) -> str:
    indexer = conf.patient_indexer()
    assert indexer is not None  # validate() refused the filter otherwise
    return str(import_string(indexer)(patient, actor.organization_id))


def event_queryset(actor: Actor, f: EventFilter) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.filter(organization_id=actor.organization_id)
    if f.user_id is not None:
        qs = qs.filter(actor_user_id=f.user_id)
    if f.ticket_id is not None:
        qs = qs.filter(resource_type="ticket", resource_id=str(f.ticket_id))
    if f.resource_type is not None:
        qs = qs.filter(resource_type=f.resource_type)
    if f.resource_id is not None:
        qs = qs.filter(resource_id=f.resource_id)
    if f.action is not None:
        qs = (
            qs.filter(action__startswith=f.action[:-1])
            if f.action.endswith("*")
            else qs.filter(action=f.action)
        )
    if f.outcome is not None:
        qs = qs.filter(outcome=f.outcome)
    if f.ip is not None:
        qs = qs.filter(ip=f.ip)
    if f.since is not None:
        qs = qs.filter(occurred_at__gte=f.since)
    if f.until is not None:
        qs = qs.filter(occurred_at__lt=f.until)
    if f.patient is not None:
        qs = qs.filter(Q(detail__patient_index=_patient_index(actor, f.patient)))
    return qs


def parse_filters(filters: EventFilter | Mapping[str, str]) -> EventFilter:
    parsed = filters if isinstance(filters, EventFilter) else EventFilter.from_query(filters)
    return parsed.validate()


def audit_event_search(
    *,
    actor: Actor,
    filters: EventFilter | Mapping[str, str],
    cursor: str | None = None,
    limit: int = 50,
) -> EventPage:
    """One page of matching events, newest first, for the actor's organization only.

    `filters` may be raw query text: it is parsed after the access check, so an
    outsider learns nothing from error messages.
    """
    audit_authorize(actor, "audit.view")
    filters = parse_filters(filters)
    effective = filters.effective()
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}", field="limit")
    if cursor is not None and not cursor.isdigit():
        raise InvalidInput("bad cursor", field="cursor")
    qs = event_queryset(actor, effective)
    if cursor is not None:
        qs = qs.filter(seq__lt=int(cursor))
    with transaction.atomic():
        found = list(qs.order_by("-seq").values(*_ROW_FIELDS)[: limit + 1])
        record(
            actor=actor,
            action="audit.search",
            resource_type="audit",
            detail={
                "filters": filters.audit_detail(),
                "cursor": cursor,
                "returned": min(len(found), limit),
            },
        )
    rows = [EventRow(**values) for values in found[:limit]]
    more = len(found) > limit
    return EventPage(rows=rows, next_cursor=str(rows[-1].seq) if more else None, filters=filters)


# Every chained field, then the event's own hash: enough to re-verify an export.
_EXPORT_COLUMNS = (*CHAINED_FIELDS, "hash")


def _csv_cell(value: Any) -> str:
    """Text a spreadsheet will not run as a formula (CSV injection)."""
    if value is None:
        return ""
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def audit_event_export(
    *, actor: Actor, filters: EventFilter | Mapping[str, str], fmt: str
) -> Iterator[str]:
    """Matching events as CSV or JSONL lines, oldest first. The export itself is audited.

    JSONL lines carry the chained fields and hashes, so each line can be re-hashed.
    """
    audit_authorize(actor, "audit.export")
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput("format must be csv or jsonl", field="format")
    filters = parse_filters(filters)
    qs = event_queryset(actor, filters.effective()).order_by("seq")
    cap = conf.export_max_rows()
    record(
        actor=actor,
        action="audit.export",
        resource_type="audit",
        detail={"filters": filters.audit_detail(), "format": fmt, "max_rows": cap},
    )
    return _export_lines(qs.values_list(*_EXPORT_COLUMNS)[:cap], fmt)


def _export_lines(qs: QuerySet[Any], fmt: str) -> Iterator[str]:
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(_EXPORT_COLUMNS)
        for values in qs.iterator(chunk_size=2000):
            cells = list(values)
            cells[1] = timestamp_text(cells[1])
            writer.writerow([_csv_cell(c) for c in cells])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue()
        return
    for values in qs.iterator(chunk_size=2000):
        data = dict(zip(_EXPORT_COLUMNS, values, strict=True))
        data["occurred_at"] = timestamp_text(data["occurred_at"])
        yield json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class EventProof:
    """An event with the O(log n) proof that a signed checkpoint includes it."""

    event: dict[str, Any]
    leaf_index: int
    tree_size: int
    leaf_hash: str
    path: list[str]
    checkpoint: str
    public_key: str


def audit_event_proof(*, actor: Actor, seq: int) -> EventProof:
    """Prove one event of the actor's organization is in the signed log (audited)."""
    audit_authorize(actor, "audit.view")
    event = body_of(seq)
    if event is None or event["organization_id"] != actor.organization_id:
        raise NotFound("Not found.")
    try:
        proof = inclusion_proof(seq=seq)
    except ProofUnavailable as exc:
        raise Conflict("no signed checkpoint covers this event yet; try again in a minute") from exc
    record(actor=actor, action="audit.proof", resource_type="audit_event", resource_id=seq)
    return EventProof(
        event=event,
        leaf_index=proof.index,
        tree_size=proof.tree_size,
        leaf_hash=proof.leaf_hash.hex(),
        path=[h.hex() for h in proof.path],
        checkpoint=proof.checkpoint_note,
        public_key=public_key_text(),
    )


# --- Saved searches ------------------------------------------------------------------


@dataclass(frozen=True)
class SavedSearch:
    """One of the actor's own saved searches; `filters` are query-string values."""

    id: int
    name: str
    filters: dict[str, str]
    schedule: str
    created_at: dt.datetime
    last_sent_at: dt.datetime | None

    @property
    def event_filter(self) -> EventFilter:
        return EventFilter.from_query(self.filters)


def saved_search_row(row: SavedAuditSearch) -> SavedSearch:
    return SavedSearch(
        id=row.pk,
        name=row.name,
        filters={str(k): str(v) for k, v in dict(row.filters).items()},
        schedule=row.schedule,
        created_at=row.created_at,
        last_sent_at=row.last_sent_at,
    )


def own_saved_searches(actor: Actor) -> QuerySet[SavedAuditSearch]:
    """The actor's own saved searches: same organization, same owner. Nobody else's."""
    return SavedAuditSearch.objects.filter(
        organization_id=actor.organization_id, owner_user_id=actor.user_id
    )


def saved_search_list(*, actor: Actor) -> list[SavedSearch]:
    """The actor's saved searches, by name. Outsiders get 404 (audited)."""
    audit_authorize(actor, "audit.view")
    return [saved_search_row(row) for row in own_saved_searches(actor).order_by("name", "pk")]


def saved_search_get(*, actor: Actor, saved_id: int) -> SavedSearch:
    """One of the actor's own saved searches; anyone else's, or a missing one, is 404."""
    audit_authorize(actor, "audit.view")
    row = own_saved_searches(actor).filter(pk=saved_id).first()
    if row is None:
        raise NotFound("Not found.")
    return saved_search_row(row)
