"""The key hierarchy as rows: tenant keys wrapped by the provider, data keys wrapped by them.

    provider root key (file, HSM, KMS)
      └─ TenantKey  per tenant, environment and purpose, versioned ("kek" or "index")
           └─ DataKey  per record (a ticket and everything sealed with it)
                └─ field ciphertexts (envelopes naming the DataKey id)

Only wrapped key material is ever stored. Destroying a DataKey (crypto-shredding)
blanks its wrapped bytes and keeps the row as a tombstone, so readers can say
"destroyed" instead of failing.
"""

from __future__ import annotations

import uuid

from django.db import models

from phidesk.core.clock import now
from phidesk.core.fields import EncryptedTextField
from phidesk.core.models import TenantOwned


class KeyPurpose(models.TextChoices):
    KEK = "kek", "Key-encryption key"
    INDEX = "index", "Blind-index key"


class KeyState(models.TextChoices):
    ACTIVE = "active"
    RETIRED = "retired"
    DESTROYED = "destroyed"


class TenantKey(TenantOwned):
    """A tenant's key-encryption (or blind-index) key, wrapped by the root key provider."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.PROTECT)
    environment = models.CharField(max_length=16)
    purpose = models.CharField(max_length=8, choices=KeyPurpose.choices)
    version = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=KeyState.choices, default=KeyState.ACTIVE)
    provider = models.CharField(max_length=16)
    provider_key_id = models.CharField(max_length=300)
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(default=now)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "environment", "purpose", "version"],
                name="uniq_tenant_key_version",
            )
        ]
        indexes = [models.Index(fields=["organization", "environment", "purpose", "state"])]

    def __str__(self) -> str:
        return f"{self.purpose} v{self.version} ({self.environment}, {self.state})"


class DataKey(TenantOwned):
    """The data key of one record (e.g. a ticket): what `shred` destroys."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.PROTECT)
    owner_type = models.CharField(max_length=100)
    owner_uuid = models.UUIDField()
    generation = models.PositiveIntegerField(default=1)
    kek = models.ForeignKey(TenantKey, on_delete=models.PROTECT, related_name="data_keys")
    state = models.CharField(max_length=16, choices=KeyState.choices, default=KeyState.ACTIVE)
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(default=now)
    rewrapped_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "owner_type", "owner_uuid", "generation"],
                name="uniq_data_key_generation",
            )
        ]
        indexes = [models.Index(fields=["organization", "owner_type", "owner_uuid", "state"])]

    def __str__(self) -> str:
        return f"data key {self.pk} of {self.owner_type} ({self.state})"


class SecretKind(models.TextChoices):
    WEBHOOK = "webhook", "Webhook signing secret"
    API_CREDENTIAL = "api_credential", "API credential"
    SSO_CLIENT = "sso_client", "SSO client secret"


class IntegrationSecret(TenantOwned):
    """A credential PHIdesk presents or verifies (webhook, API, SSO), sealed at rest."""

    organization = models.ForeignKey("tenancy.Organization", on_delete=models.PROTECT)
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.SlugField(max_length=100)
    kind = models.CharField(max_length=32, choices=SecretKind.choices)
    value = EncryptedTextField()
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=now)
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="uniq_secret_name")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"  # never the value


class ReencryptJob(models.Model):
    """A `phidesk keys reencrypt` run. Re-running continues the unfinished job: data
    keys created before `cutoff` are the work left, and each finished record gets a
    key created after it, so progress survives interruption without a cursor."""

    organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.PROTECT, null=True, blank=True
    )
    environment = models.CharField(max_length=16)
    cutoff = models.DateTimeField(default=now)
    started_at = models.DateTimeField(default=now)
    finished_at = models.DateTimeField(null=True, blank=True)
    records_done = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"reencrypt since {self.cutoff:%Y-%m-%d %H:%M}"
