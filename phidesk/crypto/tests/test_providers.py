"""Key providers for real: the local key file, a SoftHSM2 token over PKCS#11, and AWS KMS
served by moto on loopback. Each wraps with its context authenticated, and the whole
ticket flow (seal, reveal, rotate, shred) runs on each."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from phidesk.conftest import PATIENT, Tenant
from phidesk.crypto import keyring, rotation
from phidesk.crypto.errors import DecryptionFailed, InsecureKeyFile, KeyProviderError
from phidesk.crypto.models import TenantKey
from phidesk.crypto.providers import KeyProvider, build_provider, set_provider
from phidesk.crypto.providers.aws_kms import AwsKmsKeyProvider
from phidesk.crypto.providers.local import LocalKeyProvider
from phidesk.crypto.providers.pkcs11 import Pkcs11KeyProvider
from phidesk.crypto.tests.conftest import SOFTHSM_LIB, Kms, Token
from phidesk.tickets import services

CONTEXT = {"app": "phidesk", "environment": "test", "tenant": "1", "purpose": "kek", "version": "1"}


def check_wrap_contract(provider: KeyProvider) -> None:
    key = os.urandom(32)
    wrapped = provider.wrap(key, context=CONTEXT)
    assert key not in wrapped
    assert provider.unwrap(wrapped, context=CONTEXT) == key
    for field, value in (("tenant", "2"), ("environment", "production"), ("version", "2")):
        with pytest.raises(DecryptionFailed):
            provider.unwrap(wrapped, context={**CONTEXT, field: value})
    tampered = bytearray(wrapped)
    tampered[len(tampered) // 2] ^= 0x01
    with pytest.raises((DecryptionFailed, KeyProviderError)):
        provider.unwrap(bytes(tampered), context=CONTEXT)
    health = provider.health()
    assert health.ok, health.detail
    assert provider.key_id() == provider.key_id()


def check_ticket_flow(tenant: Tenant, provider: KeyProvider) -> None:
    """Seal, reveal, rotate and shred with `provider` as the root of the hierarchy."""
    set_provider(provider)
    keyring.clear_cache()
    key = tenant.file(queue="restricted", **PATIENT)
    assert TenantKey.unscoped.filter(provider=provider.name).count() == 2  # kek + index
    keyring.clear_cache()  # force an unwrap through the provider
    agent = tenant.actor("phi_agent")
    detail = services.ticket_reveal_phi(actor=agent, key=key, reason="provider round trip")
    assert detail.patient.mrn == "00123456"
    assert rotation.rotate_tenant(organization_id=tenant.org.pk).rewrapped == 1
    keyring.clear_cache()
    detail = services.ticket_reveal_phi(actor=agent, key=key, reason="after provider rotation")
    assert detail.patient.name == "Maria Jones"
    services.ticket_shred(actor=tenant.actor("privacy"), key=key, reason="provider shred test")
    detail = services.ticket_reveal_phi(actor=agent, key=key, reason="after provider shred")
    assert detail.patient.mrn == "[destroyed]"


# --- local ------------------------------------------------------------------------------


def test_local_key_file_is_created_owner_only(tmp_path: Path):
    provider = LocalKeyProvider(tmp_path / "keys" / "root.key")
    check_wrap_contract(provider)
    info = (tmp_path / "keys" / "root.key").stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    # Another process (a new provider) reads the same key.
    assert LocalKeyProvider(tmp_path / "keys" / "root.key").key_id() == provider.key_id()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666])
def test_local_key_file_with_wider_permissions_is_refused(tmp_path: Path, mode: int):
    path = tmp_path / "root.key"
    LocalKeyProvider(path).key_id()
    path.chmod(mode)
    with pytest.raises(InsecureKeyFile, match="chmod 600"):
        LocalKeyProvider(path).key_id()
    assert not LocalKeyProvider(path).health().ok


def test_local_key_file_that_is_not_a_key_is_refused(tmp_path: Path):
    path = tmp_path / "root.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"not a key\n")
    os.close(fd)
    with pytest.raises(KeyProviderError, match="not a PHIdesk key file"):
        LocalKeyProvider(path).key_id()


def test_a_different_root_key_is_named_not_guessed(hospital: Tenant, tmp_path: Path):
    hospital.file(queue="restricted", **PATIENT)
    set_provider(LocalKeyProvider(tmp_path / "other.key"))
    keyring.clear_cache()
    tk = TenantKey.unscoped.get(organization=hospital.org, purpose="kek")
    with pytest.raises(KeyProviderError, match="configured root key"):
        keyring.unwrap_tenant_key(tk)


def test_ticket_flow_on_the_local_provider(hospital: Tenant, tmp_path: Path):
    check_ticket_flow(hospital, LocalKeyProvider(tmp_path / "flow.key"))


def test_settings_choose_the_provider(settings, tmp_path: Path):
    settings.PHIDESK_LOCAL_KEY_FILE = tmp_path / "chosen.key"
    assert isinstance(build_provider("local"), LocalKeyProvider)
    with pytest.raises(KeyProviderError, match="unknown key provider"):
        build_provider("vault")


# --- PKCS#11 (SoftHSM2) ---------------------------------------------------------------------


@pytest.fixture
def hsm(softhsm_token: Token) -> Iterator[Pkcs11KeyProvider]:
    provider = Pkcs11KeyProvider(
        library=SOFTHSM_LIB, token_label=softhsm_token.label, pin=softhsm_token.pin
    )
    yield provider
    provider.close()


def test_pkcs11_wraps_inside_the_token(hsm: Pkcs11KeyProvider, softhsm_token: Token):
    check_wrap_contract(hsm)
    assert hsm.key_id().startswith("pkcs11:phidesk-test/")
    assert softhsm_token.pin not in repr(hsm)


def test_pkcs11_root_key_never_leaves_the_token(hsm: Pkcs11KeyProvider):
    import pkcs11
    from pkcs11 import Attribute

    hsm.key_id()
    key = hsm._key
    assert key[Attribute.SENSITIVE] is True
    assert key[Attribute.EXTRACTABLE] is False
    assert key[Attribute.NEVER_EXTRACTABLE] is True
    with pytest.raises(pkcs11.exceptions.AttributeSensitive):
        key[Attribute.VALUE]


def test_pkcs11_wrong_pin_is_a_clear_error(softhsm_token: Token):
    provider = Pkcs11KeyProvider(
        library=SOFTHSM_LIB, token_label=softhsm_token.label, pin="wrong-pin"
    )
    with pytest.raises(KeyProviderError, match="cannot open PKCS#11 token") as error:
        provider.key_id()
    assert "wrong-pin" not in str(error.value)
    assert not provider.health().ok


def test_ticket_flow_on_softhsm(hospital: Tenant, hsm: Pkcs11KeyProvider):
    check_ticket_flow(hospital, hsm)


# --- AWS KMS (moto server on loopback) ---------------------------------------------------


@pytest.fixture
def kms(moto_kms: Kms) -> AwsKmsKeyProvider:
    return AwsKmsKeyProvider(
        key_id=moto_kms.key_id, endpoint_url=moto_kms.endpoint, region="us-east-1"
    )


def test_kms_wraps_with_an_encryption_context(kms: AwsKmsKeyProvider):
    check_wrap_contract(kms)
    assert kms.key_id().startswith("aws-kms:arn:aws:kms:us-east-1:")


def test_kms_unknown_key_is_a_clear_error(moto_kms: Kms):
    provider = AwsKmsKeyProvider(
        key_id="alias/does-not-exist", endpoint_url=moto_kms.endpoint, region="us-east-1"
    )
    with pytest.raises(KeyProviderError, match="KMS"):
        provider.key_id()


def test_ticket_flow_on_kms(hospital: Tenant, kms: AwsKmsKeyProvider):
    check_ticket_flow(hospital, kms)


def test_provider_is_called_once_per_tenant_key_per_cache_lifetime(
    hospital: Tenant, kms: AwsKmsKeyProvider
):
    calls: list[str] = []

    class Counting(AwsKmsKeyProvider):
        def unwrap(self, wrapped: bytes, *, context: dict[str, str]) -> bytes:  # type: ignore[override]
            calls.append(context["purpose"])
            return super().unwrap(wrapped, context=context)

    set_provider(
        Counting(key_id=kms._configured_key, endpoint_url=kms.endpoint_url, region="us-east-1")
    )
    keys = [hospital.file(queue="restricted", **PATIENT) for _ in range(3)]
    keyring.clear_cache()
    agent = hospital.actor("phi_agent")
    for _ in range(3):
        for key in keys:
            services.ticket_reveal_phi(actor=agent, key=key, reason="hot path of the desk")
    hospital.file(queue="restricted", **PATIENT)  # writes need the index key too
    assert sorted(calls) == ["index", "kek"]
