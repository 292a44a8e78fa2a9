"""Settings fail closed: production refuses development defaults; `check --deploy` is clean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
GOOD_KEY = "prod-" + "".join(chr(65 + (i * 7) % 26) for i in range(60))


def run_manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            (
                "PHIDESK_",
                "DATABASE_URL",
                "SECRET_KEY",
                "DEBUG",
                "ALLOWED_HOSTS",
                "PYTEST",
                "DJANGO_",
            )
        )
    }
    return subprocess.run(
        [sys.executable, "-m", "phidesk.config.cli", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PROD = {
    "PHIDESK_ENV": "production",
    "SECRET_KEY": GOOD_KEY,
    "ALLOWED_HOSTS": "desk.hospital.example",
    "DATABASE_URL": "sqlite:////tmp/phidesk-prod-check.sqlite3",
}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "at least 50"),
        ({"DEBUG": "true"}, "DEBUG must be off"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
        ({"DATABASE_URL": ""}, "DATABASE_URL"),
        ({"DEBUG": "maybe"}, "true or false"),
    ],
)
def test_production_refuses_development_defaults(override: dict[str, str], message: str):
    env = {**PROD, **override}
    env = {k: v for k, v in env.items() if v != "" or k == "ALLOWED_HOSTS"}
    result = run_manage(env, "check")
    assert result.returncode != 0
    assert message in result.stderr


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    """Django's deploy checks all pass; the one warning left is ours, on purpose: a
    production install should keep its root key in an HSM or KMS, not a local file."""
    result = run_manage(
        {**PROD, "PHIDESK_VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/db"},
        "check",
        "--deploy",
        "--fail-level",
        "ERROR",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "security.W" not in output
    assert "(crypto.W001)" in output
    assert "System check identified 1 issue" in output


def test_secret_key_file_is_read(tmp_path):
    key_file = tmp_path / "secret"
    key_file.write_text(GOOD_KEY)
    env = {**PROD, "PHIDESK_VAR_DIR": str(tmp_path), "SECRET_KEY_FILE": str(key_file)}
    env.pop("SECRET_KEY")
    assert run_manage(env, "check").returncode == 0


def test_development_key_file_is_private(tmp_path):
    result = run_manage({"PHIDESK_ENV": "development", "PHIDESK_VAR_DIR": str(tmp_path)}, "check")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_makemigrations_is_clean():
    result = run_manage({"PHIDESK_ENV": "test"}, "makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_sign_up_is_closed(client):
    response = client.get("/accounts/signup/")
    assert b"closed" in response.content.lower() or response.status_code in (302, 403, 404)
    client.post(
        "/accounts/signup/",
        {"email": "x@evil.example", "password1": "Aa1!" * 5, "password2": "Aa1!" * 5},
    )
    from phidesk.identity.models import User

    assert not User.objects.filter(email="x@evil.example").exists()
