"""Sealing and opening encrypted field values, bound to their row.

Every value is sealed with the data key of its row's key owner (a ticket, for the
ticket and its messages) and the associated data
(environment, tenant, model, field, row uuid, data key id); see envelope.field_aad.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.db import models

from phidesk.core.fields import (
    DESTROYED,
    UNREADABLE,
    EncryptedTextField,
    Sealed,
    key_owner,
    row_identity,
)
from phidesk.crypto import blind, keyring
from phidesk.crypto.envelope import Envelope, field_aad, open_text, seal_text
from phidesk.crypto.errors import DecryptionFailed, KeyDestroyed

log = logging.getLogger("phidesk.crypto")


def _tenant(instance: models.Model) -> int:
    tenant = getattr(instance, "organization_id", None)
    if not isinstance(tenant, int):
        raise TypeError(f"{type(instance).__name__} has no tenant: cannot seal its fields")
    return tenant


def aad_for(instance: models.Model, field_name: str, key_id: int) -> bytes:
    return field_aad(
        environment=keyring.environment(),
        tenant_id=_tenant(instance),
        model=instance._meta.label_lower,
        field=field_name,
        row=str(row_identity(instance)),
        key_id=key_id,
    )


def seal_with(key: keyring.OpenKey, instance: models.Model, field_name: str, plaintext: str) -> str:
    return seal_text(
        key=key.key, key_id=key.id, plaintext=plaintext, aad=aad_for(instance, field_name, key.id)
    )


class CryptoFieldCipher:
    """The FieldCipher that phidesk.core.fields calls on save (installed in ready())."""

    def seal(self, instance: models.Model, field: EncryptedTextField, plaintext: str) -> str:
        owner_type, owner_uuid = key_owner(instance)
        key = keyring.current_data_key(_tenant(instance), owner_type, owner_uuid)
        return seal_with(key, instance, field.name, plaintext)

    def blind_index(self, instance: models.Model, kind: str, plaintext: str) -> str:
        return blind.compute(organization_id=_tenant(instance), kind=kind, value=plaintext)


# --- Opening ----------------------------------------------------------------------


def _envelope_of(instance: models.Model, field_name: str) -> Envelope | str:
    """The envelope to open, or the final value when there is nothing to decrypt."""
    value: Any = getattr(instance, field_name)
    if value is None or value == "":
        return ""
    if isinstance(value, str):  # assigned by the service itself, not saved yet
        return value
    if not isinstance(value, Sealed):
        raise TypeError(f"{field_name} holds {type(value).__name__}, not a sealed value")
    if value.legacy:  # written before encryption; `phidesk keys reencrypt` seals it
        return value.token
    return Envelope.from_text(value.token)


def open_value(instance: models.Model, field_name: str) -> str:
    """The plaintext of one field. Raises DecryptionFailed or KeyDestroyed."""
    target = _envelope_of(instance, field_name)
    if isinstance(target, str):
        return target
    key = keyring.open_data_keys(_tenant(instance), [target.key_id])[target.key_id]
    if isinstance(key, Exception):
        raise key
    return open_text(key=key, envelope=target, aad=aad_for(instance, field_name, target.key_id))


def open_many(
    pairs: Sequence[tuple[models.Model, str]],
) -> list[str | KeyDestroyed | DecryptionFailed]:
    """Open many (row, field) values with one data-key query per tenant.

    Failures are returned in place, so one bad row does not hide the others.
    """
    targets: list[Envelope | str | DecryptionFailed] = []
    wanted: dict[int, set[int]] = defaultdict(set)
    for instance, name in pairs:
        try:
            target = _envelope_of(instance, name)
        except DecryptionFailed as exc:
            targets.append(exc)
            continue
        targets.append(target)
        if isinstance(target, Envelope):
            wanted[_tenant(instance)].add(target.key_id)
    keys = {tenant: keyring.open_data_keys(tenant, ids) for tenant, ids in wanted.items()}
    out: list[str | KeyDestroyed | DecryptionFailed] = []
    for (instance, name), item in zip(pairs, targets, strict=True):
        if not isinstance(item, Envelope):
            out.append(item)
            continue
        key = keys[_tenant(instance)][item.key_id]
        if isinstance(key, Exception):
            out.append(key)
            continue
        try:
            out.append(open_text(key=key, envelope=item, aad=aad_for(instance, name, item.key_id)))
        except DecryptionFailed as exc:
            out.append(exc)
    return out


def readable(
    instance: models.Model, field_name: str, result: str | KeyDestroyed | DecryptionFailed
) -> str:
    """A result as something a page can show: the text, "[destroyed]" or "[unreadable]"."""
    if isinstance(result, KeyDestroyed):
        return DESTROYED
    if isinstance(result, DecryptionFailed):
        log.warning(
            "cannot decrypt %s.%s of row %s: %s",
            instance._meta.label_lower,
            field_name,
            getattr(instance, "uuid", "?"),
            result,
        )
        return UNREADABLE
    return result
