"""Audit test helpers: a private key and WORM directory per test, and ways to tamper."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from phidesk.audit import checkpoints, signing
from phidesk.audit.services import record

AUDIT_TABLES = ("audit_auditevent", "audit_checkpoint", "audit_merkletile")


@pytest.fixture(autouse=True)
def audit_env(settings: Any, tmp_path: Path) -> Iterator[Path]:
    settings.PHIDESK_AUDIT_WORM_DIR = tmp_path / "worm"
    settings.PHIDESK_AUDIT_SIGNING_KEY_FILE = tmp_path / "audit-signing.key"
    settings.PHIDESK_AUDIT_CHECKPOINT_MODE = "off"
    signing.reset_cache()
    checkpoints.reset_state()
    yield tmp_path
    signing.reset_cache()
    checkpoints.reset_state()


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _sqlite_triggers() -> list[tuple[str, str]]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT name, sql FROM sqlite_master"
            " WHERE type = 'trigger' AND tbl_name IN (%s, %s, %s)",
            list(AUDIT_TABLES),
        )
        return [(name, sql) for name, sql in cur.fetchall()]


@contextlib.contextmanager
def guards_dropped() -> Iterator[None]:
    """What a database superuser can do: switch off the append-only triggers."""
    with connection.cursor() as cur:
        if is_postgres():
            for table in AUDIT_TABLES:
                cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            saved: list[tuple[str, str]] = []
        else:
            saved = _sqlite_triggers()
            for name, _ in saved:
                cur.execute(f"DROP TRIGGER {name}")
    try:
        yield
    finally:
        with connection.cursor() as cur:
            if is_postgres():
                for table in AUDIT_TABLES:
                    cur.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            else:
                for _, sql in saved:
                    cur.execute(sql)


def tamper(sql: str, params: list[Any] | None = None) -> None:
    with guards_dropped(), connection.cursor() as cur:
        cur.execute(sql, params or [])


def make_events(count: int, **kw: Any) -> None:
    for i in range(count):
        record(actor=None, action="test.event", organization_id=1, detail={"i": i}, **kw)


def purge_audit_tables() -> None:
    """Empty the audit tables so a transactional test's flush (TRUNCATE) may run."""
    with guards_dropped(), connection.cursor() as cur:
        for table in AUDIT_TABLES:
            cur.execute(f"DELETE FROM {table}")  # noqa: S608  (constant table names)
