"""Blind indexes: exact-match search over encrypted identifiers.

index = HMAC-SHA256(K, normalize(kind, value)), where K is derived with HKDF-SHA256
from the tenant's blind-index key (a TenantKey of purpose "index", wrapped by the
provider like any tenant key) with info = (environment, tenant, kind, key version).
Different tenants and kinds therefore get unrelated indexes for the same value, and
without K an index says nothing about its value — but equal values do give equal
indexes within a tenant (that is the point), so low-entropy kinds such as dates of
birth reveal equality to anyone holding the database. See docs/crypto.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import unicodedata

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from phidesk.crypto import keyring
from phidesk.crypto.envelope import associated_data
from phidesk.crypto.models import KeyPurpose

KINDS = ("mrn", "name", "dob", "text")


def normalize(kind: str, value: str) -> str:
    """The form two spellings of one identifier share (NFKC, case and spacing folded)."""
    text = unicodedata.normalize("NFKC", value)
    if kind == "mrn":
        text = "".join(text.split()).upper()
    elif kind == "name":
        text = " ".join(text.casefold().split())
    elif kind == "dob":
        text = text.strip()
        with contextlib.suppress(ValueError):
            text = dt.date.fromisoformat(text).isoformat()
    else:
        text = " ".join(text.split())
    return unicodedata.normalize("NFKC", text)


def _index_key(organization_id: int, kind: str) -> bytes:
    tk = keyring.active_tenant_key(organization_id, KeyPurpose.INDEX)
    cache_key = ("blind-index", tk.pk, hashlib.sha256(bytes(tk.wrapped)).digest(), kind)
    hit = keyring.cache.get(cache_key)
    if hit is not None:
        return hit
    root = keyring.unwrap_tenant_key(tk)
    derived = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=associated_data(
            "phidesk.blind-index", (keyring.environment(), organization_id, kind, tk.version)
        ),
    ).derive(root)
    keyring.cache.put(cache_key, derived)
    return derived


def compute(*, organization_id: int, kind: str, value: str) -> str:
    """The hex blind index of `value`, or "" for a blank value."""
    if kind not in KINDS:
        raise ValueError(f"unknown blind index kind {kind!r}")
    normalized = normalize(kind, value)
    if not normalized:
        return ""
    key = _index_key(organization_id, kind)
    return hmac.new(key, normalized.encode(), hashlib.sha256).hexdigest()
