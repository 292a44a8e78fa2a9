"""Invariant 1 at rest: the demo's PHI is nowhere in the database, neither in any table
row (SQLite or PostgreSQL) nor anywhere in the SQLite files of a freshly seeded demo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.db import connection

from phidesk.conftest import PATIENT, Tenant
from phidesk.tickets import services

PHI_VALUES = ("00123456", "Maria Jones", "1948-03-14", "00987654", "Robert Chen", "1962-11-02")
NOTE = "Mrs Maria Jones, MRN 00123456, says the allergy banner is missing"


def all_cells() -> list[str]:
    cells: list[str] = []
    with connection.cursor() as cur:
        for table in connection.introspection.table_names(cur):
            cur.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cur.fetchall():
                for cell in row:
                    if isinstance(cell, bytes | memoryview):
                        cells.append(bytes(cell).decode("latin-1"))
                    elif cell is not None:
                        cells.append(str(cell))
    return cells


def test_no_table_row_holds_patient_details_or_message_text(hospital: Tenant):
    key = hospital.file(queue="restricted", **PATIENT)
    services.message_create(actor=hospital.actor("phi_agent"), key=key, body=NOTE, internal=True)
    services.message_create(actor=hospital.actor("requester"), key=key, body=NOTE)
    services.ticket_update(
        actor=hospital.actor("phi_agent"),
        key=key,
        changes={"patient_name": "Robert Chen", "patient_dob": "1962-11-02"},
    )
    services.ticket_reveal_phi(actor=hospital.actor("phi_agent"), key=key, reason="fix the chart")
    general = hospital.file(queue="general", patient_mrn="00987654")
    services.message_create(actor=hospital.actor("requester"), key=general, body=NOTE)
    cells = all_cells()
    assert len(cells) > 100
    for value in (*PHI_VALUES, NOTE, "allergy banner"):
        hits = [c[:40] for c in cells if value in c]
        assert not hits, f"{value!r} stored in clear"


def test_seeded_demo_database_file_holds_no_phi(tmp_path: Path):
    """The real thing: `phidesk migrate && phidesk demo` on a fresh var/, then grep the
    SQLite database (and its WAL) byte by byte."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "PHIDESK_TEST_DATABASE_URL", "PYTEST_XDIST_WORKER")
        and not k.startswith("PHIDESK_")
    }
    env.update(PHIDESK_ENV="development", PHIDESK_VAR_DIR=str(tmp_path))
    cli = [sys.executable, "-m", "phidesk.config.cli"]
    for args in (["migrate", "--noinput", "-v0"], ["demo"]):
        done = subprocess.run(
            [*cli, *args], env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stderr[-2000:]
    key_file = tmp_path / "keys" / "root-development.key"
    assert key_file.exists() and (key_file.stat().st_mode & 0o777) == 0o600
    files = [p for p in tmp_path.iterdir() if p.name.startswith("phidesk.sqlite3")]
    assert files
    blob = b"".join(p.read_bytes() for p in files)
    for value in PHI_VALUES:
        assert value.encode() not in blob, f"{value!r} found in the database file"
    # The demo's tickets are there, readable through the services (not a vacuous pass).
    assert b"Medication list shows duplicate entries" in blob
