"""Tenant keys and data keys: create, unwrap, rewrap.

Only tenant keys are cached unwrapped, in this process, for at most
PHIDESK_KEY_CACHE_SECONDS (≤ 300 s) and at most `CACHE_ENTRIES` keys: the provider
(HSM, KMS) is called at most once per tenant key per cache lifetime. Data keys are
unwrapped from their row on every use (one AES-GCM operation), so a shredded data key
stops working in every process at once, not when a cache expires.

Cache entries are keyed by the digest of the wrapped bytes, not only the row id, so a
key created in a transaction that rolled back can never be mistaken for a later one.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction

from phidesk.core.clock import now
from phidesk.crypto.envelope import associated_data, new_key, open_bytes, seal_bytes
from phidesk.crypto.errors import DecryptionFailed, KeyDestroyed, KeyProviderError
from phidesk.crypto.models import DataKey, KeyPurpose, KeyState, TenantKey
from phidesk.crypto.providers import get_provider

CACHE_ENTRIES = 512


def environment() -> str:
    return str(settings.PHIDESK_ENV)


class KeyCache:
    """A small TTL + LRU map of unwrapped tenant keys. Thread-safe; never persisted."""

    def __init__(self, max_entries: int = CACHE_ENTRIES) -> None:
        self._max = max_entries
        self._items: OrderedDict[tuple[object, ...], tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.provider_calls = 0  # for tests and `keys status`

    def get(self, key: tuple[object, ...]) -> bytes | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            expires, value = item
            if expires <= time.monotonic():
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return value

    def put(self, key: tuple[object, ...], value: bytes) -> None:
        ttl = min(int(settings.PHIDESK_KEY_CACHE_SECONDS), 300)
        if ttl <= 0:
            return
        with self._lock:
            self._items[key] = (time.monotonic() + ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self._max:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


cache = KeyCache()
_unwrap_lock = threading.Lock()


def clear_cache() -> None:
    cache.clear()


# --- Tenant keys ----------------------------------------------------------------


def wrap_context(tk: TenantKey) -> dict[str, str]:
    """What the provider authenticates with a wrapped tenant key."""
    return {
        "app": "phidesk",
        "environment": tk.environment,
        "tenant": str(tk.organization_id),
        "purpose": tk.purpose,
        "version": str(tk.version),
    }


def _cache_key(tk: TenantKey) -> tuple[object, ...]:
    digest = hashlib.sha256(bytes(tk.wrapped)).digest()
    return ("tenant-key", tk.pk, tk.provider_key_id, digest)


def unwrap_tenant_key(tk: TenantKey) -> bytes:
    env = environment()
    if tk.environment != env:
        raise DecryptionFailed(
            f"{tk.purpose} v{tk.version} belongs to environment {tk.environment!r}, not {env!r}"
        )
    if tk.state == KeyState.DESTROYED:
        raise KeyDestroyed(f"{tk.purpose} v{tk.version} was destroyed")
    ck = _cache_key(tk)
    hit = cache.get(ck)
    if hit is not None:
        return hit
    with _unwrap_lock:  # one provider call per key, however many threads miss at once
        hit = cache.get(ck)
        if hit is not None:
            return hit
        provider = get_provider()
        if tk.provider != provider.name or tk.provider_key_id != provider.key_id():
            raise KeyProviderError(
                f"{tk.purpose} v{tk.version} of tenant {tk.organization_id} is wrapped by "
                f"{tk.provider_key_id}, but the configured root key is {provider.key_id()}"
            )
        cache.provider_calls += 1
        key = provider.unwrap(bytes(tk.wrapped), context=wrap_context(tk))
        cache.put(ck, key)
        return key


def _active(organization_id: int, purpose: str) -> TenantKey | None:
    return (
        TenantKey.unscoped.filter(
            organization_id=organization_id,
            environment=environment(),
            purpose=purpose,
            state=KeyState.ACTIVE,
        )
        .order_by("-version")
        .first()
    )


def create_tenant_key(
    organization_id: int, purpose: str = KeyPurpose.KEK, *, retire_previous: bool = False
) -> TenantKey:
    """A new version of the tenant's key, wrapped by the provider (rotation, first use)."""
    provider = get_provider()
    env = environment()
    with transaction.atomic():
        last = (
            TenantKey.unscoped.select_for_update()
            .filter(organization_id=organization_id, environment=env, purpose=purpose)
            .order_by("-version")
            .first()
        )
        raw = new_key()
        tk = TenantKey(
            organization_id=organization_id,
            environment=env,
            purpose=purpose,
            version=(last.version + 1) if last else 1,
            provider=provider.name,
            provider_key_id=provider.key_id(),
        )
        tk.wrapped = provider.wrap(raw, context=wrap_context(tk))
        tk.save(force_insert=True)
        if retire_previous:
            TenantKey.unscoped.filter(
                organization_id=organization_id,
                environment=env,
                purpose=purpose,
                state=KeyState.ACTIVE,
            ).exclude(pk=tk.pk).update(state=KeyState.RETIRED, retired_at=now())
    cache.put(_cache_key(tk), raw)
    return tk


