"""`local`: the embedded default. A 32-byte root key in a file only its owner can read.

The file is created on first use with mode 0600 (atomically: written aside, then
hard-linked into place, so two processes starting together agree on one key) and
refused if anyone else may read or write it. Losing the file loses every encrypted
value: back it up apart from the database (docs/crypto.md).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import stat
import threading
from collections.abc import Mapping
from pathlib import Path

from phidesk.crypto.envelope import KEY_BYTES, new_key, open_bytes, seal_bytes
from phidesk.crypto.errors import DecryptionFailed, InsecureKeyFile, KeyProviderError
from phidesk.crypto.providers.base import KeyProvider, canonical_context

_HEADER = "phidesk-root-key-v1"
_WRAP_V1 = b"\x01"


class LocalKeyProvider(KeyProvider):
    name = "local"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._root: bytes | None = None
        self._lock = threading.Lock()

    # --- The key file ----------------------------------------------------------

    def _create(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{_HEADER}\n{base64.b64encode(new_key()).decode()}\n")
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):  # another process won the race
                os.link(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)

    def _load(self) -> bytes:
        if not self.path.exists():
            self._create()
        info = self.path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise KeyProviderError(f"root key {self.path} is not a regular file")
        if info.st_mode & 0o077:
            raise InsecureKeyFile(
                f"root key {self.path} has mode {stat.S_IMODE(info.st_mode):04o}; "
                f"it must be readable by its owner only (chmod 600 {self.path})"
            )
        lines = self.path.read_text().split()
        try:
            if len(lines) != 2 or lines[0] != _HEADER:
                raise ValueError
            key = base64.b64decode(lines[1], validate=True)
        except (ValueError, binascii.Error) as exc:
            raise KeyProviderError(f"root key {self.path} is not a PHIdesk key file") from exc
        if len(key) != KEY_BYTES:
            raise KeyProviderError(f"root key {self.path} is not a 256-bit key")
        return key

    def _key(self) -> bytes:
        with self._lock:
            if self._root is None:
                self._root = self._load()
            return self._root

    # --- Interface ---------------------------------------------------------------

    def key_id(self) -> str:
        digest = hashlib.sha256(b"phidesk key id\x00" + self._key()).hexdigest()
        return f"local:{digest[:16]}"

    def wrap(self, key: bytes, *, context: Mapping[str, str]) -> bytes:
        return _WRAP_V1 + seal_bytes(self._key(), key, canonical_context(context))

    def unwrap(self, wrapped: bytes, *, context: Mapping[str, str]) -> bytes:
        if wrapped[:1] != _WRAP_V1:
            raise DecryptionFailed("wrapped key has an unknown format")
        return open_bytes(self._key(), wrapped[1:], canonical_context(context))
