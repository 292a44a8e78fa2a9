from __future__ import annotations

import io
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from rich.console import Console
from rich.table import Table

from phidesk.identity.selectors import user_rows


class Command(BaseCommand):
    help = "List users with their tenant and roles."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="List users")
        listing.add_argument("--tenant", help="Only this tenant (slug)")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = user_rows(tenant_slug=options.get("tenant"))
        table = Table(title=f"{len(rows)} users")
        for column in ("ID", "Email", "Name", "Tenant", "Roles", "Active"):
            table.add_column(column)
        for r in rows:
            table.add_row(
                str(r.id),
                r.email,
                r.name,
                r.tenant,
                ", ".join(r.roles),
                "yes" if r.is_active else "no",
            )
        console = Console(width=140, record=True, file=io.StringIO())
        console.print(table)
        self.stdout.write(console.export_text())
