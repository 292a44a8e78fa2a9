"""`aws-kms`: tenant keys wrapped by a KMS key (Encrypt/Decrypt with an EncryptionContext).

The wrap context becomes the KMS EncryptionContext, which KMS authenticates and
writes to CloudTrail, so a tenant key cannot be unwrapped for another tenant or
environment. `PHIDESK_KMS_ENDPOINT` points boto3 elsewhere (tests: moto on loopback).
Credentials come from boto3's usual chain (role, env, profile), never from settings.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from phidesk.crypto.errors import DecryptionFailed, KeyProviderError
from phidesk.crypto.providers.base import KeyProvider

_REFUSED = {"InvalidCiphertextException", "IncorrectKeyException"}


class AwsKmsKeyProvider(KeyProvider):
    name = "aws-kms"

    def __init__(self, *, key_id: str, endpoint_url: str | None = None, region: str) -> None:
        if not key_id:
            raise KeyProviderError("PHIDESK_KMS_KEY_ID is required for the aws-kms provider")
        self._configured_key = key_id
        self.endpoint_url = endpoint_url or None
        self.region = region
        self._client: Any = None
        self._arn: str | None = None
        self._lock = threading.Lock()

    def _kms(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "kms",
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                config=Config(
                    retries={"max_attempts": 3, "mode": "standard"},
                    connect_timeout=5,
                    read_timeout=10,
                ),
            )
        return self._client

    def _call(self, op: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._kms(), op)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _REFUSED:
                raise DecryptionFailed(
                    f"KMS refused the wrapped key or its context ({code})"
                ) from exc
            raise KeyProviderError(f"KMS {op} failed: {code or 'error'}") from exc
        except BotoCoreError as exc:
            raise KeyProviderError(f"KMS {op} failed: {type(exc).__name__}") from exc

    def key_id(self) -> str:
        with self._lock:
            if self._arn is None:
                meta = self._call("describe_key", KeyId=self._configured_key)["KeyMetadata"]
                self._arn = str(meta["Arn"])
            return f"aws-kms:{self._arn}"

    def wrap(self, key: bytes, *, context: Mapping[str, str]) -> bytes:
        response = self._call(
            "encrypt",
            KeyId=self._configured_key,
            Plaintext=key,
            EncryptionContext=dict(context),
        )
        return bytes(response["CiphertextBlob"])

    def unwrap(self, wrapped: bytes, *, context: Mapping[str, str]) -> bytes:
        response = self._call(
            "decrypt",
            KeyId=self._configured_key,
            CiphertextBlob=wrapped,
            EncryptionContext=dict(context),
        )
        return bytes(response["Plaintext"])

    def close(self) -> None:
        self._client = None
