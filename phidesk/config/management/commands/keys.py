"""`phidesk keys rotate | reencrypt | status`: operate the key hierarchy.

    phidesk keys status [--tenant SLUG] [--no-health]
    phidesk keys rotate [--tenant SLUG] [--rewrap-only] [--batch-size N]
    phidesk keys reencrypt [--tenant SLUG] [--limit N] [--grace-seconds S]

Prints key ids, versions, ages and counts; never key material or plaintext.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from phidesk.audit.services import record
from phidesk.crypto import rotation
from phidesk.crypto.errors import CryptoError
from phidesk.tenancy.models import Organization


class Command(BaseCommand):
    help = "Key management: rotate tenant keys, re-encrypt data, show key status."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(
            dest="action", required=True, metavar="{status,rotate,reencrypt}"
        )
        status = sub.add_parser("status", help="provider, health, FIPS mode, key versions, ages")
        status.add_argument("--tenant", help="only this tenant (slug)")
        status.add_argument("--no-health", action="store_true", help="skip the provider probe")
        rotate = sub.add_parser(
            "rotate", help="new KEK version; rewrap data keys (no data re-encrypted)"
        )
        rotate.add_argument("--tenant", help="only this tenant (slug); default: every tenant")
        rotate.add_argument(
            "--rewrap-only",
            action="store_true",
            help="finish an interrupted rotation without making another version",
        )
        rotate.add_argument("--batch-size", type=int, default=500)
        reencrypt = sub.add_parser(
            "reencrypt", help="new data keys and re-sealed values (resumable)"
        )
        reencrypt.add_argument("--tenant", help="only this tenant (slug)")
        reencrypt.add_argument("--limit", type=int, help="stop after N records (resume later)")
        reencrypt.add_argument(
            "--grace-seconds",
            type=int,
            default=300,
            help="keep retired data keys this long before deleting them (in-flight writers)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        console = Console()
        try:
            org_id = self._tenant(options.get("tenant"))
            action = options["action"]
            if action == "status":
                self._status(console, org_id, health=not options["no_health"])
            elif action == "rotate":
                self._rotate(console, options.get("tenant"), options)
            else:
                self._reencrypt(console, org_id, options)
        except CryptoError as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc

    def _tenant(self, slug: str | None) -> int | None:
        if not slug:
            return None
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            raise CommandError(f"no tenant {slug!r}")
        return org.pk

    def _progress(self, console: Console) -> Progress:
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )

    def _status(self, console: Console, org_id: int | None, *, health: bool) -> None:
        report = rotation.key_status(organization_id=org_id, check_health=health)
        state = "[green]ok[/]" if report.health.ok else "[red]FAILING[/]"
        console.print(f"environment      [bold]{report.environment}[/]")
        console.print(f"key provider     [bold]{report.provider}[/]  {report.provider_key_id}")
        console.print(
            f"provider health  {state}  {report.health.detail} ({report.health.latency_ms:.1f} ms)"
        )
        console.print(
            f"FIPS mode        {'[green]on[/]' if report.fips else 'off'}  ({report.openssl})"
        )
        console.print(
            f"key cache        {report.cache_seconds} s; KEK maximum age {report.max_age_days} days"
        )
        table = Table(title="Tenant keys")
        for col in ("Tenant", "Purpose", "Version", "State", "Created", "Age (days)", "Data keys"):
            table.add_column(col)
        for row in report.tenant_keys:
            table.add_row(
                row.organization,
                row.purpose,
                f"v{row.version}",
                row.state,
                f"{row.created_at:%Y-%m-%d %H:%M}",
                f"{row.age_days:.1f}",
                str(row.data_keys) if row.purpose == "kek" else "-",
            )
        console.print(table)
        counts = ", ".join(f"{n} {s}" for s, n in report.data_keys.items())
        console.print(f"data keys        {counts}")
        console.print(f"values in clear  {report.legacy_rows}")
        console.print(f"open reencrypt   {report.open_jobs} job(s)")
        for warning in report.warnings:
            console.print(f"[yellow]warning:[/] {warning}")

    def _rotate(self, console: Console, slug: str | None, options: dict[str, Any]) -> None:
        tenants = list(rotation.iter_tenants(slug))
        with self._progress(console) as progress:
            for org in tenants:
                task = progress.add_task(f"rewrap {org.slug}", total=None)

                def tick(done: int, total: int, task: Any = task) -> None:
                    progress.update(task, completed=done, total=total)

                result = rotation.rotate_tenant(
                    organization_id=org.pk,
                    new_version=not options["rewrap_only"],
                    batch_size=max(1, options["batch_size"]),
                    progress=tick,
                )
                progress.update(task, completed=result.rewrapped, total=result.rewrapped or 1)
                record(
                    actor=None,
                    organization_id=org.pk,
                    action="keys.rotate",
                    resource_type="organization",
                    resource_id=org.pk,
                    reason="operator CLI",
                    detail={
                        "old_version": result.old_version,
                        "new_version": result.new_version,
                        "rewrapped": result.rewrapped,
                    },
                )
                rate = result.rewrapped / result.seconds if result.seconds else 0.0
                old = f"v{result.old_version}" if result.old_version else "-"
                progress.console.print(
                    f"{org.slug}: KEK {old} -> v{result.new_version}, "
                    f"{result.rewrapped} data keys rewrapped ({rate:.0f}/s)"
                )

    def _reencrypt(self, console: Console, org_id: int | None, options: dict[str, Any]) -> None:
        job, left = rotation.reencrypt_job(org_id)
        resumed = job.records_done > 0
        console.print(
            f"re-encryption job {job.pk} ({'resumed' if resumed else 'new'}): {left} records to go"
        )
        with self._progress(console) as progress:
            task = progress.add_task("re-encrypt", total=left or None)

            def tick(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            result = rotation.reencrypt(
                organization_id=org_id,
                grace=dt.timedelta(seconds=max(0, options["grace_seconds"])),
                progress=tick,
                limit=options.get("limit"),
            )
        record(
            actor=None,
            organization_id=org_id,
            action="keys.reencrypt",
            resource_type="organization" if org_id else "",
            resource_id=org_id or "",
            reason="operator CLI",
            detail={
                "records": result.records,
                "sealed_from_clear": result.legacy_rows,
                "failed": result.failed_rows,
            },
        )
        console.print(
            f"{result.records} records re-encrypted, {result.legacy_rows} rows sealed "
            f"from clear, {result.retired_keys_deleted} retired data keys deleted"
        )
        for failure in result.failures[:20]:
            console.print(f"[red]failed:[/] {failure}")
        if result.failed_rows:
            raise CommandError(f"{result.failed_rows} values could not be re-encrypted")
