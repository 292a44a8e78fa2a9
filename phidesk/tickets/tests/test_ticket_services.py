from __future__ import annotations

import pytest

from phidesk.access.engine import AccessDenied
from phidesk.audit.models import AuditEvent
from phidesk.conftest import PATIENT, Tenant
from phidesk.core.errors import Conflict, InvalidInput
from phidesk.core.tenant_context import tenant_context
from phidesk.tickets import selectors, services
from phidesk.tickets.models import Ticket


def events(action: str | None = None) -> list[AuditEvent]:
    qs = AuditEvent.objects.order_by("seq")
    return list(qs.filter(action=action) if action else qs)


def test_numbers_are_per_tenant_and_formatted(hospital: Tenant, other_hospital: Tenant):
    assert hospital.file() == "HD-000001"
    assert hospital.file() == "HD-000002"
    assert other_hospital.file() == "HD-000001"


def test_create_records_lifecycle_and_audit(hospital: Tenant):
    key = hospital.file(description="Red light on the printer")
    detail = selectors.ticket_get(actor=hospital.actor("agent"), key=key)
    assert detail.row.status == "new"
    assert [e.kind for e in detail.events] == ["created"]
    created = events("ticket.create")[-1]
    assert created.outcome == "allowed"
    assert created.actor_user_id == hospital.users["requester"].pk


def test_full_workflow_with_reopen(hospital: Tenant):
    agent = hospital.actor("agent")
    key = hospital.file()
    services.ticket_assign(actor=agent, key=key, assignee_id=hospital.users["agent"].pk)
    for to in ("in_progress", "pending", "in_progress", "resolved"):
        detail = services.ticket_transition(actor=agent, key=key, to_status=to)
    assert detail.row.status == "resolved"
    assert detail.resolved_at is not None
    # The requester can reopen their own resolved ticket...
    detail = services.ticket_transition(
        actor=hospital.actor("requester"), key=key, to_status="in_progress"
    )
    assert detail.resolved_at is None
    reopen = [e for e in detail.events if e.detail.get("reopened")]
    assert len(reopen) == 1
    # ...but cannot push it anywhere else.
    with pytest.raises(Conflict):
        services.ticket_transition(actor=hospital.actor("requester"), key=key, to_status="pending")
    kinds = [e.kind for e in detail.events]
    assert kinds.count("transitioned") == 5
    assert kinds[:2] == ["created", "assigned"]


def test_invalid_transition_is_409_and_changes_nothing(hospital: Tenant):
    key = hospital.file()
    before = AuditEvent.objects.count()
    with pytest.raises(Conflict):
        services.ticket_transition(actor=hospital.actor("agent"), key=key, to_status="pending")
    with pytest.raises(InvalidInput):
        services.ticket_transition(actor=hospital.actor("agent"), key=key, to_status="bogus")
    with tenant_context(hospital.org.pk):
        assert Ticket.objects.get().status == "new"
    assert AuditEvent.objects.count() == before


def test_assign_refuses_requesters_and_outsiders_of_restricted_queue(hospital: Tenant):
    key = hospital.file(queue="restricted", **PATIENT)
    lead = hospital.actor("lead")
    with pytest.raises(InvalidInput):
        services.ticket_assign(actor=lead, key=key, assignee_id=hospital.users["requester"].pk)
    with pytest.raises(InvalidInput):
        services.ticket_assign(actor=lead, key=key, assignee_id=hospital.users["outsider_agent"].pk)
    detail = services.ticket_assign(actor=lead, key=key, assignee_id=hospital.users["phi_agent"].pk)
    assert detail.row.assignee.id == hospital.users["phi_agent"].pk
    assert detail.row.status == "assigned"


