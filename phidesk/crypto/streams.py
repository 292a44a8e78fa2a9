"""Chunked streaming encryption for files (attachments), under the record's data key.

A file never sits whole in memory: it is sealed and opened chunk by chunk with the
STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015) over AES-256-GCM:

    header  = "PHDS" | version (1) | data key id (8) | nonce prefix (7) | chunk size (4)
    chunk i = AES-256-GCM(key, nonce = prefix | i (4, big-endian) | last (1),
                          plaintext chunk, aad = context | header)

The counter in the nonce detects reordered, dropped or duplicated chunks; the `last`
flag detects truncation at a chunk boundary; the header and the context (environment,
tenant, owning record, purpose) are authenticated with every chunk, so a file copied to
another record or tenant fails to open. Shredding the record's data key makes its files
unrecoverable along with its fields. Format documented in docs/crypto.md.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import models

from phidesk.core.fields import key_owner
from phidesk.crypto import keyring
from phidesk.crypto.envelope import associated_data
from phidesk.crypto.errors import DecryptionFailed, KeyDestroyed

MAGIC = b"PHDS"
VERSION = 1
PREFIX_BYTES = 7
TAG_BYTES = 16
DEFAULT_CHUNK = 64 * 1024
MAX_CHUNK = 4 * 1024 * 1024
_HEADER = struct.Struct(">4sBQ7sI")


def _tenant(record: models.Model) -> int:
    tenant = getattr(record, "organization_id", None)
    if not isinstance(tenant, int):
        raise TypeError(f"{type(record).__name__} has no tenant: cannot seal files for it")
    return tenant


def _context(record: models.Model, purpose: str) -> bytes:
    owner_type, owner_uuid = key_owner(record)
    return associated_data(
        "phidesk.stream",
        (keyring.environment(), _tenant(record), owner_type, str(owner_uuid), purpose),
    )


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    if index >= 2**32:
        raise ValueError("file too large for one stream")
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def _read_full(source: BinaryIO, size: int) -> bytes:
    """Read exactly `size` bytes unless the source ends first (short reads are normal)."""
    parts = []
    remaining = size
    while remaining:
        piece = source.read(remaining)
        if not piece:
            break
        parts.append(piece)
        remaining -= len(piece)
    return b"".join(parts)


def seal_stream(
    *,
    record: models.Model,
    purpose: str,
    source: BinaryIO,
    sink: BinaryIO,
    chunk_size: int = DEFAULT_CHUNK,
) -> int:
    """Encrypt `source` into `sink` under `record`'s data key; returns plaintext bytes."""
    if not 1 <= chunk_size <= MAX_CHUNK:
        raise ValueError("chunk size out of range")
    owner_type, owner_uuid = key_owner(record)
    key = keyring.current_data_key(_tenant(record), owner_type, owner_uuid)
    prefix = os.urandom(PREFIX_BYTES)
    header = _HEADER.pack(MAGIC, VERSION, key.id, prefix, chunk_size)
    aad = _context(record, purpose) + header
    aead = AESGCM(key.key)
    sink.write(header)
    total = 0
    index = 0
    chunk = _read_full(source, chunk_size)
    while True:
        following = _read_full(source, chunk_size) if len(chunk) == chunk_size else b""
        last = not following
        sink.write(aead.encrypt(_nonce(prefix, index, last), chunk, aad))
        total += len(chunk)
        if last:
            return total
        chunk, index = following, index + 1


def open_stream(*, record: models.Model, purpose: str, source: BinaryIO) -> Iterator[bytes]:
    """Decrypt chunk by chunk. Raises DecryptionFailed on any tampering (before the
    chunk is yielded) and KeyDestroyed if the record was shredded."""
    header = _read_full(source, _HEADER.size)
    if len(header) != _HEADER.size:
        raise DecryptionFailed("encrypted file is truncated (no header)")
    magic, version, key_id, prefix, chunk_size = _HEADER.unpack(header)
    if magic != MAGIC or version != VERSION or not 1 <= chunk_size <= MAX_CHUNK:
        raise DecryptionFailed("not an encrypted PHIdesk file, or an unknown format version")
    opened = keyring.open_data_keys(_tenant(record), [key_id])[key_id]
    if isinstance(opened, KeyDestroyed | DecryptionFailed):
        raise opened
    aad = _context(record, purpose) + header
    aead = AESGCM(opened)
    sealed_size = chunk_size + TAG_BYTES
    index = 0
    sealed = _read_full(source, sealed_size)
    while True:
        if len(sealed) < TAG_BYTES:
            raise DecryptionFailed("encrypted file is truncated")
        following = _read_full(source, sealed_size) if len(sealed) == sealed_size else b""
        last = not following
        try:
            plain = aead.decrypt(_nonce(prefix, index, last), sealed, aad)
        except InvalidTag as exc:
            raise DecryptionFailed(
                f"encrypted file chunk {index} does not authenticate "
                "(tampered, truncated, reordered, or moved to another record)"
            ) from exc
        yield plain
        if last:
            return
        sealed, index = following, index + 1
