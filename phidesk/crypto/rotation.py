"""Key rotation (rewrap), re-encryption (new data keys) and the key status report.

* `rotate_tenant` makes a new KEK version, retires the old one and rewraps every data
  key under the new one in small transactions. No data is re-encrypted and nothing
  stops: each data key names the KEK that wraps it, so readers follow along.
* `reencrypt` gives each record a new data key and re-seals its values (and seals
  values still in clear from before encryption). Resumable: see ReencryptJob.
* `key_status` gathers what `phidesk keys status` prints.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q

from phidesk.core.clock import now
from phidesk.core.fields import Sealed, encrypted_fields
from phidesk.crypto import cipher, keyring, registry
from phidesk.crypto.envelope import Envelope
from phidesk.crypto.errors import CryptoError, DecryptionFailed
from phidesk.crypto.models import DataKey, KeyPurpose, KeyState, ReencryptJob, TenantKey
from phidesk.crypto.providers import Health, get_provider
from phidesk.tenancy.models import Organization

Progress = Callable[[int, int], None]


# --- Rotation ------------------------------------------------------------------------


@dataclass(frozen=True)
class RotationResult:
    organization: str
    old_version: int | None
    new_version: int
    rewrapped: int
    seconds: float


def rotate_tenant(
    *,
    organization_id: int,
    new_version: bool = True,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> RotationResult:
    """New KEK version (unless `new_version=False`, which only finishes an interrupted
    rewrap), then rewrap every live data key of the tenant under it."""
    started = time.perf_counter()
    org = Organization.objects.get(pk=organization_id)
    old = keyring._active(organization_id, KeyPurpose.KEK)
    if new_version or old is None:
        kek = keyring.create_tenant_key(organization_id, KeyPurpose.KEK, retire_previous=True)
    else:
        kek = old
    kek_key = keyring.unwrap_tenant_key(kek)
    todo = (
        DataKey.unscoped.filter(organization_id=organization_id)
        .exclude(kek=kek)
        .exclude(state=KeyState.DESTROYED)
    )
    total = todo.count()
    done = 0
    while True:
        with transaction.atomic():
            batch = list(todo.select_for_update().select_related("kek").order_by("pk")[:batch_size])
            if not batch:
                break
            for dk in batch:
                keyring.rewrap_data_key(dk, kek, kek_key)
            DataKey.unscoped.bulk_update(batch, ["kek", "wrapped", "rewrapped_at"])
        done += len(batch)
        if progress:
            progress(done, total)
    return RotationResult(
        organization=org.slug,
        old_version=old.version if old and old.pk != kek.pk else None,
        new_version=kek.version,
        rewrapped=done,
        seconds=time.perf_counter() - started,
    )


# --- Re-encryption ---------------------------------------------------------------------


@dataclass
class ReencryptResult:
    records: int = 0
    legacy_rows: int = 0
    failed_rows: int = 0
    retired_keys_deleted: int = 0
    job_id: int | None = None
    failures: list[str] = field(default_factory=list)


def _pending(job: ReencryptJob) -> Any:
    qs = DataKey.unscoped.filter(state=KeyState.ACTIVE, created_at__lt=job.cutoff)
    if job.organization_id:
        qs = qs.filter(organization_id=job.organization_id)
    return qs


def _reseal_row(
    row: Any, fields: list[Any], key: keyring.OpenKey, result: ReencryptResult
) -> dict[str, Sealed]:
    updates: dict[str, Sealed] = {}
    for f in fields:
        if not getattr(row, f.attname):
            continue
        try:
            plain = cipher.open_value(row, f.name)
        except CryptoError as exc:
            result.failed_rows += 1
            result.failures.append(f"{row._meta.label_lower} {row.uuid} {f.name}: {exc}")
            continue
        updates[f.attname] = Sealed(cipher.seal_with(key, row, f.name, plain))
    return updates


def reencrypt_owner(
    organization_id: int, owner_type: str, owner_uuid: uuid.UUID, result: ReencryptResult
) -> None:
    """New data key for one record; re-seal every value sealed for it; retire the old."""
    with transaction.atomic():
        old = list(
            DataKey.unscoped.select_for_update().filter(
                organization_id=organization_id,
                owner_type=owner_type,
                owner_uuid=owner_uuid,
                state=KeyState.ACTIVE,
            )
        )
        key = keyring.new_data_key(organization_id, owner_type, owner_uuid)
        DataKey.unscoped.filter(pk__in=[dk.pk for dk in old]).update(
            state=KeyState.RETIRED, retired_at=now()
        )
        for model in registry.sealed_models():
            fields = encrypted_fields(model)
            rows = registry.rows_of_owner(model, organization_id, owner_type, owner_uuid)
            for row in rows:
                updates = _reseal_row(row, fields, key, result)
                if updates:
                    model._base_manager.filter(pk=row.pk).update(**updates)
        result.records += 1


def seal_legacy_rows(organization_id: int | None, result: ReencryptResult) -> None:
    """Seal values stored in clear before encryption was switched on.

    Goes through `save(update_fields=...)`, the fields' one write path, which seals the
    value and fills its blind indexes; no other column (not even updated_at) changes.
    """
    for model in registry.sealed_models():
        fields = encrypted_fields(model)
        qs = model._base_manager.filter(registry.legacy_filter(fields)).order_by("pk")
        if organization_id:
            qs = qs.filter(organization_id=organization_id)
        while batch := list(qs[:200]):
            for row in batch:
                legacy = [
                    f
                    for f in fields
                    if isinstance(getattr(row, f.attname), Sealed)
                    and getattr(row, f.attname).legacy
                ]
                names = [f.attname for f in legacy] + [
                    b.attname
                    for b in registry.blind_index_fields(model)
                    if b.of in {f.name for f in legacy}
                ]
                with transaction.atomic():
                    row.save(update_fields=names)
                result.legacy_rows += 1


def sweep_retired(
    organization_id: int | None, *, grace: dt.timedelta, result: ReencryptResult
) -> None:
    """Delete retired data keys that no stored value names any more.

    Waits `grace` after retirement so a writer that picked the old key just before it
    was retired has committed; a value still naming a retired key is re-sealed first.
    """
    qs = DataKey.unscoped.filter(state=KeyState.RETIRED, retired_at__lt=now() - grace)
    if organization_id:
        qs = qs.filter(organization_id=organization_id)
    for dk in qs.order_by("pk"):
        with transaction.atomic():
            current = keyring.current_data_key(dk.organization_id, dk.owner_type, dk.owner_uuid)
            for model in registry.sealed_models():
                fields = encrypted_fields(model)
                rows = registry.rows_of_owner(
                    model, dk.organization_id, dk.owner_type, dk.owner_uuid
                )
                for row in rows:
                    stale = []
                    for f in fields:
                        value = getattr(row, f.attname)
                        if isinstance(value, Sealed) and not value.legacy:
                            try:
                                if Envelope.from_text(value.token).key_id == dk.pk:
                                    stale.append(f)
                            except DecryptionFailed:
                                continue
                    if stale:
                        updates = _reseal_row(row, stale, current, result)
                        model._base_manager.filter(pk=row.pk).update(**updates)
            DataKey.unscoped.filter(pk=dk.pk).delete()
            result.retired_keys_deleted += 1


def reencrypt_job(organization_id: int | None) -> tuple[ReencryptJob, int]:
    """The unfinished job for this scope (resumed) or a new one, and the records left."""
    env = keyring.environment()
    job = (
        ReencryptJob.objects.filter(environment=env, finished_at__isnull=True)
        .filter(
            **(
                {"organization_id": organization_id}
                if organization_id
                else {"organization__isnull": True}
            )
        )
        .order_by("-started_at")
        .first()
    )
    if job is None:
        job = ReencryptJob.objects.create(organization_id=organization_id, environment=env)
    left = _pending(job).values("organization_id", "owner_type", "owner_uuid").distinct().count()
    return job, left


def reencrypt(
    *,
    organization_id: int | None = None,
    grace: dt.timedelta = dt.timedelta(minutes=5),
    progress: Progress | None = None,
    limit: int | None = None,
) -> ReencryptResult:
    """Re-encrypt every record under a new data key. Interrupt and re-run to resume;
    `limit` stops after that many records (the job stays open)."""
    job, total = reencrypt_job(organization_id)
    result = ReencryptResult(job_id=job.pk)
    seal_legacy_rows(organization_id, result)
    done = 0
    while limit is None or done < limit:
        owner = (
            _pending(job)
            .order_by("pk")
            .values_list("organization_id", "owner_type", "owner_uuid")
            .first()
        )
        if owner is None:
            break
        reencrypt_owner(owner[0], owner[1], owner[2], result)
        done += 1
        ReencryptJob.objects.filter(pk=job.pk).update(records_done=job.records_done + done)
        if progress:
            progress(done, total)
    if limit is None or not _pending(job).exists():
        sweep_retired(organization_id, grace=grace, result=result)
        ReencryptJob.objects.filter(pk=job.pk).update(finished_at=now())
    return result


# --- Status ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantKeyRow:
    organization: str
    purpose: str
    version: int
    state: str
    created_at: dt.datetime
    age_days: float
    data_keys: int
    provider_key_id: str


@dataclass(frozen=True)
class KeyStatus:
    environment: str
    provider: str
    provider_key_id: str
    health: Health
    fips: bool
    openssl: str
    cache_seconds: int
    max_age_days: int
    tenant_keys: list[TenantKeyRow]
    data_keys: dict[str, int]
    legacy_rows: int
    open_jobs: int
    warnings: list[str]


def fips_enabled() -> bool:
    """Whether cryptography's OpenSSL runs with a FIPS provider (docs/crypto.md)."""
    from cryptography.hazmat.backends.openssl.backend import backend

    return bool(getattr(backend, "_fips_enabled", False))


