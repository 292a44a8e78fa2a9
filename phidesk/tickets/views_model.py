"""Plain data that leaves the ticket service layer. PHI in here is masked unless revealed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


def format_number(prefix: str, number: int) -> str:
    return f"{prefix}-{number:06d}"


@dataclass(frozen=True)
class PatientRef:
    present: bool
    revealed: bool
    mrn: str = ""
    name: str = ""
    dob: str = ""


@dataclass(frozen=True)
class Person:
    id: int
    name: str


@dataclass(frozen=True)
class QueueView:
    id: int
    slug: str
    name: str
    description: str
    restricted_phi: bool
    accepts_requests: bool


@dataclass(frozen=True)
class TicketRow:
    key: str
    number: int
    title: str
    status: str
    status_label: str
    priority: str
    category: str
    category_label: str
    queue: QueueView
    requester: Person
    assignee: Person | None
    created_at: dt.datetime
    updated_at: dt.datetime
    due_at: dt.datetime | None
    has_patient: bool


@dataclass(frozen=True)
class MessageView:
    id: int
    author: Person
    body: str
    is_internal: bool
    created_at: dt.datetime


@dataclass(frozen=True)
class EventView:
    kind: str
    actor: Person
    from_status: str
    to_status: str
    detail: dict[str, object]
    created_at: dt.datetime


@dataclass(frozen=True)
class TicketPermissions:
    update: bool = False
    assign: bool = False
    transitions: tuple[str, ...] = ()
    reply: bool = False
    note: bool = False
    reveal: bool = False
    edit_phi: bool = False


@dataclass(frozen=True)
class TicketDetail:
    row: TicketRow
    description: str
    patient: PatientRef
    messages: list[MessageView] = field(default_factory=list)
    events: list[EventView] = field(default_factory=list)
    can: TicketPermissions = field(default_factory=TicketPermissions)
    resolved_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None


@dataclass(frozen=True)
class TicketPage:
    rows: list[TicketRow]
    total: int
    next_cursor: str | None
