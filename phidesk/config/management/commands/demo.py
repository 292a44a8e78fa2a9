from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from rich.console import Console
from rich.table import Table

from phidesk.config.demo import PEOPLE, TENANTS, seed_demo


class Command(BaseCommand):
    help = "Seed the demo (two hospitals, one person per role, queues, tickets). Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        console = Console()
        with console.status("Seeding the demo..."):
            password, results = seed_demo()
        for slug, created in results:
            console.print(f"tenant [bold]{slug}[/]: {'seeded' if created else 'already present'}")
        table = Table(title="Demo sign-ins (password in var/demo-credentials)")
        table.add_column("Tenant")
        table.add_column("Email")
        table.add_column("Roles")
        for spec in TENANTS:
            for local, _display, roles in PEOPLE:
                table.add_row(
                    spec.slug, f"{local}@{spec.domain}", ", ".join(r.value for r in roles)
                )
        console.print(table)
        console.print(f"Demo password for every demo account: [bold]{password}[/]")
