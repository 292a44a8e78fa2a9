"""The envelope format and AES-256-GCM, with no Django in sight (so it is easy to test).

Binary envelope, format version 1 (documented in docs/crypto.md):

    offset  size  content
    0       1     format version (0x01)
    1       8     data key id, unsigned big-endian
    9       12    nonce (random, 96 bits)
    21      n+16  AES-256-GCM ciphertext of the n plaintext bytes, then the 16-byte tag

Text columns store `phe1:` + base64url(envelope) without padding.

Associated data is never stored: both sides rebuild it from the row being read, so a
ciphertext only opens in the row, field, tenant, environment and under the key it
was sealed for. Parts are length-prefixed so no two part lists encode alike.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from phidesk.core.fields import ENVELOPE_PREFIX
from phidesk.crypto.errors import DecryptionFailed

FORMAT_V1 = 1
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_HEADER = struct.Struct(">BQ")
HEADER_BYTES = _HEADER.size + NONCE_BYTES


def associated_data(label: str, parts: Iterable[str | int]) -> bytes:
    """Canonical, unambiguous encoding of the context a ciphertext is bound to."""
    out = bytearray()
    for part in (label, *parts):
        raw = str(part).encode()
        out += struct.pack(">H", len(raw)) + raw
    return bytes(out)


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal_bytes(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """nonce || ciphertext || tag."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_bytes(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionFailed("ciphertext is truncated")
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except InvalidTag as exc:
        raise DecryptionFailed(
            "ciphertext does not authenticate (tampered, moved, or the wrong key/context)"
        ) from exc


@dataclass(frozen=True)
class Envelope:
    key_id: int
    body: bytes  # nonce || ciphertext || tag
    version: int = FORMAT_V1

    def to_bytes(self) -> bytes:
        return _HEADER.pack(self.version, self.key_id) + self.body

    def to_text(self) -> str:
        return ENVELOPE_PREFIX + base64.urlsafe_b64encode(self.to_bytes()).decode().rstrip("=")

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        if len(raw) < HEADER_BYTES + TAG_BYTES:
            raise DecryptionFailed("envelope is truncated")
        version, key_id = _HEADER.unpack_from(raw)
        if version != FORMAT_V1:
            raise DecryptionFailed(f"unknown envelope format version {version}")
        return cls(key_id=key_id, body=raw[_HEADER.size :], version=version)

    @classmethod
    def from_text(cls, text: str) -> Envelope:
        if not text.startswith(ENVELOPE_PREFIX):
            raise DecryptionFailed("not an envelope")
        payload = text[len(ENVELOPE_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        except (binascii.Error, ValueError) as exc:
            raise DecryptionFailed("envelope is not valid base64") from exc
        # Re-encoding must give the same text: refuses padding games and stray bytes.
        envelope = cls.from_bytes(raw)
        if envelope.to_text() != text:
            raise DecryptionFailed("envelope is not in canonical form")
        return envelope


def field_aad(
    *,
    environment: str,
    tenant_id: int,
    model: str,
    field: str,
    row: str,
    key_id: int,
    version: int = FORMAT_V1,
) -> bytes:
    """AAD of one field value: (environment, tenant, model, field, row identity, key)."""
    return associated_data(
        "phidesk.field", (version, environment, tenant_id, model, field, row, key_id)
    )


def seal_text(*, key: bytes, key_id: int, plaintext: str, aad: bytes) -> str:
    return Envelope(key_id=key_id, body=seal_bytes(key, plaintext.encode(), aad)).to_text()


def open_text(*, key: bytes, envelope: Envelope, aad: bytes) -> str:
    raw = open_bytes(key, envelope.body, aad)
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:  # authenticated, so only a bug could get here
        raise DecryptionFailed("plaintext is not UTF-8") from exc
