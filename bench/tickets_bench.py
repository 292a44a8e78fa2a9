"""Ticket throughput and list latency, through the real service path and the API.

    python bench/tickets_bench.py [--tickets 1000] [--database-url postgresql://...]

Runs against a fresh database in a temporary directory (SQLite) or the given URL
(its tables are created by migrate; use a scratch database). Prints figures only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="phidesk-bench-")
    os.environ.update(
        {
            "PHIDESK_ENV": "development",
            "PHIDESK_VAR_DIR": tmp,
            "DJANGO_SETTINGS_MODULE": "phidesk.config.settings",
            "ALLOWED_HOSTS": "testserver",
            "PHIDESK_SECURE_COOKIES": "false",
        }
    )
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from rich.progress import track

    from phidesk.config.demo import seed_demo
    from phidesk.identity.models import User
    from phidesk.identity.services import actor_for_user, token_create
    from phidesk.tickets import services

    call_command("migrate", verbosity=0)
    seed_demo()
    requester = actor_for_user(User.objects.get(email="requester@stmarys.example"))
    started = time.perf_counter()
    for i in track(range(args.tickets), description="creating tickets"):
        services.ticket_create(
            actor=requester,
            data=services.NewTicket(
                queue="ehr-phi" if i % 3 == 0 else "it-general",
                title=f"Bench ticket {i}",
                description="Workstation on 4 West freezes when opening the MAR.",
                patient_mrn=f"{i:08d}" if i % 3 == 0 else "",
            ),
        )
    create_rate = args.tickets / (time.perf_counter() - started)

    agent = User.objects.get(email="phi.agent@stmarys.example")
    secret = token_create(actor=None, user=agent, name="bench", scopes=["tickets:read"]).secret
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    timings = []
    cursor = ""
    for _ in range(args.requests):
        t0 = time.perf_counter()
        response = client.get(f"/api/v1/tickets?limit=25{cursor}")
        timings.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.content
        nxt = response.json()["next_cursor"]
        cursor = f"&cursor={nxt}" if nxt else ""
    detail_timings = []
    for n in range(1, min(args.requests, args.tickets) + 1):
        t0 = time.perf_counter()
        assert client.get(f"/api/v1/tickets/HD-{n:06d}").status_code in (200, 404)
        detail_timings.append((time.perf_counter() - t0) * 1000)

    print(f"database: {connection.vendor}; tickets: {args.tickets}")
    print(f"create via service (audited): {create_rate:,.0f} tickets/s")
    print(
        f"GET /api/v1/tickets (25/page): median {statistics.median(timings):.1f} ms, "
        f"p95 {sorted(timings)[int(len(timings) * 0.95) - 1]:.1f} ms"
    )
    print(f"GET /api/v1/tickets/<key>: median {statistics.median(detail_timings):.1f} ms")


if __name__ == "__main__":
    main()
