"""Integration secrets are sealed like PHI and never print themselves; the key cache is
bounded in size and in time (at most five minutes)."""

from __future__ import annotations

import logging

import pytest
from django.db import connection

from phidesk.conftest import Tenant
from phidesk.crypto import keyring
from phidesk.crypto.keyring import KeyCache
from phidesk.crypto.models import IntegrationSecret
from phidesk.crypto.services import (
    is_shredded,
    secret_delete,
    secret_get,
    secret_list,
    secret_put,
)

WEBHOOK = "whsec_9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def test_secret_round_trip_is_sealed_and_versioned(hospital: Tenant, caplog):
    caplog.set_level(logging.DEBUG)
    org = hospital.org.pk
    info = secret_put(organization_id=org, name="chat-webhook", kind="webhook", value=WEBHOOK)
    assert info.version == 1
    with connection.cursor() as cur:
        cur.execute("SELECT value FROM crypto_integrationsecret")
        (stored,) = cur.fetchone()
    assert WEBHOOK not in stored and stored.startswith("phe1:")
    value = secret_get(organization_id=org, name="chat-webhook")
    assert value.reveal() == WEBHOOK
    assert WEBHOOK not in f"{value} {value!r} {secret_list(organization_id=org)}"
    rotated = secret_put(organization_id=org, name="chat-webhook", kind="webhook", value="new")
    assert rotated.version == 2 and rotated.rotated_at is not None
    assert secret_get(organization_id=org, name="chat-webhook").reveal() == "new"
    assert WEBHOOK not in caplog.text


def test_secrets_are_per_tenant_and_deleting_shreds(hospital: Tenant, other_hospital: Tenant):
    secret_put(organization_id=hospital.org.pk, name="fhir", kind="api_credential", value="a")
    with pytest.raises(KeyError):
        secret_get(organization_id=other_hospital.org.pk, name="fhir")
    row = IntegrationSecret.unscoped.get(name="fhir")
    certificate = secret_delete(organization_id=hospital.org.pk, name="fhir")
    assert certificate.data_key_ids
    assert is_shredded(record=row)
    assert not IntegrationSecret.unscoped.exists()


def test_secret_input_is_checked(hospital: Tenant):
    with pytest.raises(ValueError, match="kind"):
        secret_put(organization_id=hospital.org.pk, name="x", kind="password", value="a")
    with pytest.raises(ValueError, match="1 to"):
        secret_put(organization_id=hospital.org.pk, name="x", kind="webhook", value="")


def test_cache_entries_expire(monkeypatch, settings):
    settings.PHIDESK_KEY_CACHE_SECONDS = 300
    clock = [1000.0]
    monkeypatch.setattr(keyring.time, "monotonic", lambda: clock[0])
    cache = KeyCache()
    cache.put(("k",), b"x" * 32)
    clock[0] += 299
    assert cache.get(("k",)) == b"x" * 32
    clock[0] += 2
    assert cache.get(("k",)) is None


def test_cache_is_bounded_and_can_be_off(settings):
    cache = KeyCache(max_entries=3)
    for i in range(10):
        cache.put((i,), bytes(32))
    assert len(cache) == 3 and cache.get((0,)) is None and cache.get((9,)) is not None
    settings.PHIDESK_KEY_CACHE_SECONDS = 0
    off = KeyCache()
    off.put(("k",), bytes(32))
    assert off.get(("k",)) is None
