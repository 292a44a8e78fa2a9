"""Throughput of the chunked file encryption (phidesk.crypto.streams), 64 MiB in memory.

python bench/streams_bench.py
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    os.environ.update(
        PHIDESK_ENV="development",
        PHIDESK_VAR_DIR=tempfile.mkdtemp(prefix="phidesk-bench-"),
        DJANGO_SETTINGS_MODULE="phidesk.config.settings",
    )
    import django

    django.setup()
    from django.core.management import call_command

    from phidesk.config.demo import seed_demo
    from phidesk.core.tenant_context import tenant_context
    from phidesk.crypto.streams import open_stream, seal_stream
    from phidesk.tickets.models import Ticket

    call_command("migrate", verbosity=0)
    seed_demo()
    ticket = Ticket.unscoped.filter(queue__restricted_phi=True).first()
    assert ticket is not None
    size_mib = 64
    data = os.urandom(size_mib * 1024 * 1024)
    with tenant_context(ticket.organization_id):
        sink = io.BytesIO()
        t0 = time.perf_counter()
        seal_stream(record=ticket, purpose="bench", source=io.BytesIO(data), sink=sink)
        t1 = time.perf_counter()
        opened = sum(
            len(c)
            for c in open_stream(record=ticket, purpose="bench", source=io.BytesIO(sink.getvalue()))
        )
        t2 = time.perf_counter()
    assert opened == len(data)
    overhead = (len(sink.getvalue()) - len(data)) / len(data) * 100
    print(f"seal: {size_mib / (t1 - t0):,.0f} MiB/s; open: {size_mib / (t2 - t1):,.0f} MiB/s")
    print(f"size overhead: {overhead:.3f}% (16-byte tag per 64 KiB chunk + 24-byte header)")


if __name__ == "__main__":
    main()
