"""Crypto test fixtures: an isolated local root key per test, a real SoftHSM2 token and a
real moto KMS server per session. Nothing here prints or logs key material or PINs."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from phidesk.core.tenant_context import tenant_context
from phidesk.crypto import keyring
from phidesk.crypto.providers import set_provider
from phidesk.crypto.providers.local import LocalKeyProvider

SOFTHSM_LIB = "/usr/lib/softhsm/libsofthsm2.so"


@pytest.fixture(autouse=True)
def local_root_key(tmp_path: Path) -> Iterator[LocalKeyProvider]:
    """Every test gets its own root key file and an empty key cache."""
    provider = LocalKeyProvider(tmp_path / "keys" / "root-test.key")
    set_provider(provider)
    keyring.clear_cache()
    yield provider
    set_provider(None)
    keyring.clear_cache()


def ticket_of(tenant: Any, key: str) -> Any:
    from phidesk.tickets.models import Ticket

    with tenant_context(tenant.org.pk):
        return Ticket.objects.select_related("queue").get(number=int(key.split("-")[1]))


# --- SoftHSM2 ------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    label: str
    pin: str
    conf: Path


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    """A fresh SoftHSM2 token in a temporary directory (never a shared one).

    Fails rather than skips without softhsm2: CI installs it (scripts/system-deps.sh).
    """
    util = shutil.which("softhsm2-util")
    if util is None or not Path(SOFTHSM_LIB).exists():
        pytest.fail("softhsm2 is not installed (apt-get install softhsm2)")
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    token = Token(label="phidesk-test", pin=secrets.token_hex(8), conf=conf)
    subprocess.run(
        [
            util,
            "--init-token",
            "--free",
            "--label",
            token.label,
            "--so-pin",
            secrets.token_hex(8),
            "--pin",
            token.pin,
        ],
        check=True,
        capture_output=True,  # keeps the PINs out of the test output
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
    )
    yield token
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


# --- moto (AWS KMS on loopback) ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Kms:
    endpoint: str
    key_id: str


@pytest.fixture(scope="session")
def moto_kms() -> Iterator[Kms]:
    """`moto_server` on a free loopback port, with one symmetric KMS key."""
    import boto3

    server = Path(sys.executable).with_name("moto_server")
    if not server.exists():
        pytest.fail("moto_server is not installed (pip install 'moto[server]')")
    port = _free_port()
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ["AWS_ACCESS_KEY_ID"] = "test"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "test"
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("moto_server did not start")
                time.sleep(0.2)
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1")
        key_id = client.create_key(Description="phidesk test root")["KeyMetadata"]["KeyId"]
        yield Kms(endpoint=endpoint, key_id=key_id)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
