"""Encrypted fields: PHIField for patient references, EncryptedTextField for other secrets.

Callers declare `PHIField(kind=...)` and assign plain `str` values; how a value is
stored is this module's business and crypto's, never the caller's. The column holds
only ciphertext (an envelope, see docs/crypto.md) or blank:

* on `save()`, `pre_save` seals a newly assigned `str` through the installed
  `FieldCipher` (phidesk.crypto installs it when Django starts) and replaces the
  attribute with a `Sealed` value;
* loaded rows carry `Sealed` values, which print as "[encrypted]" and never give up
  their plaintext by accident: the service layer asks phidesk.crypto to open them,
  with the row in hand, and only when an access decision allowed it;
* anything that would put a plain `str` into the database without going through
  `pre_save` (`QuerySet.update`, `bulk_update`, a lookup such as
  `filter(patient_mrn="00123456")`) raises `PlaintextRefused`. Search goes through
  the blind index instead (`BlindIndexField`).

core imports no app, so the cipher is injected (`install_cipher`) rather than imported.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from django.db import models

PHI_KINDS = ("mrn", "name", "dob", "text")

# What an opened value reads as when it cannot be shown (never an exception page).
DESTROYED = "[destroyed]"
UNREADABLE = "[unreadable]"
SENTINELS = frozenset({DESTROYED, UNREADABLE})

# Text form of an envelope: this prefix, then base64url (see phidesk.crypto.envelope).
ENVELOPE_PREFIX = "phe1:"


def mask(kind: str, value: str | None) -> str:
    """A masked rendering that lets an agent tell records apart without learning them."""
    if not value:
        return ""
    if value in SENTINELS:
        return value
    if kind == "mrn":
        return "***" + value[-4:] if len(value) > 4 else "***"
    if kind == "name":
        return " ".join(part[0] + "***" for part in value.split() if part)
    if kind == "dob":
        return "****-**-**"
    return "[redacted]"


class PlaintextRefused(TypeError):
    """A plain value was about to reach the database through a path that cannot seal it."""


class CipherMissing(RuntimeError):
    """An encrypted field was saved before phidesk.crypto installed its cipher."""


class Sealed:
    """A stored, still-encrypted value. Truthy when non-blank; prints as "[encrypted]".

    `legacy` marks a value written before encryption was switched on (plaintext in
    the column); it is sealed on the next save or by `phidesk keys reencrypt`.
    """

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token

    @property
    def legacy(self) -> bool:
        return bool(self.token) and not self.token.startswith(ENVELOPE_PREFIX)

    def __bool__(self) -> bool:
        return bool(self.token)

    def __str__(self) -> str:
        return "[encrypted]" if self.token else ""

    def __repr__(self) -> str:
        return "<Sealed>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sealed) and other.token == self.token

    def __hash__(self) -> int:
        return hash(self.token)

    def __reduce__(self) -> Any:
        return (Sealed, (self.token,))


class FieldCipher(Protocol):
    """What phidesk.crypto provides to the fields (installed in CryptoConfig.ready)."""

    def seal(self, instance: models.Model, field: EncryptedTextField, plaintext: str) -> str:
        """Return the envelope text for `plaintext` bound to this row and field."""
        ...

    def blind_index(self, instance: models.Model, kind: str, plaintext: str) -> str:
        """Return the tenant-keyed HMAC of the normalized value, as text."""
        ...


_cipher: FieldCipher | None = None


def install_cipher(cipher: FieldCipher | None) -> None:
    global _cipher
    _cipher = cipher


def installed_cipher() -> FieldCipher:
    if _cipher is None:
        raise CipherMissing("encrypted fields need the phidesk.crypto app in INSTALLED_APPS")
    return _cipher


def key_owner(instance: models.Model) -> tuple[str, uuid.UUID]:
    """The record whose data key seals this row: (model label, uuid).

    A row is its own owner unless its model names a foreign key in `crypto_key_owner`
    (a message is sealed with its ticket's key, so shredding the ticket covers it).
    """
    via = getattr(type(instance), "crypto_key_owner", None)
    owner = getattr(instance, via) if via else instance
    return owner._meta.label_lower, row_identity(owner)


def row_identity(instance: models.Model) -> uuid.UUID:
    """The identity bound into every ciphertext of the row (known before insert)."""
    value = getattr(instance, "uuid", None)
    if not isinstance(value, uuid.UUID):
        raise TypeError(f"{type(instance).__name__} needs a uuid to hold encrypted fields")
    return value


class EncryptedTextField(models.TextField):
    """Text stored only as an AES-256-GCM envelope (or blank). See the module docstring."""

    description = "Encrypted text"
    phi_kind = "text"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        # Our defaults differ from Field's, so spell both out for migrations.
        kwargs["blank"] = self.blank
        kwargs["default"] = self.default if self.has_default() else ""
        return name, path, args, kwargs

    # --- Database -> Python --------------------------------------------------

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return value
        return Sealed(value)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, Sealed) or value is None:
            return value
        if isinstance(value, str) and value.startswith(ENVELOPE_PREFIX):
            return Sealed(value)  # deserialized fixtures carry ciphertext
        return value

    def value_to_string(self, obj: models.Model) -> str:
        value = self.value_from_object(obj)
        if isinstance(value, Sealed):
            return value.token  # fixtures and dumps carry ciphertext only
        if not value:
            return ""
        raise PlaintextRefused(f"{self.name} is not sealed yet: save the row before dumping it")

    # --- Python -> database --------------------------------------------------

    def get_prep_value(self, value: Any) -> Any:
        if value is None or value == "":
            return value
        if isinstance(value, Sealed):
            return value.token
        raise PlaintextRefused(
            f"{self.model.__name__}.{self.name} is encrypted: assign a str and save() "
            "the row, and search through its blind index, never by value"
        )

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = getattr(model_instance, self.attname)
        if isinstance(value, Sealed) and not value.legacy:
            return value
        plaintext = value.token if isinstance(value, Sealed) else value
        if plaintext is None or plaintext == "":
            self._set_blind_indexes(model_instance, "")
            return plaintext
        if not isinstance(plaintext, str):
            raise TypeError(f"{self.name} takes text, not {type(plaintext).__name__}")
        cipher = installed_cipher()
        self._set_blind_indexes(model_instance, plaintext)
        sealed = Sealed(cipher.seal(model_instance, self, plaintext))
        setattr(model_instance, self.attname, sealed)
        return sealed

    def _set_blind_indexes(self, instance: models.Model, plaintext: str) -> None:
        for index in blind_indexes_of(type(instance), self.name):
            setattr(instance, index.attname, index.compute(instance, plaintext))

    def formfield(self, **kwargs: Any) -> Any:
        return None  # never edited through a ModelForm: services take plain values

    def get_lookup(self, lookup_name: str) -> Any:
        # Pattern lookups (icontains, startswith...) skip get_prep_value and would send
        # the searched words to the database, and to its logs, for nothing.
        if lookup_name not in SEALED_LOOKUPS:
            raise PlaintextRefused(
                f"{self.name} is encrypted: {lookup_name!r} lookups cannot work on it; "
                "search through its blind index"
            )
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name: str) -> Any:
        return None


class PHIField(EncryptedTextField):
    """A patient-identifying value. Blank is allowed: patient context is optional."""

    description = "Protected Health Information"

    def __init__(self, *args: Any, kind: str = "text", **kwargs: Any) -> None:
        if kind not in PHI_KINDS:
            raise ValueError(f"unknown PHI kind {kind!r}")
        self.phi_kind = kind
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["kind"] = self.phi_kind
        return name, path, args, kwargs


class BlindIndexField(models.CharField):
    """Tenant-keyed HMAC of the normalized value of the encrypted field `of`.

    Equal values give equal indexes within one tenant, so an exact-match search works
    without decrypting; the index reveals nothing without the tenant's index key.
    Computed on save whichever of the two fields Django prepares first.
    """

    description = "Blind index (HMAC) of an encrypted field"

    def __init__(self, *args: Any, of: str, **kwargs: Any) -> None:
        self.of = of
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["of"] = self.of
        for key, default in (
            ("max_length", 64),
            ("blank", True),
            ("default", ""),
            ("editable", False),
        ):
            if kwargs.get(key, default) == default:
                kwargs.pop(key, None)
        return name, path, args, kwargs

    def source(self) -> EncryptedTextField:
        field = self.model._meta.get_field(self.of)
        if not isinstance(field, EncryptedTextField):
            raise TypeError(f"{self.name} indexes {self.of}, which is not an encrypted field")
        return field

    def compute(self, instance: models.Model, plaintext: str) -> str:
        if not plaintext:
            return ""
        return installed_cipher().blind_index(instance, self.source().phi_kind, plaintext)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        source = getattr(model_instance, self.source().attname)
        if isinstance(source, str):  # assigned since the last save: not sealed yet
            value = self.compute(model_instance, source)
            setattr(model_instance, self.attname, value)
            return value
        if isinstance(source, Sealed) and source.legacy:
            value = self.compute(model_instance, source.token)
            setattr(model_instance, self.attname, value)
            return value
        return getattr(model_instance, self.attname)


class IsEnvelope(models.Lookup):
    """`field__envelope=True`: the stored value is an envelope (False: written in clear
    or blank). Compares a fixed prefix, so no user text ever reaches the query."""

    lookup_name = "envelope"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, params = self.process_lhs(compiler, connection)
        op = "=" if self.rhs else "<>"
        sql = f"SUBSTR({lhs}, 1, {len(ENVELOPE_PREFIX)}) {op} %s"
        return sql, (*params, ENVELOPE_PREFIX)


EncryptedTextField.register_lookup(IsEnvelope)
SEALED_LOOKUPS = frozenset({"exact", "in", "isnull", "envelope"})


def blind_indexes_of(model: type[models.Model], field_name: str) -> list[BlindIndexField]:
    return [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, BlindIndexField) and f.of == field_name
    ]


def encrypted_fields(model: type[models.Model]) -> list[EncryptedTextField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