def test_assignee_of_another_tenant_is_refused(hospital: Tenant, other_hospital: Tenant):
    key = hospital.file()
    with pytest.raises(InvalidInput):
        services.ticket_assign(
            actor=hospital.actor("agent"), key=key, assignee_id=other_hospital.users["agent"].pk
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", ""),
        ("title", "x" * 201),
        ("title", "bell\x07"),
        ("patient_mrn", "12"),
        ("patient_mrn", "<script>"),
        ("patient_dob", "14/03/1948"),
        ("patient_dob", "2999-01-01"),
        ("patient_name", "Robert'); DROP TABLE--"),
        ("category", "nonsense"),
        ("priority", "P9"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(hospital: Tenant, field: str, value: str):
    before = AuditEvent.objects.count()
    data = {"title": "Monitor flickers", field: value}
    with pytest.raises(InvalidInput):
        hospital.file(**data)
    with tenant_context(hospital.org.pk):
        assert not Ticket.objects.exists()
    assert AuditEvent.objects.count() == before


def test_message_reply_and_internal_note_visibility(hospital: Tenant):
    key = hospital.file()
    services.message_create(
        actor=hospital.actor("agent"), key=key, body="On my way", internal=False
    )
    services.message_create(
        actor=hospital.actor("agent"), key=key, body="Toner is low", internal=True
    )
    agent_view = selectors.ticket_get(actor=hospital.actor("agent"), key=key)
    requester_view = selectors.ticket_get(actor=hospital.actor("requester"), key=key)
    assert [m.body for m in agent_view.messages] == ["On my way", "Toner is low"]
    assert [m.body for m in requester_view.messages] == ["On my way"]


def test_requester_cannot_write_internal_notes(hospital: Tenant):
    key = hospital.file()
    with pytest.raises(AccessDenied) as denied:
        services.message_create(
            actor=hospital.actor("requester"), key=key, body="sneaky", internal=True
        )
    assert denied.value.status == 403
    last = events()[-1]
    assert (last.action, last.outcome) == ("message.note", "denied")


def test_update_moves_queue_only_with_access_to_target(hospital: Tenant):
    key = hospital.file()
    with pytest.raises(AccessDenied):
        services.ticket_update(actor=hospital.actor("agent"), key=key, changes={"queue": "ehr-phi"})
    detail = services.ticket_update(
        actor=hospital.actor("lead"), key=key, changes={"queue": "ehr-phi", "priority": "P1"}
    )
    assert detail.row.queue.slug == "ehr-phi"
    assert detail.row.priority == "P1"
    update = events("ticket.update")[-1]
    assert sorted(update.detail["fields"]) == ["priority", "queue"]


def test_patient_fields_need_phi_edit(hospital: Tenant):
    key = hospital.file(queue="restricted")
    with pytest.raises(AccessDenied):
        services.ticket_update(
            actor=hospital.actor("lead"), key=key, changes={"patient_mrn": "00999999"}
        )
    services.ticket_update(
        actor=hospital.actor("phi_agent"), key=key, changes={"patient_mrn": "00999999"}
    )
    update = events("ticket.update")[-1]
    assert update.detail["fields"] == ["patient_mrn"]
    assert "00999999" not in str(update.detail)


def test_unknown_update_fields_refused(hospital: Tenant):
    key = hospital.file()
    with pytest.raises(InvalidInput):
        services.ticket_update(actor=hospital.actor("agent"), key=key, changes={"status": "closed"})


def test_list_pagination_with_cursor_covers_every_row_once(hospital: Tenant):
    keys = {hospital.file(title=f"Ticket {i}") for i in range(7)}
    agent = hospital.actor("agent")
    for sort in ("newest", "oldest", "priority", "updated"):
        seen: list[str] = []
        cursor = None
        while True:
            page = selectors.ticket_list(
                actor=agent, filters=selectors.TicketFilters(sort=sort), cursor=cursor, limit=3
            )
            seen += [r.key for r in page.rows]
            assert page.total == 7
            cursor = page.next_cursor
            if not cursor:
                break
        assert sorted(seen) == sorted(keys), sort


@pytest.mark.parametrize("cursor", ["garbage", "eyJzIjoibmV3ZXN0In0", "e30"])
def test_bad_cursor_is_invalid_input(hospital: Tenant, cursor: str):
    with pytest.raises(InvalidInput):
        selectors.ticket_list(actor=hospital.actor("agent"), cursor=cursor)


def test_text_search_matches_title_and_number_and_audits_only_its_length(hospital: Tenant):
    hospital.file(title="Wi-Fi drops in the ED")
    key = hospital.file(title="Badge reader broken")
    agent = hospital.actor("agent")
    page = selectors.ticket_list(actor=agent, filters=selectors.TicketFilters(text="wi-fi"))
    assert [r.title for r in page.rows] == ["Wi-Fi drops in the ED"]
    page = selectors.ticket_list(actor=agent, filters=selectors.TicketFilters(text=key))
    assert [r.key for r in page.rows] == [key]
    search = events("ticket.list")[-1]
    assert search.detail["filters"]["text_length"] == len(key)
    assert key not in str(search.detail)


def test_ticket_list_query_count_does_not_grow(hospital: Tenant, django_assert_max_num_queries):
    for i in range(30):
        hospital.file(title=f"Ticket {i}")
    agent = hospital.actor("agent")
    with django_assert_max_num_queries(8):
        page = selectors.ticket_list(actor=agent, limit=25)
    assert len(page.rows) == 25


def test_ticket_detail_query_count_does_not_grow_with_messages(
    hospital: Tenant, django_assert_max_num_queries
):
    key = hospital.file()
    for i in range(20):
        services.message_create(actor=hospital.actor("agent"), key=key, body=f"Update {i}")
    with django_assert_max_num_queries(12):
        detail = selectors.ticket_get(actor=hospital.actor("agent"), key=key)
    assert len(detail.messages) == 20
