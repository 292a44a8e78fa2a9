"""`phidesk audit verify | export | checkpoint | public-key | reports send-due`: the
operator's audit tools."""

from __future__ import annotations

import time
from argparse import ArgumentParser, ArgumentTypeError
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from phidesk.audit.checkpoints import ChainBroken, checkpoint_create, worm_backfill
from phidesk.audit.export import export_bundle
from phidesk.audit.reports import report_send_due
from phidesk.audit.signing import public_key_text
from phidesk.audit.standalone_verify import NoteError, VerifierKey
from phidesk.audit.verify import total_events, verify_log
from phidesk.audit.worm import WormConflict
from phidesk.core.errors import DomainError


def _seq(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise ArgumentTypeError("must be a positive event number")
    return int(raw)


def _progress(console: Console, quiet: bool) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=quiet,
    )


class Command(BaseCommand):
    help = "Verify, export and checkpoint the tamper-evident audit log; send due reports."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="check chain, checkpoints and signatures")
        verify.add_argument("--from", dest="from_seq", type=_seq, default=1, metavar="SEQ")
        verify.add_argument(
            "--public-key", type=Path, help="trust only this verifier key (from out of band)"
        )
        verify.add_argument("--quiet", action="store_true", help="no progress bar")
        export = sub.add_parser("export", help="write a bundle for offline verification")
        export.add_argument("--from", dest="from_seq", type=_seq, default=1, metavar="SEQ")
        export.add_argument("--to", dest="to_seq", type=_seq, default=None, metavar="SEQ")
        export.add_argument("--out", type=Path, required=True, metavar="FILE")
        export.add_argument("--quiet", action="store_true", help="no progress bar")
        checkpoint = sub.add_parser("checkpoint", help="sign a checkpoint over new events now")
        checkpoint.add_argument(
            "--every", type=int, default=0, metavar="SECONDS", help="keep running, every N s"
        )
        sub.add_parser("public-key", help="print the verifier key to give auditors")
        reports = sub.add_parser("reports", help="scheduled audit reports")
        reports_sub = reports.add_subparsers(dest="reports_action", required=True)
        reports_sub.add_parser(
            "send-due", help="email the PHI-free notices of reports due (run it hourly)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        self.console = Console(stderr=True)
        if action == "verify":
            self._verify(options)
        elif action == "export":
            self._export(options)
        elif action == "checkpoint":
            self._checkpoint(options["every"])
        elif action == "reports":
            self._send_due_reports()
        else:
            self.stdout.write(public_key_text())

    def _verify(self, options: dict[str, Any]) -> None:
        keys = None
        if options["public_key"]:
            try:
                keys = [VerifierKey.parse(options["public_key"].read_text())]
            except (OSError, NoteError) as exc:
                raise CommandError(f"cannot use the public key: {exc}", returncode=2) from exc
        started = time.perf_counter()
        with _progress(self.console, options["quiet"]) as bar:
            task = bar.add_task("verifying", total=total_events(options["from_seq"]), rate="")

            def advance(done: int) -> None:
                rate = done / max(time.perf_counter() - started, 1e-9)
                bar.update(task, completed=done, rate=f"{rate:,.0f} events/s")

            report = verify_log(from_seq=options["from_seq"], keys=keys, progress=advance)
        elapsed = time.perf_counter() - started
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
        if report.problem is not None:
            problem = report.problem
            where = f"event #{problem.seq}" if problem.seq is not None else "checkpoints"
            raise CommandError(f"FAIL [{problem.kind}] {where}: {problem.message}", returncode=1)
        span = f"#{report.start_seq}..#{report.last_seq}" if report.events else "no events"
        self.stdout.write(
            f"OK: {report.events:,} events verified ({span}) in {elapsed:.1f} s; "
            f"{len(report.checkpoints_checked)} of {report.checkpoints} signed checkpoints "
            f"recomputed; {report.uncovered:,} newest events not yet under a checkpoint"
        )

    def _export(self, options: dict[str, Any]) -> None:
        out: Path = options["out"]
        try:
            with (
                out.open("x", encoding="utf-8") as fh,
                _progress(self.console, options["quiet"]) as bar,
            ):
                task = bar.add_task("exporting", total=None, rate="")
                summary = export_bundle(
                    out=fh,
                    from_seq=options["from_seq"],
                    to_seq=options["to_seq"],
                    progress=lambda done: bar.update(task, completed=done),
                )
        except FileExistsError as exc:
            raise CommandError(f"{out} exists; choose a new file", returncode=2) from exc
        except DomainError as exc:
            out.unlink(missing_ok=True)
            raise CommandError(exc.message, returncode=2) from exc
        self.stdout.write(
            f"wrote {summary.events:,} events #{summary.from_seq}..#{summary.to_seq} and "
            f"{summary.checkpoints} signed checkpoint(s) (tree size {summary.tree_size}) to {out}"
        )

    def _checkpoint(self, every: int) -> None:
        while True:
            try:
                backfilled = worm_backfill()
                made = checkpoint_create(trigger="command")
            except (ChainBroken, WormConflict) as exc:
                raise CommandError(f"no checkpoint signed: {exc}", returncode=1) from exc
            if backfilled:
                self.stdout.write(f"wrote {backfilled} checkpoint(s) missing from the WORM store")
            if made is not None:
                self.stdout.write(f"signed checkpoint {made.tree_size}")
            elif not every:
                self.stdout.write("no new events since the last checkpoint")
            if not every:
                return
            time.sleep(every)

    def _send_due_reports(self) -> None:
        run = report_send_due()
        self.stdout.write(
            f"sent {run.sent} report notice(s); refused {run.denied} (owner may no longer "
            f"read the audit trail); {run.failed} failed"
        )
        if run.failed:
            raise CommandError(f"{run.failed} report notice(s) not sent", returncode=1)
