"""Crypto errors. Messages name keys and rows, never key material or plaintext."""

from __future__ import annotations


class CryptoError(Exception):
    """Base of every error raised by phidesk.crypto."""


class DecryptionFailed(CryptoError):
    """A ciphertext did not authenticate: tampered, truncated, moved to another row,
    field or tenant, sealed in another environment, or under an unknown key."""


class KeyDestroyed(CryptoError):
    """The data key was crypto-shredded; the data it sealed is gone for good."""


class KeyProviderError(CryptoError):
    """The key provider (file, HSM, KMS) is misconfigured or unavailable."""


class InsecureKeyFile(KeyProviderError):
    """The local root key file is readable or writable by others than its owner."""
