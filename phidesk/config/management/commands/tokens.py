from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from phidesk.access.policy import TOKEN_SCOPES
from phidesk.core.errors import DomainError
from phidesk.identity.selectors import user_get_by_email
from phidesk.identity.services import token_create


class Command(BaseCommand):
    help = "Manage personal API tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Issue a token; it is printed once.")
        create.add_argument("--user", required=True, help="The user's email")
        create.add_argument(
            "--scopes",
            default="tickets:read",
            help=f"Comma-separated scopes from: {', '.join(TOKEN_SCOPES)}",
        )
        create.add_argument("--expires", type=int, default=90, help="Days until expiry")
        create.add_argument("--name", default="cli")

    def handle(self, *args: Any, **options: Any) -> None:
        user = user_get_by_email(options["user"])
        if user is None:
            raise CommandError(f"no user with email {options['user']}")
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        try:
            issued = token_create(
                actor=None,
                user=user,
                name=options["name"],
                scopes=scopes,
                expires_days=options["expires"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(
            f"Token for {user.email} (scopes: {', '.join(issued.token.scopes)}; "
            f"expires {issued.token.expires_at:%Y-%m-%d}). It is shown only once:"
        )
        self.stdout.write(issued.secret)
