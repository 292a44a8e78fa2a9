"""System checks: every encrypted field can be sealed, and keys are configured sanely."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core import checks
from django.db import DatabaseError, models

from phidesk.core.fields import EncryptedTextField, installed_cipher
from phidesk.crypto import registry


def _has_uuid(model: type[models.Model]) -> bool:
    try:
        field = model._meta.get_field("uuid")
    except Exception:
        return False
    return isinstance(field, models.UUIDField) and field.default is uuid.uuid4


@checks.register(checks.Tags.models)
def check_encrypted_fields(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """crypto.E001-E003: what sealing needs is declared on every model that seals."""
    errors: list[checks.CheckMessage] = []
    try:
        installed_cipher()
    except RuntimeError as exc:
        errors.append(checks.Error(str(exc), id="crypto.E003"))
    for model in registry.sealed_models():
        if not _has_uuid(model):
            errors.append(
                checks.Error(
                    f"{model._meta.label} has encrypted fields but no "
                    "uuid = UUIDField(default=uuid.uuid4): ciphertexts need a row identity "
                    "known before insert",
                    obj=model,
                    id="crypto.E001",
                )
            )
        owner = registry.owner_model(model)
        if owner is not model and not _has_uuid(owner):
            errors.append(
                checks.Error(
                    f"{model._meta.label}.crypto_key_owner points at {owner._meta.label}, "
                    "which has no uuid",
                    obj=model,
                    id="crypto.E001",
                )
            )
        for index in registry.blind_index_fields(model):
            try:
                source = model._meta.get_field(index.of)
            except Exception:
                source = None
            if not isinstance(source, EncryptedTextField):
                errors.append(
                    checks.Error(
                        f"{model._meta.label}.{index.name} indexes {index.of!r}, "
                        "which is not an encrypted field",
                        obj=model,
                        id="crypto.E002",
                    )
                )
    return errors


@checks.register(checks.Tags.security, deploy=True)
def check_provider_for_production(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """crypto.W001: the local key file sits next to the data it protects."""
    if settings.IS_PRODUCTION and settings.PHIDESK_KEY_PROVIDER == "local":
        return [
            checks.Warning(
                "PHIDESK_KEY_PROVIDER is 'local': the root key is a file on this machine",
                hint="Use pkcs11 (HSM) or aws-kms in production, or keep the key file on "
                "separate, access-controlled storage and back it up apart from the database.",
                id="crypto.W001",
            )
        ]
    return []


@checks.register(checks.Tags.database)
def check_key_hygiene(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """crypto.W002: an active KEK older than PHIDESK_KEK_MAX_AGE_DAYS.
    crypto.W003: values still stored in clear (written before encryption existed)."""
    from phidesk.core.fields import encrypted_fields
    from phidesk.crypto.rotation import age_warnings

    try:
        found: list[checks.CheckMessage] = [
            checks.Warning(w, id="crypto.W002") for w in age_warnings()
        ]
        legacy = sum(
            m._base_manager.filter(registry.legacy_filter(encrypted_fields(m))).count()
            for m in registry.sealed_models()
        )
    except DatabaseError:  # not migrated yet
        return []
    if legacy:
        found.append(
            checks.Warning(
                f"{legacy} rows hold values stored in clear",
                hint="Run `phidesk keys reencrypt` to seal them.",
                id="crypto.W003",
            )
        )
    return found
