"""Which models hold encrypted fields, and which rows a data key covers.

Found by looking at the fields, so crypto never imports the apps it protects: a model
declares `EncryptedTextField`/`PHIField` columns, a `uuid`, and optionally
`crypto_key_owner = "<foreign key>"` to share the data key of the row it belongs to.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import Q

from phidesk.core.fields import (
    BlindIndexField,
    EncryptedTextField,
    encrypted_fields,
)


def sealed_models() -> list[type[models.Model]]:
    return [m for m in apps.get_models() if encrypted_fields(m)]


def owner_model(model: type[models.Model]) -> type[models.Model]:
    via = getattr(model, "crypto_key_owner", None)
    if not via:
        return model
    related = model._meta.get_field(via).related_model
    if not isinstance(related, type):
        raise TypeError(f"{model.__name__}.crypto_key_owner must name a foreign key")
    return related


def owner_label(model: type[models.Model]) -> str:
    return owner_model(model)._meta.label_lower


def rows_of_owner(
    model: type[models.Model], organization_id: int, owner_type: str, owner_uuid: uuid.UUID
) -> models.QuerySet[Any]:
    """The rows of `model` sealed with the data keys of one owner (unscoped manager)."""
    manager = model._base_manager
    if owner_label(model) != owner_type:
        return manager.none()
    via = getattr(model, "crypto_key_owner", None)
    path = f"{via}__uuid" if via else "uuid"
    return manager.filter(organization_id=organization_id, **{path: owner_uuid})


def blind_index_fields(model: type[models.Model]) -> list[BlindIndexField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, BlindIndexField)]


def legacy_filter(fields: list[EncryptedTextField]) -> Q:
    """Rows holding a non-blank value that is not an envelope (written in clear)."""
    q = Q()
    for f in fields:
        q |= Q(**{f"{f.attname}__envelope": False}) & ~Q(**{f.attname: ""})
    return q