def active_tenant_key(organization_id: int, purpose: str = KeyPurpose.KEK) -> TenantKey:
    """The tenant's current key for `purpose`, created on first use."""
    tk = _active(organization_id, purpose)
    if tk is not None:
        return tk
    try:
        return create_tenant_key(organization_id, purpose)
    except IntegrityError:  # another process created version 1 first
        tk = _active(organization_id, purpose)
        if tk is None:
            raise
        return tk


# --- Data keys --------------------------------------------------------------------


@dataclass(frozen=True)
class OpenKey:
    """An unwrapped data key and its id (the id goes into every envelope it seals)."""

    id: int
    key: bytes = field(repr=False)


def _data_key_aad(dk: DataKey, kek_version: int) -> bytes:
    return associated_data(
        "phidesk.datakey",
        (
            environment(),
            dk.organization_id,
            dk.owner_type,
            str(dk.owner_uuid),
            dk.generation,
            kek_version,
        ),
    )


def unwrap_data_key(dk: DataKey) -> bytes:
    if dk.state == KeyState.DESTROYED or not dk.wrapped:
        raise KeyDestroyed(f"data key {dk.pk} was destroyed")
    kek = dk.kek
    return open_bytes(unwrap_tenant_key(kek), bytes(dk.wrapped), _data_key_aad(dk, kek.version))


def new_data_key(organization_id: int, owner_type: str, owner_uuid: uuid.UUID) -> OpenKey:
    """A fresh data key for the record, one generation above any it had."""
    kek = active_tenant_key(organization_id)
    kek_key = unwrap_tenant_key(kek)
    with transaction.atomic():
        last = (
            DataKey.unscoped.filter(
                organization_id=organization_id, owner_type=owner_type, owner_uuid=owner_uuid
            )
            .order_by("-generation")
            .values_list("generation", flat=True)
            .first()
        )
        raw = new_key()
        dk = DataKey(
            organization_id=organization_id,
            owner_type=owner_type,
            owner_uuid=owner_uuid,
            generation=(last or 0) + 1,
            kek=kek,
        )
        dk.wrapped = seal_bytes(kek_key, raw, _data_key_aad(dk, kek.version))
        dk.save(force_insert=True)
    return OpenKey(dk.pk, raw)


def _active_data_key(
    organization_id: int, owner_type: str, owner_uuid: uuid.UUID
) -> DataKey | None:
    return (
        DataKey.unscoped.select_related("kek")
        .filter(
            organization_id=organization_id,
            owner_type=owner_type,
            owner_uuid=owner_uuid,
            state=KeyState.ACTIVE,
        )
        .order_by("-generation")
        .first()
    )


def current_data_key(organization_id: int, owner_type: str, owner_uuid: uuid.UUID) -> OpenKey:
    """The record's active data key, created on its first sealed value."""
    dk = _active_data_key(organization_id, owner_type, owner_uuid)
    if dk is not None:
        return OpenKey(dk.pk, unwrap_data_key(dk))
    try:
        return new_data_key(organization_id, owner_type, owner_uuid)
    except IntegrityError:  # a concurrent writer created it: use theirs
        dk = _active_data_key(organization_id, owner_type, owner_uuid)
        if dk is None:
            raise
        return OpenKey(dk.pk, unwrap_data_key(dk))


def open_data_keys(
    organization_id: int, ids: Iterable[int]
) -> dict[int, bytes | KeyDestroyed | DecryptionFailed]:
    """Unwrap several data keys with one query. Failures come back as values, per key."""
    wanted = set(ids)
    rows = DataKey.unscoped.select_related("kek").filter(
        organization_id=organization_id, pk__in=wanted
    )
    out: dict[int, bytes | KeyDestroyed | DecryptionFailed] = {}
    for dk in rows:
        try:
            out[dk.pk] = unwrap_data_key(dk)
        except (KeyDestroyed, DecryptionFailed) as exc:
            out[dk.pk] = exc
    for missing in wanted - out.keys():
        out[missing] = DecryptionFailed(f"no data key {missing} in this tenant")
    return out


def rewrap_data_key(dk: DataKey, kek: TenantKey, kek_key: bytes) -> None:
    """Wrap the same data key under another tenant key version (no data re-encrypted)."""
    raw = unwrap_data_key(dk)
    dk.wrapped = seal_bytes(kek_key, raw, _data_key_aad(dk, kek.version))
    dk.kek = kek
    dk.rewrapped_at = now()
