"""Who signs checkpoints: a small interface, and a local key file behind it by default.

The crypto app's key provider (KMS, HSM, Vault) can back `CheckpointSigner` later
without touching the checkpoint code: set PHIDESK_AUDIT_SIGNER to a factory that
returns an object with `name`, `public_key` and `sign`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
from pathlib import Path
from typing import Protocol

from django.utils.module_loading import import_string

from phidesk.audit import conf
from phidesk.audit.standalone_verify import (
    NoteError,
    VerifierKey,
    parse_signer_key,
    signer_key,
    verifier_key,
)


class CheckpointSigner(Protocol):
    """Signs checkpoint notes with Ed25519. `name` is the note key name (the origin)."""

    @property
    def name(self) -> str: ...

    @property
    def public_key(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


class LocalKeyFileSigner:
    """An Ed25519 key in a 0600 file, in the Go `note` signer-key text form."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        text = _read_or_create(path, name)
        self._name, self._private = parse_signer_key(text)
        self._public = self._private.public_key().public_bytes_raw()

    @property
    def name(self) -> str:
        return self._name

    @property
    def public_key(self) -> bytes:
        return self._public

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)


def _read_or_create(path: Path, name: str) -> str:
    """Create the key once, atomically: concurrent first uses end with one key."""
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise PermissionError(f"{path} must not be readable by group or others (chmod 600)")
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(signer_key(name, secrets.token_bytes(32)) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another process won the race
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def local_key_file_signer() -> CheckpointSigner:
    return LocalKeyFileSigner(conf.signing_key_path(), conf.origin())


@functools.cache
def _signer(factory: str) -> CheckpointSigner:
    signer: CheckpointSigner = import_string(factory)()
    return signer


def get_signer() -> CheckpointSigner:
    return _signer(conf.signer_factory())


def public_key_text() -> str:
    """The verifier key to hand to auditors (`phidesk audit public-key`)."""
    signer = get_signer()
    return verifier_key(signer.name, signer.public_key)


def trusted_verifier_keys(extra: list[str] | None = None) -> list[VerifierKey]:
    """The current key plus earlier ones from PHIDESK_AUDIT_TRUSTED_KEYS (and `extra`)."""
    texts = [public_key_text(), *conf.trusted_keys(), *(extra or [])]
    keys: list[VerifierKey] = []
    for text in texts:
        try:
            keys.append(VerifierKey.parse(text))
        except NoteError as exc:
            raise NoteError(f"bad trusted key {text!r}: {exc}") from exc
    return keys


def reset_cache() -> None:
    """Forget the loaded signer (tests that switch keys or VAR_DIR)."""
    _signer.cache_clear()
