"""Start-up checks: refuse settings that would weaken the audit trail."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register

from phidesk.audit import conf


@register("phidesk")
def audit_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    return [
        Error(message, id=f"phidesk.audit.E{n:03d}") for n, message in enumerate(conf.problems(), 1)
    ]
