"""Choosing the key provider from settings (PHIDESK_KEY_PROVIDER), once per process."""

from __future__ import annotations

import threading
from pathlib import Path

from django.conf import settings

from phidesk.crypto.errors import KeyProviderError
from phidesk.crypto.providers.base import Health, KeyProvider

PROVIDERS = ("local", "pkcs11", "aws-kms")

_lock = threading.Lock()
_provider: KeyProvider | None = None


def build_provider(name: str | None = None) -> KeyProvider:
    """A provider as configured in settings (or the one named)."""
    name = name or settings.PHIDESK_KEY_PROVIDER
    if name == "local":
        from phidesk.crypto.providers.local import LocalKeyProvider

        return LocalKeyProvider(Path(settings.PHIDESK_LOCAL_KEY_FILE))
    if name == "pkcs11":
        from phidesk.crypto.providers.pkcs11 import Pkcs11KeyProvider

        return Pkcs11KeyProvider(
            library=settings.PHIDESK_PKCS11_LIB or "/usr/lib/softhsm/libsofthsm2.so",
            token_label=settings.PHIDESK_PKCS11_TOKEN,
            pin=settings.PHIDESK_PKCS11_PIN or "",
            key_label=settings.PHIDESK_PKCS11_KEY_LABEL,
        )
    if name == "aws-kms":
        from phidesk.crypto.providers.aws_kms import AwsKmsKeyProvider

        return AwsKmsKeyProvider(
            key_id=settings.PHIDESK_KMS_KEY_ID or "",
            endpoint_url=settings.PHIDESK_KMS_ENDPOINT,
            region=settings.PHIDESK_KMS_REGION or "us-east-1",
        )
    raise KeyProviderError(f"unknown key provider {name!r}; choose one of {', '.join(PROVIDERS)}")


def get_provider() -> KeyProvider:
    global _provider
    with _lock:
        if _provider is None:
            _provider = build_provider()
        return _provider


def set_provider(provider: KeyProvider | None) -> None:
    """Swap the process-wide provider (tests, benchmarks). Closes the previous one."""
    global _provider
    with _lock:
        if _provider is not None and _provider is not provider:
            _provider.close()
        _provider = provider


__all__ = ["PROVIDERS", "Health", "KeyProvider", "build_provider", "get_provider", "set_provider"]
