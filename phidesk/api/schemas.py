from __future__ import annotations

import datetime as dt

from ninja import Field, Schema


class ErrorOut(Schema):
    error: str
    message: str
    field: str | None = None


class PersonOut(Schema):
    id: int
    name: str


class QueueOut(Schema):
    id: int
    slug: str
    name: str
    description: str
    restricted_phi: bool
    accepts_requests: bool


class PatientOut(Schema):
    present: bool
    revealed: bool
    mrn: str
    name: str
    dob: str


class TicketRowOut(Schema):
    key: str
    number: int
    title: str
    status: str
    priority: str
    category: str
    queue: QueueOut
    requester: PersonOut
    assignee: PersonOut | None
    created_at: dt.datetime
    updated_at: dt.datetime
    due_at: dt.datetime | None
    has_patient: bool


class TicketPageOut(Schema):
    items: list[TicketRowOut]
    total: int
    next_cursor: str | None


class MessageOut(Schema):
    id: int
    author: PersonOut
    body: str
    is_internal: bool
    created_at: dt.datetime


class EventOut(Schema):
    kind: str
    actor: PersonOut
    from_status: str
    to_status: str
    created_at: dt.datetime


class PermissionsOut(Schema):
    update: bool
    assign: bool
    transitions: list[str]
    reply: bool
    note: bool
    reveal: bool
    edit_phi: bool


class TicketOut(Schema):
    ticket: TicketRowOut
    description: str
    patient: PatientOut
    messages: list[MessageOut]
    events: list[EventOut]
    can: PermissionsOut


class TicketIn(Schema):
    queue: str = Field(..., max_length=50, description="Queue slug")
    title: str = Field(..., max_length=200)
    description: str = Field("", max_length=20000)
    category: str = "other"
    priority: str = "P3"
    patient_mrn: str = Field("", max_length=20)
    patient_name: str = Field("", max_length=120)
    patient_dob: str = Field("", max_length=10, description="YYYY-MM-DD")
    due_at: dt.datetime | None = None


class TicketPatch(Schema):
    title: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=20000)
    category: str | None = None
    priority: str | None = None
    queue: str | None = Field(None, max_length=50)
    due_at: dt.datetime | None = None
    patient_mrn: str | None = Field(None, max_length=20)
    patient_name: str | None = Field(None, max_length=120)
    patient_dob: str | None = Field(None, max_length=10)


class TransitionIn(Schema):
    to: str = Field(..., max_length=16)
    comment: str = Field("", max_length=20000)


class AssignIn(Schema):
    assignee_id: int | None = None


class RevealIn(Schema):
    reason: str = Field(..., max_length=300)


class MessageIn(Schema):
    body: str = Field(..., max_length=20000)
    internal: bool = False


class MeOut(Schema):
    id: int
    email: str
    organization_id: int
    roles: list[str]
    via_token: bool
    token_scopes: list[str] | None
