from __future__ import annotations

import socket
import ssl
import threading

import pytest
from django.core.management import call_command

from phidesk.config.tls import ensure_self_signed, server_context
from phidesk.conftest import Tenant


def handshake(context: ssl.SSLContext, client: ssl.SSLContext) -> str:
    """Run one TLS handshake over a socket pair; return the negotiated version."""
    server_sock, client_sock = socket.socketpair()
    errors: list[Exception] = []

    def serve() -> None:
        try:
            with context.wrap_socket(server_sock, server_side=True) as s:
                s.recv(1)
        except (ssl.SSLError, OSError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client.wrap_socket(client_sock, server_hostname="127.0.0.1") as c:
            version = c.version() or ""
            c.send(b"x")
            return version
    finally:
        thread.join(timeout=5)


@pytest.fixture
def tls_context(tmp_path):
    cert, key = ensure_self_signed(tmp_path, ["127.0.0.1", "localhost"])
    assert key.stat().st_mode & 0o777 == 0o600
    return server_context(cert, key), cert


def client_context(cert, version: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cert)
    ctx.minimum_version = ctx.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


def test_tls_12_and_13_are_accepted(tls_context):
    context, cert = tls_context
    assert handshake(context, client_context(cert, ssl.TLSVersion.TLSv1_3)) == "TLSv1.3"
    assert handshake(context, client_context(cert, ssl.TLSVersion.TLSv1_2)) == "TLSv1.2"


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_tls_10_and_11_are_refused(tls_context, version):
    context, cert = tls_context
    with pytest.raises((ssl.SSLError, OSError)):
        handshake(context, client_context(cert, version))


def test_certificate_is_generated_once(tmp_path):
    first = ensure_self_signed(tmp_path, ["127.0.0.1"])[0].read_bytes()
    second = ensure_self_signed(tmp_path, ["127.0.0.1"])[0].read_bytes()
    assert first == second


def test_tokens_create_prints_the_secret_once_and_it_works(hospital: Tenant, capsys, client):
    call_command(
        "tokens",
        "create",
        "--user",
        "agent@stmarys.example",
        "--scopes",
        "tickets:read",
        "--expires",
        "7",
    )
    out, err = capsys.readouterr()
    secret = out.strip()
    assert secret.startswith("phd_")
    assert secret not in err
    hospital.file(title="visible to the agent")
    response = client.get("/api/v1/tickets", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert [i["title"] for i in response.json()["items"]] == ["visible to the agent"]


@pytest.mark.parametrize("args", [["--scopes", "root"], ["--expires", "0"], ["--expires", "9999"]])
def test_tokens_create_refuses_bad_options(hospital: Tenant, args):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("tokens", "create", "--user", "agent@stmarys.example", *args)


def test_users_list_shows_tenant_and_roles(hospital: Tenant, other_hospital: Tenant, capsys):
    call_command("users", "list", "--tenant", "stmarys")
    out = capsys.readouterr().out
    assert "lead@stmarys.example" in out and "queue_lead" in out
    assert "lakeside" not in out
