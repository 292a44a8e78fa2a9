from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

from phidesk.core.models import TimeStamped


class Organization(TimeStamped):
    """A tenant: one hospital or health system. Every domain row belongs to one."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    ticket_prefix = models.CharField(
        max_length=8,
        default="HD",
        validators=[RegexValidator(r"^[A-Z]{2,8}$", "2 to 8 capital letters")],
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.slug

    @property
    def organization_id(self) -> int:
        """An organization is its own tenant (so access decisions treat it like any row)."""
        return int(self.pk)