def openssl_version() -> str:
    from cryptography.hazmat.backends.openssl.backend import backend

    return str(backend.openssl_version_text())


def age_warnings(organization_id: int | None = None) -> list[str]:
    """Active KEKs older than PHIDESK_KEK_MAX_AGE_DAYS: time to `phidesk keys rotate`."""
    limit = now() - dt.timedelta(days=int(settings.PHIDESK_KEK_MAX_AGE_DAYS))
    qs = TenantKey.unscoped.filter(
        environment=keyring.environment(),
        purpose=KeyPurpose.KEK,
        state=KeyState.ACTIVE,
        created_at__lt=limit,
    ).select_related("organization")
    if organization_id:
        qs = qs.filter(organization_id=organization_id)
    return [
        f"tenant {tk.organization.slug}: KEK v{tk.version} is "
        f"{(now() - tk.created_at).days} days old (maximum {settings.PHIDESK_KEK_MAX_AGE_DAYS}); "
        f"run `phidesk keys rotate --tenant {tk.organization.slug}`"
        for tk in qs
    ]


def key_status(*, organization_id: int | None = None, check_health: bool = True) -> KeyStatus:
    provider = get_provider()
    health = provider.health() if check_health else Health(True, "not checked", 0.0)
    try:
        key_id = provider.key_id()
    except CryptoError as exc:
        key_id = f"unavailable ({type(exc).__name__})"
    env = keyring.environment()
    keys = (
        TenantKey.unscoped.filter(environment=env)
        .select_related("organization")
        .annotate(n=Count("data_keys", filter=~Q(data_keys__state=KeyState.DESTROYED)))
        .order_by("organization__slug", "purpose", "version")
    )
    dks = DataKey.unscoped.all()
    if organization_id:
        keys = keys.filter(organization_id=organization_id)
        dks = dks.filter(organization_id=organization_id)
    stamp = now()
    rows = [
        TenantKeyRow(
            organization=tk.organization.slug,
            purpose=tk.purpose,
            version=tk.version,
            state=tk.state,
            created_at=tk.created_at,
            age_days=(stamp - tk.created_at).total_seconds() / 86400,
            data_keys=tk.n,
            provider_key_id=tk.provider_key_id,
        )
        for tk in keys
    ]
    counts = dict.fromkeys(KeyState.values, 0)
    for row in dks.values("state").annotate(n=Count("id")):
        counts[row["state"]] = row["n"]
    legacy = 0
    for model in registry.sealed_models():
        qs = model._base_manager.filter(registry.legacy_filter(encrypted_fields(model)))
        if organization_id:
            qs = qs.filter(organization_id=organization_id)
        legacy += qs.count()
    warnings = age_warnings(organization_id)
    if legacy:
        warnings.append(f"{legacy} rows hold values written in clear: run `phidesk keys reencrypt`")
    if not health.ok:
        warnings.append(f"key provider unhealthy: {health.detail}")
    if settings.IS_PRODUCTION and provider.name == "local":
        warnings.append("production uses the local key file; prefer an HSM or KMS")
    return KeyStatus(
        environment=env,
        provider=provider.name,
        provider_key_id=key_id,
        health=health,
        fips=fips_enabled(),
        openssl=openssl_version(),
        cache_seconds=int(settings.PHIDESK_KEY_CACHE_SECONDS),
        max_age_days=int(settings.PHIDESK_KEK_MAX_AGE_DAYS),
        tenant_keys=rows,
        data_keys=counts,
        legacy_rows=legacy,
        open_jobs=ReencryptJob.objects.filter(finished_at__isnull=True, environment=env).count(),
        warnings=warnings,
    )


def iter_tenants(slug: str | None) -> Iterator[Organization]:
    qs = Organization.objects.order_by("slug")
    if slug:
        qs = qs.filter(slug=slug)
        if not qs.exists():
            raise Organization.DoesNotExist(f"no tenant {slug!r}")
    yield from qs
