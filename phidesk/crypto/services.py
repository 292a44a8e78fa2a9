"""What the rest of PHIdesk asks of crypto: open sealed values, search, shred, keep secrets.

Domain services (tickets, integrations) call these after their access decision, and
record the audit event themselves: crypto sits beside audit, not above it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, models, transaction

from phidesk.core.clock import now
from phidesk.core.fields import DESTROYED, UNREADABLE, key_owner
from phidesk.core.tenant_context import tenant_context
from phidesk.crypto import blind, cipher, keyring, registry
from phidesk.crypto.models import DataKey, IntegrationSecret, KeyState, SecretKind

__all__ = [
    "DESTROYED",
    "UNREADABLE",
    "SecretInfo",
    "SecretValue",
    "ShredCertificate",
    "blind_index",
    "is_shredded",
    "patient_index",
    "reveal",
    "reveal_each",
    "secret_delete",
    "secret_get",
    "secret_list",
    "secret_put",
    "shred",
]


# --- Opening values -----------------------------------------------------------------


def reveal(instance: models.Model, fields: Iterable[str]) -> dict[str, str]:
    """The clear values of some fields of one row, for a service that decided to show
    them. A shredded record reads "[destroyed]"; a value that fails to authenticate
    reads "[unreadable]" (and is logged, without its content)."""
    names = list(fields)
    results = cipher.open_many([(instance, name) for name in names])
    return {
        name: cipher.readable(instance, name, result)
        for name, result in zip(names, results, strict=True)
    }


def reveal_each(instances: Sequence[models.Model], field: str) -> list[str]:
    """One field of many rows (e.g. message bodies), with one data-key query."""
    results = cipher.open_many([(instance, field) for instance in instances])
    return [
        cipher.readable(instance, field, result)
        for instance, result in zip(instances, results, strict=True)
    ]


def blind_index(*, organization_id: int, kind: str, value: str) -> str:
    """The blind index to filter on for an exact match (e.g. kind="mrn")."""
    return blind.compute(organization_id=organization_id, kind=kind, value=value)


def patient_index(patient_ref: str, organization_id: int) -> str:
    """The blind index of a patient's MRN, as audit search expects it
    (PHIDESK_AUDIT_PATIENT_INDEXER = "phidesk.crypto.services.patient_index"): the same
    value as `Ticket.patient_mrn_bidx`, so events can carry it instead of the MRN."""
    return blind.compute(organization_id=organization_id, kind="mrn", value=patient_ref)


# --- Crypto-shredding -----------------------------------------------------------------


@dataclass(frozen=True)
class ShredCertificate:
    """What was destroyed, for the audit log. The digests name the destroyed wrapped
    keys (so a later audit can match them against a backup) without revealing them."""

    organization_id: int
    owner_type: str
    owner_uuid: str
    data_key_ids: tuple[int, ...]
    wrapped_key_digests: tuple[str, ...]
    rows_unindexed: int
    destroyed_at: datetime
    digest: str

    def audit_detail(self) -> dict[str, Any]:
        return {
            "owner_type": self.owner_type,
            "owner_uuid": self.owner_uuid,
            "data_key_ids": list(self.data_key_ids),
            "wrapped_key_digests": list(self.wrapped_key_digests),
            "rows_unindexed": self.rows_unindexed,
            "destroyed_at": self.destroyed_at.isoformat(),
            "certificate": self.digest,
        }


def shred(*, record: models.Model) -> ShredCertificate:
    """Destroy the data keys of `record` (and of every row sealed with them).

    Afterwards its encrypted values read "[destroyed]" everywhere at once (data keys
    are never cached), its blind indexes are blanked, and a tombstone key row remains
    so readers can tell "destroyed" from "tampered". Call inside the caller's
    transaction, next to its audit event. Copies of the database taken before this
    still hold the wrapped key: see docs/crypto.md on backups and KEK retirement.
    """
    organization_id = int(getattr(record, "organization_id"))  # noqa: B009
    owner_type, owner_uuid = key_owner(record)
    with transaction.atomic():
        if connection.vendor == "sqlite":
            with connection.cursor() as cur:  # overwrite freed cells instead of leaving them
                cur.execute("PRAGMA secure_delete = ON")
        live = list(
            DataKey.unscoped.select_for_update()
            .filter(organization_id=organization_id, owner_type=owner_type, owner_uuid=owner_uuid)
            .exclude(state=KeyState.DESTROYED)
            .order_by("generation")
        )
        when = now()
        digests = tuple(hashlib.sha256(bytes(dk.wrapped)).hexdigest()[:32] for dk in live)
        ids = tuple(dk.pk for dk in live)
        if live:
            DataKey.unscoped.filter(pk__in=ids).update(
                state=KeyState.DESTROYED, wrapped=b"", destroyed_at=when
            )
        elif not DataKey.unscoped.filter(
            organization_id=organization_id, owner_type=owner_type, owner_uuid=owner_uuid
        ).exists():
            # Nothing was ever sealed: leave a tombstone so the record reads as shredded.
            DataKey.unscoped.create(
                organization_id=organization_id,
                owner_type=owner_type,
                owner_uuid=owner_uuid,
                generation=1,
                kek=keyring.active_tenant_key(organization_id),
                state=KeyState.DESTROYED,
                wrapped=b"",
                destroyed_at=when,
            )
        unindexed = 0
        for model in registry.sealed_models():
            indexes = registry.blind_index_fields(model)
            if indexes:
                unindexed += registry.rows_of_owner(
                    model, organization_id, owner_type, owner_uuid
                ).update(**{f.attname: "" for f in indexes})
    body = {
        "tenant": organization_id,
        "owner": f"{owner_type}:{owner_uuid}",
        "keys": list(ids),
        "digests": list(digests),
        "at": when.isoformat(),
    }
    return ShredCertificate(
        organization_id=organization_id,
        owner_type=owner_type,
        owner_uuid=str(owner_uuid),
        data_key_ids=ids,
        wrapped_key_digests=digests,
        rows_unindexed=unindexed,
        destroyed_at=when,
        digest=hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest(),
    )


def is_shredded(*, record: models.Model) -> bool:
    """True once `shred` ran for the record and nothing was sealed for it since."""
    owner_type, owner_uuid = key_owner(record)
    states = set(
        DataKey.unscoped.filter(
            organization_id=getattr(record, "organization_id"),  # noqa: B009
            owner_type=owner_type,
            owner_uuid=owner_uuid,
        ).values_list("state", flat=True)
    )
    return KeyState.DESTROYED in states and KeyState.ACTIVE not in states


# --- Integration secrets -------------------------------------------------------------

MAX_SECRET = 8192


class SecretValue:
    """A secret that does not print itself: `str()`/`repr()` give "***", logs stay clean."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretValue('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class SecretInfo:
    name: str
    kind: str
    version: int
    created_at: datetime
    rotated_at: datetime | None


