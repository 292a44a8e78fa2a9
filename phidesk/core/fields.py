"""PHIField: the one field type for structured patient references.

Callers declare `PHIField(kind=...)`; how the value is stored is this module's
business (and crypto's, once it takes over storage), never the caller's. Values
leave the service layer masked unless an access decision allowed a reveal.
"""

from __future__ import annotations

from typing import Any

from django.db import models

PHI_KINDS = ("mrn", "name", "dob", "text")


def mask(kind: str, value: str | None) -> str:
    """A masked rendering that lets an agent tell records apart without learning them."""
    if not value:
        return ""
    if kind == "mrn":
        return "***" + value[-4:] if len(value) > 4 else "***"
    if kind == "name":
        return " ".join(part[0] + "***" for part in value.split() if part)
    if kind == "dob":
        return "****-**-**"
    return "[redacted]"


class PHIField(models.TextField):  # type: ignore[type-arg]
    """A patient-identifying value. Blank is allowed: patient context is optional."""

    description = "Protected Health Information"

    def __init__(self, *args: Any, kind: str = "text", **kwargs: Any) -> None:
        if kind not in PHI_KINDS:
            raise ValueError(f"unknown PHI kind {kind!r}")
        self.phi_kind = kind
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["kind"] = self.phi_kind
        return name, path, args, kwargs


def phi_fields(model: type[models.Model]) -> list[PHIField]:
    return [f for f in model._meta.get_fields() if isinstance(f, PHIField)]
