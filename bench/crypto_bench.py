"""Encryption-at-rest benchmark: per-field seal/open, ticket detail with and without
encryption, and rewrap (rotation) rate per key provider.

    .venv/bin/python bench/crypto_bench.py [--tickets 40] [--keys 400] [--skip-hsm] [--skip-kms]

Runs against a throwaway SQLite database and key file in a temporary directory, a
throwaway SoftHSM2 token and a moto KMS server on loopback; touches nothing in var/.
Prints figures only (never keys or PHI). Figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

TMP = Path(tempfile.mkdtemp(prefix="phidesk-crypto-bench-"))
os.environ.update(
    PHIDESK_ENV="development",
    PHIDESK_VAR_DIR=str(TMP),
    SOFTHSM2_CONF=str(TMP / "softhsm2.conf"),
    LOG_LEVEL="ERROR",
)
for name in ("DATABASE_URL", "PHIDESK_KEY_PROVIDER"):
    os.environ.pop(name, None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "phidesk.config.settings")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from phidesk.core import fields as core_fields  # noqa: E402
from phidesk.core.tenant_context import tenant_context  # noqa: E402
from phidesk.crypto import cipher, keyring, rotation  # noqa: E402
from phidesk.crypto.envelope import (  # noqa: E402
    Envelope,
    field_aad,
    new_key,
    open_text,
    seal_text,
)
from phidesk.crypto.providers import KeyProvider, set_provider  # noqa: E402
from phidesk.crypto.providers.local import LocalKeyProvider  # noqa: E402

MRN = "00123456"
BODY = ("The allergy banner does not show for the patient in bed 4; pharmacy confirms. " * 26)[
    :2048
]


def timed(fn: Callable[[], object], n: int) -> float:
    """Mean seconds per call over n calls (after one warm-up call)."""
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


# --- Fixtures --------------------------------------------------------------------------


def make_tenant(slug: str) -> tuple[Any, dict[str, Any], Any]:
    from phidesk.identity.services import queue_membership_set, user_provision
    from phidesk.tenancy.models import Organization
    from phidesk.tickets.models import Queue

    org = Organization.objects.create(slug=slug, name=slug.title(), ticket_prefix="HD")
    with tenant_context(org.pk):
        queue = Queue.objects.create(
            organization=org, slug="ehr-phi", name="EHR", restricted_phi=True
        )
    users = {
        who: user_provision(
            organization_id=org.pk,
            email=f"{who}@{slug}.example",
            display_name=who,
            roles=roles,
            password=secrets.token_urlsafe(16),
        )
        for who, roles in (("requester", ["requester"]), ("phi", ["phi_agent"]))
    }
    queue_membership_set(organization_id=org.pk, user=users["phi"], queue_id=queue.pk)
    return org, users, queue


def file_tickets(users: dict[str, Any], n: int, messages: int) -> list[str]:
    from phidesk.identity.services import actor_for_user
    from phidesk.tickets import services

    requester = actor_for_user(users["requester"])
    keys = []
    for _ in range(n):
        detail = services.ticket_create(
            actor=requester,
            data=services.NewTicket(
                queue="ehr-phi",
                title="Allergy banner missing on chart",
                patient_mrn=MRN,
                patient_name="Maria Jones",
                patient_dob="1948-03-14",
            ),
        )
        for _ in range(messages):
            services.message_create(actor=requester, key=detail.row.key, body=BODY)
        keys.append(detail.row.key)
    return keys


class PlainCipher:
    """The "without encryption" baseline: values stored as they are (the legacy path)."""

    def seal(self, instance: object, field: object, plaintext: str) -> str:
        return plaintext

    def blind_index(self, instance: object, kind: str, plaintext: str) -> str:
        return ""


@contextlib.contextmanager
def plaintext_storage() -> Iterator[None]:
    real = core_fields.installed_cipher()
    core_fields.install_cipher(PlainCipher())
    try:
        yield
    finally:
        core_fields.install_cipher(real)


# --- Providers ---------------------------------------------------------------------------


def softhsm_provider() -> KeyProvider | None:
    from phidesk.crypto.providers.pkcs11 import Pkcs11KeyProvider

    util = shutil.which("softhsm2-util")
    if util is None:
        return None
    (TMP / "tokens").mkdir()
    Path(os.environ["SOFTHSM2_CONF"]).write_text(
        f"directories.tokendir = {TMP / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    pin = secrets.token_hex(8)
    subprocess.run(
        [
            util,
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--so-pin",
            secrets.token_hex(8),
            "--pin",
            pin,
        ],
        check=True,
        capture_output=True,
    )
    return Pkcs11KeyProvider(
        library="/usr/lib/softhsm/libsofthsm2.so", token_label="bench", pin=pin
    )


@contextlib.contextmanager
def moto_provider() -> Iterator[KeyProvider | None]:
    import boto3

    from phidesk.crypto.providers.aws_kms import AwsKmsKeyProvider

    server = Path(sys.executable).with_name("moto_server")
    if not server.exists():
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(150):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            time.sleep(0.2)
        endpoint = f"http://127.0.0.1:{port}"
        key_id = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1").create_key()[
            "KeyMetadata"
        ]["KeyId"]
        yield AwsKmsKeyProvider(key_id=key_id, endpoint_url=endpoint, region="us-east-1")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def bench_provider(label: str, provider: KeyProvider, n_keys: int) -> dict[str, float]:
    from phidesk.tenancy.models import Organization

    set_provider(provider)
    keyring.clear_cache()
    context = {"app": "phidesk", "purpose": "bench"}
    blob = provider.wrap(new_key(), context=context)
    ops = 20 if label == "aws-kms" else 200
    wrap_ms = timed(lambda: provider.wrap(new_key(), context=context), ops) * 1000
    unwrap_ms = timed(lambda: provider.unwrap(blob, context=context), ops) * 1000
    org = Organization.objects.create(slug=f"rot-{label}", name=label)
    with tenant_context(org.pk):
        for _ in range(n_keys):
            keyring.new_data_key(org.pk, "bench.record", uuid.uuid4())
    keyring.clear_cache()
    result = rotation.rotate_tenant(organization_id=org.pk, batch_size=500)
    return {
        "wrap_ms": wrap_ms,
        "unwrap_ms": unwrap_ms,
        "rewrapped": result.rewrapped,
        "rewrap_per_s": result.rewrapped / result.seconds,
    }


# --- Main --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=40)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--keys", type=int, default=400, help="data keys to rewrap per provider")
    parser.add_argument("--skip-hsm", action="store_true")
    parser.add_argument("--skip-kms", action="store_true")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    set_provider(LocalKeyProvider(TMP / "keys" / "root-bench.key"))
    print(
        f"# PHIdesk crypto bench — {platform.node() or 'host'}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {rotation.openssl_version()}, "
        f"FIPS {'on' if rotation.fips_enabled() else 'off'}"
    )

    # 1. Per-field AEAD cost (the data key at hand) and the full field path.
    key = new_key()
    aad = field_aad(
        environment="development",
        tenant_id=1,
        model="tickets.ticket",
        field="patient_mrn",
        row=str(uuid.uuid4()),
        key_id=1,
    )
    for label, value in (("MRN (8 B)", MRN), ("message body (2 KiB)", BODY)):
        text = seal_text(key=key, key_id=1, plaintext=value, aad=aad)
        envelope = Envelope.from_text(text)

        def seal_one(v: str = value) -> str:
            return seal_text(key=key, key_id=1, plaintext=v, aad=aad)

        def open_one(e: Envelope = envelope) -> str:
            return open_text(key=key, envelope=e, aad=aad)

        seal_us = timed(seal_one, 20000) * 1e6
        open_us = timed(open_one, 20000) * 1e6
        print(f"field {label:22s} seal {seal_us:7.1f} µs   open {open_us:7.1f} µs  (AES-256-GCM)")

    org, users, _queue = make_tenant("bench")
    keys = file_tickets(users, 1, 0)
    from phidesk.tickets.models import Ticket

    with tenant_context(org.pk):
        ticket = Ticket.objects.get(number=int(keys[0].split("-")[1]))
        field = Ticket._meta.get_field("patient_mrn")
        sealer = cipher.CryptoFieldCipher()
        seal_ms = timed(lambda: sealer.seal(ticket, field, MRN), 500) * 1000
        open_ms = timed(lambda: cipher.open_value(ticket, "patient_mrn"), 500) * 1000
    print(f"field path incl. data-key lookup   seal {seal_ms:.3f} ms   open {open_ms:.3f} ms")

    # 2. Ticket detail (selectors.ticket_get, masked; and ticket_reveal_phi) with and
    # without encryption, same data, same code path.
    from phidesk.identity.services import actor_for_user
    from phidesk.tickets import selectors, services

    encrypted = file_tickets(users, args.tickets, args.messages)
    with plaintext_storage():
        plain = file_tickets(users, args.tickets, args.messages)
    agent = actor_for_user(users["phi"])

    def paired(call: Callable[[str], object]) -> tuple[float, float]:
        """Median ms over the same number of calls, alternating the two sets so that
        background load on a shared machine hits both alike."""
        enc_ms: list[float] = []
        clear_ms: list[float] = []
        call(encrypted[0]), call(plain[0])  # warm-up
        for _ in range(2):
            for enc_key, clear_key in zip(encrypted, plain, strict=True):
                for sink, key in ((enc_ms, enc_key), (clear_ms, clear_key)):
                    start = time.perf_counter()
                    call(key)
                    sink.append((time.perf_counter() - start) * 1000)
        return statistics.median(enc_ms), statistics.median(clear_ms)

    rows = (
        ("ticket detail (masked)", lambda k: selectors.ticket_get(actor=agent, key=k)),
        (
            "ticket reveal",
            lambda k: services.ticket_reveal_phi(actor=agent, key=k, reason="benchmark run"),
        ),
    )
    for label, call in rows:
        enc, clear = paired(call)
        print(
            f"{label:24s} encrypted {enc:6.2f} ms   plaintext {clear:6.2f} ms   "
            f"ratio {enc / clear:4.2f}  ({args.messages} messages, median of "
            f"{args.tickets * 2})"
        )

    # 3. Providers: wrap/unwrap latency and rewrap (rotation) rate.
    results = {
        "local": bench_provider("local", LocalKeyProvider(TMP / "keys" / "rot.key"), args.keys)
    }
    if not args.skip_hsm:
        hsm = softhsm_provider()
        if hsm is not None:
            results["pkcs11"] = bench_provider("pkcs11", hsm, args.keys)
            hsm.close()
    if not args.skip_kms:
        with moto_provider() as kms:
            if kms is not None:
                results["aws-kms"] = bench_provider("aws-kms", kms, args.keys)
    for label, r in results.items():
        print(
            f"provider {label:8s} wrap {r['wrap_ms']:7.3f} ms   unwrap {r['unwrap_ms']:7.3f} ms"
            f"   rewrap {r['rewrap_per_s']:7.0f} data keys/s ({int(r['rewrapped'])} keys)"
        )
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