def _info(secret: IntegrationSecret) -> SecretInfo:
    return SecretInfo(
        name=secret.name,
        kind=secret.kind,
        version=secret.version,
        created_at=secret.created_at,
        rotated_at=secret.rotated_at,
    )


_SECRET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


@transaction.atomic
def secret_put(*, organization_id: int, name: str, kind: str, value: str) -> SecretInfo:
    """Store or replace a secret. Replacing bumps its version (rotation of the secret)."""
    if not _SECRET_NAME.match(name):
        raise ValueError("a secret name is 1 to 100 lowercase letters, digits, - or _")
    if kind not in SecretKind.values:
        raise ValueError(f"kind must be one of {', '.join(SecretKind.values)}")
    if not value or len(value) > MAX_SECRET:
        raise ValueError(f"a secret is 1 to {MAX_SECRET} characters")
    with tenant_context(organization_id):
        secret = IntegrationSecret.objects.select_for_update().filter(name=name).first()
        if secret is None:
            secret = IntegrationSecret(organization_id=organization_id, name=name, kind=kind)
        else:
            secret.version += 1
            secret.rotated_at = now()
            secret.kind = kind
        secret.value = value  # sealed on save
        secret.save()
        return _info(secret)


def secret_get(*, organization_id: int, name: str) -> SecretValue:
    with tenant_context(organization_id):
        secret = IntegrationSecret.objects.filter(name=name).first()
        if secret is None:
            raise KeyError(name)
        return SecretValue(cipher.open_value(secret, "value"))  # a broken secret must fail


def secret_list(*, organization_id: int) -> list[SecretInfo]:
    with tenant_context(organization_id):
        return [_info(s) for s in IntegrationSecret.objects.order_by("name")]


@transaction.atomic
def secret_delete(*, organization_id: int, name: str) -> ShredCertificate:
    """Shred the secret's data key, then drop the row."""
    with tenant_context(organization_id):
        secret = IntegrationSecret.objects.select_for_update().filter(name=name).first()
        if secret is None:
            raise KeyError(name)
        certificate = shred(record=secret)
        secret.delete()
        return certificate
