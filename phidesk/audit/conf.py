"""Audit settings, read when used and checked at start-up (see checks.py)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

# HIPAA keeps documentation six years (45 CFR 164.316(b)(2)); 6 x 365.25 days, rounded up.
RETENTION_FLOOR_DAYS = 2192
MAX_CHECKPOINT_SECONDS = 60
MAX_CHECKPOINT_EVENTS = 10_000
CHECKPOINT_MODES = ("thread", "inline", "off")


def retention_days() -> int:
    return int(getattr(settings, "PHIDESK_AUDIT_RETENTION_DAYS", RETENTION_FLOOR_DAYS))


def origin() -> str:
    """The log's name in checkpoints; also the signing key's name."""
    return str(getattr(settings, "PHIDESK_AUDIT_ORIGIN", "phidesk.local/audit"))


def worm_dir() -> Path:
    default = Path(settings.VAR_DIR) / "audit-checkpoints"
    return Path(getattr(settings, "PHIDESK_AUDIT_WORM_DIR", default))


def signing_key_path() -> Path:
    default = Path(settings.VAR_DIR) / "audit-signing.key"
    return Path(getattr(settings, "PHIDESK_AUDIT_SIGNING_KEY_FILE", default))


def signer_factory() -> str:
    """Dotted path of a callable returning the CheckpointSigner (see signing.py)."""
    return str(
        getattr(settings, "PHIDESK_AUDIT_SIGNER", "phidesk.audit.signing.local_key_file_signer")
    )


def trusted_keys() -> list[str]:
    """Verifier keys of earlier signing keys, still trusted for old checkpoints."""
    return list(getattr(settings, "PHIDESK_AUDIT_TRUSTED_KEYS", []))


def checkpoint_seconds() -> int:
    return int(getattr(settings, "PHIDESK_AUDIT_CHECKPOINT_SECONDS", MAX_CHECKPOINT_SECONDS))


def checkpoint_events() -> int:
    return int(getattr(settings, "PHIDESK_AUDIT_CHECKPOINT_EVENTS", MAX_CHECKPOINT_EVENTS))


def checkpoint_mode() -> str:
    """thread: a background thread per process; inline: after commit, in the caller; off."""
    return str(getattr(settings, "PHIDESK_AUDIT_CHECKPOINT_MODE", "thread"))


def authorizer() -> str:
    """Dotted path of the access decision used by audit search (audit sits below access)."""
    return str(getattr(settings, "PHIDESK_AUDIT_AUTHORIZER", "phidesk.access.engine.decide"))


def patient_indexer() -> str | None:
    """Dotted path of `f(patient_ref: str, organization_id: int) -> str` (a blind index)."""
    value = getattr(settings, "PHIDESK_AUDIT_PATIENT_INDEXER", None)
    return str(value) if value else None


def report_actor_loader() -> str:
    """Dotted path of `f(user) -> Actor`: a report's owner's current roles at send time."""
    return str(
        getattr(settings, "PHIDESK_AUDIT_ACTOR_LOADER", "phidesk.identity.services.actor_for_user")
    )


def base_url() -> str:
    """The address people open PHIdesk at; links in email notices start with it."""
    return str(getattr(settings, "PHIDESK_BASE_URL", "https://127.0.0.1:8443")).rstrip("/")


def export_max_rows() -> int:
    return int(getattr(settings, "PHIDESK_AUDIT_EXPORT_MAX_ROWS", 1_000_000))


def problems() -> list[str]:
    """Settings that would weaken the trail; each is a start-up error."""
    found: list[str] = []
    if retention_days() < RETENTION_FLOOR_DAYS:
        found.append(
            f"PHIDESK_AUDIT_RETENTION_DAYS is {retention_days()}; audit events must be kept "
            f"at least {RETENTION_FLOOR_DAYS} days (6 years)"
        )
    if not 1 <= checkpoint_seconds() <= MAX_CHECKPOINT_SECONDS:
        found.append(f"PHIDESK_AUDIT_CHECKPOINT_SECONDS must be 1..{MAX_CHECKPOINT_SECONDS}")
    if not 1 <= checkpoint_events() <= MAX_CHECKPOINT_EVENTS:
        found.append(f"PHIDESK_AUDIT_CHECKPOINT_EVENTS must be 1..{MAX_CHECKPOINT_EVENTS}")
    if checkpoint_mode() not in CHECKPOINT_MODES:
        found.append(f"PHIDESK_AUDIT_CHECKPOINT_MODE must be one of {', '.join(CHECKPOINT_MODES)}")
    name = origin()
    if not name or any(c.isspace() or c == "+" for c in name):
        found.append("PHIDESK_AUDIT_ORIGIN must be non-empty, without spaces or '+'")
    return found
