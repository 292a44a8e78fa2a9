"""`pkcs11`: a root key that never leaves an HSM (SoftHSM2 in tests, CI and demos).

The root key is an AES-256 secret key object generated inside the token with
SENSITIVE=True and EXTRACTABLE=False: the application can ask the token to encrypt
and decrypt with it, never to hand it over. Tenant keys are wrapped with CKM_AES_GCM
(random 96-bit IV, 128-bit tag) with the wrap context as associated data, so the HSM
itself authenticates which tenant and environment a wrapped key belongs to. (CKM_AES_
KEY_WRAP through C_WrapKey would need the tenant key as a token object and binds no
context; GCM does both jobs in one call.)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from phidesk.crypto.errors import DecryptionFailed, KeyProviderError
from phidesk.crypto.providers.base import KeyProvider, canonical_context

_WRAP_V1 = b"\x01"
_IV_BYTES = 12


class Pkcs11KeyProvider(KeyProvider):
    name = "pkcs11"

    def __init__(
        self, *, library: str, token_label: str, pin: str, key_label: str = "phidesk-root"
    ) -> None:
        if not pin:
            raise KeyProviderError("PHIDESK_PKCS11_PIN (or PHIDESK_PKCS11_PIN_FILE) is required")
        self.library = library
        self.token_label = token_label
        self.key_label = key_label
        self._pin = pin
        self._lock = threading.RLock()
        self._session: Any = None
        self._key: Any = None
        self._serial = ""

    def __repr__(self) -> str:  # never the PIN
        return f"<Pkcs11KeyProvider token={self.token_label!r} key={self.key_label!r}>"

    def _open(self) -> Any:
        import pkcs11
        from pkcs11 import Attribute, KeyType, ObjectClass

        if self._key is not None:
            return self._key
        try:
            lib = pkcs11.lib(self.library)
            token = lib.get_token(token_label=self.token_label)
            session = token.open(user_pin=self._pin, rw=True)
        except (pkcs11.exceptions.PKCS11Error, RuntimeError, OSError) as exc:
            raise KeyProviderError(
                f"cannot open PKCS#11 token {self.token_label!r} with {self.library}: "
                f"{type(exc).__name__}"
            ) from exc
        try:
            key = session.get_key(
                object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label=self.key_label
            )
        except pkcs11.exceptions.NoSuchKey:
            key = session.generate_key(
                KeyType.AES,
                256,
                label=self.key_label,
                store=True,
                template={
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.ENCRYPT: True,
                    Attribute.DECRYPT: True,
                    Attribute.WRAP: True,
                    Attribute.UNWRAP: True,
                },
            )
        except pkcs11.exceptions.MultipleObjectsReturned as exc:
            session.close()
            raise KeyProviderError(
                f"token {self.token_label!r} holds several keys labelled {self.key_label!r}"
            ) from exc
        self._session, self._key = session, key
        self._serial = str(
            token.serial.decode(errors="replace")
            if isinstance(token.serial, bytes)
            else token.serial
        ).strip()
        return key

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                try:
                    self._session.close()
                finally:
                    self._session = self._key = None

    def key_id(self) -> str:
        with self._lock:
            self._open()
            return f"pkcs11:{self.token_label}/{self._serial}/{self.key_label}"

    def wrap(self, key: bytes, *, context: Mapping[str, str]) -> bytes:
        import pkcs11
        from pkcs11 import GCMParams, Mechanism

        iv = os.urandom(_IV_BYTES)
        params = GCMParams(iv, canonical_context(context), 128)
        with self._lock:
            try:
                sealed = self._open().encrypt(
                    key, mechanism=Mechanism.AES_GCM, mechanism_param=params
                )
            except pkcs11.exceptions.PKCS11Error as exc:
                self._reset()
                raise KeyProviderError(f"HSM wrap failed: {type(exc).__name__}") from exc
        return _WRAP_V1 + iv + bytes(sealed)

    def unwrap(self, wrapped: bytes, *, context: Mapping[str, str]) -> bytes:
        import pkcs11
        from pkcs11 import GCMParams, Mechanism

        if wrapped[:1] != _WRAP_V1 or len(wrapped) < 1 + _IV_BYTES + 16:
            raise DecryptionFailed("wrapped key has an unknown format")
        iv, body = wrapped[1 : 1 + _IV_BYTES], wrapped[1 + _IV_BYTES :]
        params = GCMParams(iv, canonical_context(context), 128)
        refused = (
            pkcs11.exceptions.EncryptedDataInvalid,
            pkcs11.exceptions.EncryptedDataLenRange,
        )
        with self._lock:
            for attempt in (1, 2):
                try:
                    return bytes(
                        self._open().decrypt(
                            body, mechanism=Mechanism.AES_GCM, mechanism_param=params
                        )
                    )
                except refused as exc:
                    raise DecryptionFailed(
                        "the HSM refused the wrapped key or its context"
                    ) from exc
                except pkcs11.exceptions.GeneralError as exc:
                    # SoftHSM2 reports a GCM tag mismatch as CKR_GENERAL_ERROR. Retry on
                    # a fresh session: failing again there means the blob was refused.
                    self._reset()
                    if attempt == 2:
                        raise DecryptionFailed(
                            "the HSM refused the wrapped key or its context"
                        ) from exc
                except pkcs11.exceptions.PKCS11Error as exc:
                    self._reset()
                    raise KeyProviderError(f"HSM unwrap failed: {type(exc).__name__}") from exc
        raise AssertionError("unreachable")

    def _reset(self) -> None:
        try:
            if self._session is not None:
                self._session.close()
        except Exception:  # noqa: S110 - the session is being thrown away anyway
            pass
        self._session = self._key = None
