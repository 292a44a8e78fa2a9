"""The key provider interface: the root of the key hierarchy, wherever it lives.

A provider only ever wraps and unwraps tenant keys (32 random bytes), each bound to a
context (environment, tenant, purpose, version) that the provider authenticates: a
wrapped key moved to another tenant or environment fails to unwrap. Adding Vault
Transit or another cloud KMS means one more subclass and one line in `registry`.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

from phidesk.crypto.errors import CryptoError


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str
    latency_ms: float


class KeyProvider(ABC):
    name: str = "abstract"

    @abstractmethod
    def key_id(self) -> str:
        """A stable, non-secret name of the root key (stored next to what it wrapped)."""

    @abstractmethod
    def wrap(self, key: bytes, *, context: Mapping[str, str]) -> bytes:
        """Encrypt `key` under the root key, authenticating `context`."""

    @abstractmethod
    def unwrap(self, wrapped: bytes, *, context: Mapping[str, str]) -> bytes:
        """Reverse `wrap`; raise DecryptionFailed if the blob or the context is wrong."""

    def health(self) -> Health:
        """Round-trip a throwaway key; report how long it took, never the key."""
        started = time.perf_counter()
        try:
            probe = os.urandom(32)
            context = {"purpose": "health-check"}
            ok = self.unwrap(self.wrap(probe, context=context), context=context) == probe
            detail = f"{self.key_id()}: wrap/unwrap round trip ok" if ok else "round trip mismatch"
        except CryptoError as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a health check reports, it does not crash
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        return Health(ok=ok, detail=detail, latency_ms=(time.perf_counter() - started) * 1000)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sessions or clients (tests, shutdown)."""


def canonical_context(context: Mapping[str, str]) -> bytes:
    """The context as AAD bytes for providers that take raw associated data."""
    from phidesk.crypto.envelope import associated_data

    return associated_data("phidesk.wrap", (f"{k}={context[k]}" for k in sorted(context)))
