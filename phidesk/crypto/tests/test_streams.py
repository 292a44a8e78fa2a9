"""Streaming AEAD for files: round trips of any size, and every kind of tampering fails."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phidesk.conftest import PATIENT, Tenant
from phidesk.core.tenant_context import tenant_context
from phidesk.crypto.errors import DecryptionFailed, KeyDestroyed
from phidesk.crypto.services import shred
from phidesk.crypto.streams import _HEADER, TAG_BYTES, open_stream, seal_stream
from phidesk.tickets.models import Ticket

CHUNK = 64


def tickets(tenant: Tenant, n: int = 2) -> list[Ticket]:
    keys = [tenant.file(queue="restricted", **PATIENT) for _ in range(n)]
    with tenant_context(tenant.org.pk):
        return [Ticket.objects.get(number=int(k[3:])) for k in keys]


def seal(ticket: Ticket, data: bytes, purpose: str = "attachment:1") -> bytes:
    sink = io.BytesIO()
    assert seal_stream(
        record=ticket, purpose=purpose, source=io.BytesIO(data), sink=sink, chunk_size=CHUNK
    ) == len(data)
    return sink.getvalue()


def unseal(ticket: Ticket, sealed: bytes, purpose: str = "attachment:1") -> bytes:
    return b"".join(open_stream(record=ticket, purpose=purpose, source=io.BytesIO(sealed)))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=CHUNK * 5 + 3))
def test_round_trip_any_size(hospital: Tenant, data: bytes):
    ticket = tickets(hospital, 1)[0]
    sealed = seal(ticket, data)
    assert unseal(ticket, sealed) == data
    if len(data) >= 16:
        assert data not in sealed


def test_large_file_is_streamed_in_chunks(hospital: Tenant):
    ticket = tickets(hospital, 1)[0]
    data = bytes(range(256)) * 4096  # 1 MiB
    sink = io.BytesIO()
    seal_stream(record=ticket, purpose="a", source=io.BytesIO(data), sink=sink)
    chunks = list(open_stream(record=ticket, purpose="a", source=io.BytesIO(sink.getvalue())))
    assert len(chunks) == 16 and b"".join(chunks) == data


def _tampered(sealed: bytes) -> dict[str, bytes]:
    h = _HEADER.size
    block = CHUNK + TAG_BYTES
    flipped = bytearray(sealed)
    flipped[h + 5] ^= 1
    header_flip = bytearray(sealed)
    header_flip[12] ^= 1  # inside the key id / prefix
    return {
        "flipped byte": bytes(flipped),
        "header changed": bytes(header_flip),
        "truncated at a chunk boundary": sealed[: h + 2 * block],
        "truncated mid-chunk": sealed[: h + block + 10],
        "chunks swapped": sealed[:h]
        + sealed[h + block : h + 2 * block]
        + sealed[h : h + block]
        + sealed[h + 2 * block :],
        "chunk dropped": sealed[:h] + sealed[h + block :],
        "chunk duplicated": sealed[: h + block] + sealed[h : h + block] + sealed[h + block :],
        "no header": sealed[:5],
    }


def test_every_kind_of_tampering_fails(hospital: Tenant):
    ticket = tickets(hospital, 1)[0]
    sealed = seal(ticket, b"x" * (CHUNK * 4 + 7))
    for name, bad in _tampered(sealed).items():
        with pytest.raises(DecryptionFailed):
            unseal(ticket, bad)
        assert name


def test_a_file_moved_to_another_record_purpose_or_tenant_fails(
    hospital: Tenant, other_hospital: Tenant
):
    first, second = tickets(hospital)
    sealed = seal(first, b"scan of a consent form")
    with pytest.raises(DecryptionFailed):
        unseal(second, sealed)
    with pytest.raises(DecryptionFailed):
        unseal(first, sealed, purpose="attachment:2")
    elsewhere = tickets(other_hospital, 1)[0]
    with pytest.raises(DecryptionFailed):
        unseal(elsewhere, sealed)


def test_shredding_the_record_makes_its_files_unrecoverable(hospital: Tenant):
    ticket = tickets(hospital, 1)[0]
    sealed = seal(ticket, b"screenshot with a chart on it")
    with tenant_context(hospital.org.pk):
        shred(record=ticket)
    with pytest.raises(KeyDestroyed):
        unseal(ticket, sealed)
