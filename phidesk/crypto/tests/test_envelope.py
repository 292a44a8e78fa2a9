"""Property tests of the envelope and AES-256-GCM: round trips, and every tampering fails
with DecryptionFailed (never a wrong plaintext, never another exception)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phidesk.core.fields import ENVELOPE_PREFIX
from phidesk.crypto.envelope import (
    HEADER_BYTES,
    Envelope,
    associated_data,
    field_aad,
    new_key,
    open_text,
    seal_text,
)
from phidesk.crypto.errors import DecryptionFailed

KEY = new_key()
OTHER_KEY = new_key()

texts = st.text(max_size=300)
key_ids = st.integers(min_value=1, max_value=2**63 - 1)


def aad(**overrides: object) -> bytes:
    parts: dict[str, object] = {
        "environment": "test",
        "tenant_id": 1,
        "model": "tickets.ticket",
        "field": "patient_mrn",
        "row": "7c0c2ba4-1f4c-4d43-9e1b-7a6c1a0b9d11",
        "key_id": 5,
    }
    parts.update(overrides)
    return field_aad(**parts)  # type: ignore[arg-type]


def sealed(plaintext: str, key_id: int = 5, key: bytes = KEY) -> str:
    return seal_text(key=key, key_id=key_id, plaintext=plaintext, aad=aad(key_id=key_id))


def opened(text: str, key: bytes = KEY, **overrides: object) -> str:
    envelope = Envelope.from_text(text)
    overrides.setdefault("key_id", envelope.key_id)
    return open_text(key=key, envelope=envelope, aad=aad(**overrides))


@given(texts, key_ids)
def test_round_trip(plaintext: str, key_id: int):
    text = sealed(plaintext, key_id)
    assert text.startswith(ENVELOPE_PREFIX)
    assert Envelope.from_text(text).key_id == key_id
    assert opened(text) == plaintext


@given(st.text(min_size=1, max_size=50))
def test_same_plaintext_never_gives_the_same_ciphertext(plaintext: str):
    assert sealed(plaintext) != sealed(plaintext)  # random 96-bit nonces


@given(texts, st.data())
def test_any_flipped_bit_fails(plaintext: str, data: st.DataObject):
    raw = bytearray(Envelope.from_text(sealed(plaintext)).to_bytes())
    index = data.draw(st.integers(0, len(raw) - 1), label="byte")
    bit = data.draw(st.integers(0, 7), label="bit")
    raw[index] ^= 1 << bit
    tampered = ENVELOPE_PREFIX + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(DecryptionFailed):
        opened(tampered)


@given(texts, st.data())
def test_any_truncation_fails(plaintext: str, data: st.DataObject):
    raw = Envelope.from_text(sealed(plaintext)).to_bytes()
    cut = data.draw(st.integers(0, len(raw) - 1), label="keep")
    truncated = ENVELOPE_PREFIX + base64.urlsafe_b64encode(raw[:cut]).decode().rstrip("=")
    with pytest.raises(DecryptionFailed):
        opened(truncated)


@given(texts, st.data())
def test_text_level_tampering_fails(plaintext: str, data: st.DataObject):
    text = sealed(plaintext)
    index = data.draw(st.integers(0, len(text) - 1), label="char")
    replacement = data.draw(st.sampled_from("A_-z09=+/ "), label="replacement")
    tampered = text[:index] + replacement + text[index + 1 :]
    if tampered == text:
        return
    with pytest.raises(DecryptionFailed):
        opened(tampered)


@pytest.mark.parametrize(
    "overrides",
    [
        {"environment": "production"},
        {"tenant_id": 2},
        {"model": "tickets.message"},
        {"field": "patient_name"},
        {"row": "00000000-0000-0000-0000-000000000000"},
        {"key_id": 6},
    ],
    ids=lambda o: next(iter(o)),
)
def test_wrong_associated_data_fails(overrides: dict[str, object]):
    text = sealed("00123456")
    with pytest.raises(DecryptionFailed):
        opened(text, **overrides)


@given(texts)
def test_wrong_key_fails(plaintext: str):
    with pytest.raises(DecryptionFailed):
        opened(sealed(plaintext), key=OTHER_KEY)


@given(st.binary(max_size=HEADER_BYTES + 40))
def test_garbage_is_refused_cleanly(blob: bytes):
    text = ENVELOPE_PREFIX + base64.urlsafe_b64encode(blob).decode().rstrip("=")
    with pytest.raises(DecryptionFailed):
        opened(text)


@given(st.text(max_size=80))
def test_non_envelopes_are_refused_cleanly(junk: str):
    with pytest.raises(DecryptionFailed):
        opened(ENVELOPE_PREFIX + junk)


@given(st.lists(st.text(max_size=8), max_size=5), st.lists(st.text(max_size=8), max_size=5))
def test_associated_data_encoding_is_injective(a: list[str], b: list[str]):
    if a != b:
        assert associated_data("x", a) != associated_data("x", b)


def test_swapping_ciphertexts_between_rows_fails():
    row_a, row_b = "row-a", "row-b"
    text_a = seal_text(key=KEY, key_id=5, plaintext="00123456", aad=aad(row=row_a))
    assert opened(text_a, row=row_a) == "00123456"
    with pytest.raises(DecryptionFailed):
        opened(text_a, row=row_b)
