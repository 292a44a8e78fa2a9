"""Rotation under live data: rewrapping moves data keys to a new KEK without touching a
single ciphertext; re-encryption re-seals everything under new data keys, resumably."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db import connection

from phidesk.conftest import PATIENT, Tenant
from phidesk.core.tenant_context import tenant_context
from phidesk.crypto import keyring, rotation
from phidesk.crypto.models import DataKey, KeyPurpose, KeyState, ReencryptJob, TenantKey
from phidesk.crypto.services import reveal
from phidesk.crypto.tests.conftest import ticket_of
from phidesk.tickets import selectors, services


def snapshot() -> dict[str, list[tuple[object, ...]]]:
    with connection.cursor() as cur:
        cur.execute("SELECT id, patient_mrn, patient_name, patient_dob FROM tickets_ticket")
        tickets = sorted(cur.fetchall())
        cur.execute("SELECT id, body FROM tickets_message")
        messages = sorted(cur.fetchall())
    return {"tickets": tickets, "messages": messages}


def live_data(tenant: Tenant, n: int = 4) -> list[str]:
    keys = []
    for i in range(n):
        key = tenant.file(queue="restricted", **PATIENT)
        services.message_create(actor=tenant.actor("requester"), key=key, body=f"note {i}")
        keys.append(key)
    return keys


def kek_versions(tenant: Tenant) -> dict[int, str]:
    return dict(
        TenantKey.unscoped.filter(organization=tenant.org, purpose=KeyPurpose.KEK).values_list(
            "version", "state"
        )
    )


def test_rotate_rewraps_every_data_key_and_changes_no_ciphertext(
    hospital: Tenant, other_hospital: Tenant
):
    keys = live_data(hospital)
    live_data(other_hospital, 2)
    before = snapshot()
    result = rotation.rotate_tenant(organization_id=hospital.org.pk, batch_size=3)
    assert (result.old_version, result.new_version, result.rewrapped) == (1, 2, 4)
    assert kek_versions(hospital) == {1: KeyState.RETIRED, 2: KeyState.ACTIVE}
    assert kek_versions(other_hospital) == {1: KeyState.ACTIVE}
    assert set(
        DataKey.unscoped.filter(organization=hospital.org).values_list("kek__version", flat=True)
    ) == {2}
    assert snapshot() == before  # not one ciphertext re-encrypted
    keyring.clear_cache()
    agent = hospital.actor("phi_agent")
    for key in keys:
        detail = services.ticket_reveal_phi(actor=agent, key=key, reason="after the rotation")
        assert detail.patient.mrn == "00123456" and detail.messages[0].body.startswith("note")
    # New data keys are wrapped by the new version.
    fresh = ticket_of(hospital, hospital.file(queue="restricted", **PATIENT))
    assert DataKey.unscoped.get(owner_uuid=fresh.uuid).kek.version == 2


def test_reads_keep_working_in_the_middle_of_a_rotation(hospital: Tenant):
    keys = live_data(hospital, 3)
    calls: list[int] = []

    def halfway(done: int, total: int) -> None:
        calls.append(done)
        if done == 1:  # some data keys on v2, others still on v1
            agent = hospital.actor("phi_agent")
            for key in keys:
                assert selectors.ticket_get(actor=agent, key=key).patient.mrn == "***3456"

    rotation.rotate_tenant(organization_id=hospital.org.pk, batch_size=1, progress=halfway)
    assert calls == [1, 2, 3]


def test_rewrap_only_finishes_an_interrupted_rotation(hospital: Tenant):
    live_data(hospital, 3)
    new = keyring.create_tenant_key(hospital.org.pk, KeyPurpose.KEK, retire_previous=True)
    assert DataKey.unscoped.exclude(kek=new).count() == 3  # "interrupted" before rewrapping
    result = rotation.rotate_tenant(organization_id=hospital.org.pk, new_version=False)
    assert result.new_version == new.version and result.rewrapped == 3
    assert kek_versions(hospital) == {1: KeyState.RETIRED, 2: KeyState.ACTIVE}


def test_reencrypt_reseals_everything_under_new_data_keys(hospital: Tenant):
    keys = live_data(hospital, 3)
    old_keys = set(DataKey.unscoped.values_list("pk", flat=True))
    before = snapshot()
    result = rotation.reencrypt(grace=dt.timedelta(0))
    assert result.records == 3 and result.failed_rows == 0
    assert result.retired_keys_deleted == 3
    after = snapshot()
    for old, new in zip(before["tickets"], after["tickets"], strict=True):
        assert old[0] == new[0] and all(a != b for a, b in zip(old[1:], new[1:], strict=True))
    assert not old_keys & set(DataKey.unscoped.values_list("pk", flat=True))
    agent = hospital.actor("phi_agent")
    for key in keys:
        detail = services.ticket_reveal_phi(actor=agent, key=key, reason="after re-encryption")
        assert detail.patient.name == "Maria Jones"


def test_reencrypt_resumes_where_it_stopped(hospital: Tenant):
    live_data(hospital, 5)
    first = rotation.reencrypt(limit=2, grace=dt.timedelta(0))
    assert first.records == 2
    job = ReencryptJob.objects.get()
    assert job.finished_at is None and job.records_done == 2
    _, left = rotation.reencrypt_job(None)
    assert left == 3
    second = rotation.reencrypt(grace=dt.timedelta(0))
    assert second.records == 3 and second.job_id == job.pk
    job.refresh_from_db()
    assert job.finished_at is not None
    assert DataKey.unscoped.filter(state=KeyState.RETIRED).count() == 0
    # A new run starts a new job with nothing to do before its cutoff... except new keys.
    assert rotation.reencrypt(grace=dt.timedelta(0)).records == 5


def test_retired_keys_are_kept_during_the_grace_period(hospital: Tenant):
    live_data(hospital, 2)
    rotation.reencrypt(grace=dt.timedelta(minutes=5))
    assert DataKey.unscoped.filter(state=KeyState.RETIRED).count() == 2
    rotation.sweep_retired(None, grace=dt.timedelta(0), result=rotation.ReencryptResult())
    assert DataKey.unscoped.filter(state=KeyState.RETIRED).count() == 0


def test_a_straggler_sealed_with_a_retired_key_is_resealed_before_the_key_goes(
    hospital: Tenant,
):
    key = live_data(hospital, 1)[0]
    ticket = ticket_of(hospital, key)
    old = DataKey.unscoped.get(owner_uuid=ticket.uuid)
    rotation.reencrypt(grace=dt.timedelta(minutes=5))
    # A writer that picked the old key just before it was retired:
    with tenant_context(hospital.org.pk):
        from phidesk.crypto import cipher

        ticket.refresh_from_db()
        stale = cipher.seal_with(
            keyring.OpenKey(old.pk, keyring.unwrap_data_key(old)), ticket, "patient_name", "Late"
        )
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE tickets_ticket SET patient_name = %s WHERE id = %s", [stale, ticket.pk]
            )
    result = rotation.ReencryptResult()
    rotation.sweep_retired(None, grace=dt.timedelta(0), result=result)
    assert result.retired_keys_deleted == 1
    assert reveal(ticket_of(hospital, key), ["patient_name"]) == {"patient_name": "Late"}


def test_keys_command_rotates_reencrypts_and_reports(hospital: Tenant):
    live_data(hospital, 2)
    out = io.StringIO()
    call_command("keys", "rotate", "--tenant", hospital.org.slug, stdout=out)
    call_command("keys", "reencrypt", "--grace-seconds", "0", stdout=out)
    call_command("keys", "status", stdout=out)
    assert kek_versions(hospital) == {1: KeyState.RETIRED, 2: KeyState.ACTIVE}
    assert DataKey.unscoped.filter(state=KeyState.RETIRED).count() == 0


def test_status_reports_provider_health_fips_versions_and_age_warnings(hospital: Tenant, settings):
    live_data(hospital, 1)
    TenantKey.unscoped.filter(purpose=KeyPurpose.KEK).update(
        created_at=keyring.now() - dt.timedelta(days=400)
    )
    status = rotation.key_status()
    assert status.provider == "local" and status.health.ok
    assert status.provider_key_id.startswith("local:")
    assert isinstance(status.fips, bool) and status.openssl.startswith("OpenSSL")
    kek = next(r for r in status.tenant_keys if r.purpose == "kek")
    assert kek.version == 1 and kek.data_keys == 1 and kek.age_days > 399
    assert any("keys rotate --tenant stmarys" in w for w in status.warnings)
    assert status.data_keys[KeyState.ACTIVE] == 1 and status.legacy_rows == 0


def test_unknown_tenant_is_a_clear_command_error(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no tenant"):
        call_command("keys", "rotate", "--tenant", "nowhere", stdout=io.StringIO())
