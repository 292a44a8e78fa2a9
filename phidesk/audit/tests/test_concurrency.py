"""Two processes appending at once on PostgreSQL yield one valid chain."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from phidesk.audit.models import AuditEvent, Checkpoint
from phidesk.audit.tests.conftest import purge_audit_tables
from phidesk.audit.verify import verify_log

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

APPENDER = """
import pathlib, sys, time, django
django.setup()
from django.db import transaction
from phidesk.audit.services import record
count, tag, gate = int(sys.argv[1]), sys.argv[2], pathlib.Path(sys.argv[3])
(gate.parent / f"ready-{tag}").touch()
while not gate.exists():  # start together, so the appends really interleave
    time.sleep(0.01)
for i in range(count):
    with transaction.atomic():
        record(actor=None, action="test.concurrent", organization_id=1, detail={"p": tag, "i": i})
"""


@pytest.fixture
def postgres_only(transactional_db: None) -> Iterator[None]:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set PHIDESK_TEST_DATABASE_URL)")
    yield
    purge_audit_tables()  # the test database's flush may then TRUNCATE the empty tables


def appender_env(tmp: Path) -> dict[str, str]:
    db = connection.settings_dict
    url = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "phidesk.config.settings",
        "PHIDESK_ENV": "test",
        "PHIDESK_TEST_DATABASE_URL": url,
        "PHIDESK_AUDIT_WORM_DIR": str(settings.PHIDESK_AUDIT_WORM_DIR),
        "PHIDESK_AUDIT_SIGNING_KEY_FILE": str(settings.PHIDESK_AUDIT_SIGNING_KEY_FILE),
        "PHIDESK_AUDIT_CHECKPOINT_MODE": "inline",
        "PHIDESK_AUDIT_CHECKPOINT_EVENTS": "97",
    }


def test_two_processes_append_one_valid_chain(postgres_only: None, tmp_path: Path):
    env = appender_env(tmp_path)
    count = 400
    gate = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", APPENDER, str(count), tag, str(gate)], env=env)
        for tag in ("a", "b")
    ]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{t}").exists() for t in "ab"):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.05)
    gate.touch()
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 2 * count + 1))
    for tag in ("a", "b"):
        mine = AuditEvent.objects.filter(detail__p=tag).order_by("seq")
        assert [e.detail["i"] for e in mine] == list(range(count))
    interleaved = [
        e["p"] for e in AuditEvent.objects.order_by("seq").values_list("detail", flat=True)
    ]
    assert interleaved.count("a") == count and "ab" in "".join(interleaved)
    assert Checkpoint.objects.count() >= 2  # made by both processes while appending
    report = verify_log()
    assert report.ok, report.problem
    assert report.events == 2 * count and report.checkpoints_checked
