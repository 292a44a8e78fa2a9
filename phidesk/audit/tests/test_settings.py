"""Retention cannot go below six years; bad audit settings stop the start."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.checks.registry import registry

from phidesk.audit import conf
from phidesk.audit.checks import audit_settings


def start(**env: str) -> subprocess.CompletedProcess[str]:
    code = "import django; django.setup(); print('started')"
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "phidesk.config.settings", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_default_retention_is_six_years():
    assert conf.retention_days() == conf.RETENTION_FLOOR_DAYS == 2192


def test_a_shorter_retention_refuses_to_start():
    done = start(PHIDESK_AUDIT_RETENTION_DAYS="365")
    assert done.returncode != 0
    assert "PHIDESK_AUDIT_RETENTION_DAYS is 365" in done.stderr
    assert "at least 2192 days (6 years)" in done.stderr
    assert start(PHIDESK_AUDIT_RETENTION_DAYS="3000").stdout.strip() == "started"


@pytest.mark.parametrize(
    ("name", "value"),
    [("PHIDESK_AUDIT_CHECKPOINT_SECONDS", "61"), ("PHIDESK_AUDIT_CHECKPOINT_EVENTS", "10001"),
     ("PHIDESK_AUDIT_CHECKPOINT_MODE", "sometimes")],
)  # fmt: skip
def test_slower_checkpoints_refuse_to_start(name: str, value: str):
    done = start(**{name: value})
    assert done.returncode != 0 and name in done.stderr


def test_the_system_check_catches_overrides(settings):
    settings.PHIDESK_AUDIT_RETENTION_DAYS = 30
    settings.PHIDESK_AUDIT_ORIGIN = "has space"
    assert audit_settings in registry.get_checks()
    errors = audit_settings()
    assert [e.id for e in errors] == ["phidesk.audit.E001", "phidesk.audit.E002"]
    assert "at least 2192 days" in errors[0].msg
