from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter


class DeskAccountAdapter(DefaultAccountAdapter):
    """Accounts are provisioned by administrators (and SCIM), never by self sign-up."""

    def is_open_for_signup(self, request: Any) -> bool:
        return False
