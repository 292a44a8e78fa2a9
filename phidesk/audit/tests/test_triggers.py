"""The database itself refuses to change or remove audit rows."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from phidesk.audit.checkpoints import checkpoint_create
from phidesk.audit.models import AppendOnlyError, AuditEvent, Checkpoint
from phidesk.audit.tests.conftest import is_postgres, make_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def filled():
    make_events(300)
    checkpoint_create()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET reason = 'edited' WHERE seq = 2",
        "DELETE FROM audit_auditevent WHERE seq = 2",
        "UPDATE audit_checkpoint SET root_hash = 'x'",
        "DELETE FROM audit_checkpoint",
        "UPDATE audit_merkletile SET hash = 'x'",
        "DELETE FROM audit_merkletile",
    ],
)
def test_update_and_delete_are_refused(filled, sql: str):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        connection.cursor().execute(sql)
    assert AuditEvent.objects.count() == 300
    assert Checkpoint.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.parametrize("table", ["audit_auditevent", "audit_checkpoint", "audit_merkletile"])
def test_truncate_is_refused_on_postgresql(filled, table: str):
    if not is_postgres():
        pytest.skip("TRUNCATE is PostgreSQL's")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        connection.cursor().execute(f"TRUNCATE {table} CASCADE")
    assert AuditEvent.objects.count() == 300


def test_the_orm_refuses_too(filled):
    event = AuditEvent.objects.get(seq=1)
    event.reason = "edited"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        Checkpoint.objects.get().delete()
