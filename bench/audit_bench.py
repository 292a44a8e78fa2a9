"""Audit trail throughput: appends, full verification, inclusion proofs.

    python bench/audit_bench.py [--appends 3000] [--verify-events 200000]
                                [--postgres-url postgresql://postgres@127.0.0.1:5432/x]
                                [--skip-postgres] [--only appends|verify]

Every figure runs against a fresh scratch database: SQLite files in a temporary
directory, and on PostgreSQL the database named by --postgres-url, dropped and created
again for each run (never point it at real data). Workers are separate processes with
their own Django setup, as app servers would be. Prints figures only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/phidesk_audit_bench"
ACTIONS = ("ticket.view", "ticket.list", "message.list", "ticket.update", "ticket.phi_reveal")


# --- workers (run in their own process) ------------------------------------------------


def _setup() -> None:
    import django

    django.setup()


def worker_append(count: int, gate: str) -> dict[str, Any]:
    """record() `count` times, one transaction each, like `count` small requests."""
    _setup()
    from phidesk.audit.services import record
    from phidesk.core.actor import Actor

    actor = Actor(
        user_id=7,
        organization_id=1,
        email="agent@example.org",
        roles=frozenset({"agent"}),
        ip="10.20.30.40",
        user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/130",
        session_key="bench-session",
    )
    record(actor=actor, action="bench.warmup")  # connect before the clock starts
    Path(gate + ".ready." + str(os.getpid())).touch()
    while not Path(gate).exists():
        time.sleep(0.005)
    started = time.time()
    for i in range(count):
        record(actor=actor, action=ACTIONS[i % 5], resource_type="ticket", resource_id=i)
    return {"start": started, "end": time.time(), "count": count}


def _fill_rows(count: int) -> Any:
    """A valid chain of `count` plausible events, built in memory in seq order."""
    from phidesk.audit.chain import GENESIS, event_hash

    base = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)
    prev = GENESIS
    for seq in range(1, count + 1):
        values = {
            "seq": seq,
            "occurred_at": base + dt.timedelta(microseconds=seq * 1500),
            "organization_id": 1 + seq % 3,
            "actor_user_id": 100 + seq % 250,
            "actor_token_id": None,
            "actor_session": hashlib.sha256(str(seq // 40).encode()).hexdigest()[:32],
            "action": ACTIONS[seq % 5],
            "resource_type": "ticket",
            "resource_id": str(seq % 5000),
            "outcome": "denied" if seq % 97 == 0 else "allowed",
            "reason": "restricted queue" if seq % 97 == 0 else "",
            "ip": f"10.{seq % 200}.{seq % 100}.{seq % 250 + 1}",
            "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/130.0",
            "device_id": "",
            "detail": {"queue_id": seq % 7, "returned": seq % 25},
            "prev_hash": prev,
        }
        values["hash"] = prev = event_hash(values)
        yield values


def worker_fill(count: int, every: int) -> dict[str, Any]:
    """Insert a valid chain fast (bulk, not record()), signing a checkpoint every `every`."""
    _setup()
    from django.db import connection, transaction

    from phidesk.audit.checkpoints import checkpoint_create

    columns = [
        "seq", "occurred_at", "organization_id", "actor_user_id", "actor_token_id",
        "actor_session", "action", "resource_type", "resource_id", "outcome", "reason", "ip",
        "user_agent", "device_id", "detail", "prev_hash", "hash",
    ]  # fmt: skip
    started = time.perf_counter()
    batch: list[list[Any]] = []

    def flush() -> None:
        with transaction.atomic(), connection.cursor() as cur:
            if connection.vendor == "postgresql":
                raw = cur.cursor
                with raw.copy(f"COPY audit_auditevent ({', '.join(columns)}) FROM STDIN") as cp:
                    for row in batch:
                        cp.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(columns))
                sql = f"INSERT INTO audit_auditevent ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
                cur.executemany(sql, batch)
        batch.clear()
        checkpoint_create(trigger="bench")

    sqlite = connection.vendor == "sqlite"
    for values in _fill_rows(count):
        row = [values[c] for c in columns]
        row[14] = json.dumps(row[14])
        if sqlite:
            row[1] = row[1].replace(tzinfo=None).isoformat(sep=" ")
        batch.append(row)
        if len(batch) == every:
            flush()
    if batch:
        flush()
    return {"seconds": time.perf_counter() - started, "count": count}


def worker_verify() -> dict[str, Any]:
    _setup()
    from phidesk.audit.verify import verify_log

    started = time.perf_counter()
    report = verify_log()
    seconds = time.perf_counter() - started
    assert report.ok, report.problem
    return {"seconds": seconds, "count": report.events, "checkpoints": report.checkpoints}


def worker_proofs(samples: int) -> dict[str, Any]:
    """Make inclusion proofs from the database, then verify them in a tight loop."""
    _setup()
    import random

    from phidesk.audit.merkle import inclusion_proof
    from phidesk.audit.models import Checkpoint
    from phidesk.audit.standalone_verify import verify_inclusion

    size = Checkpoint.objects.order_by("-tree_size").values_list("tree_size", flat=True).first()
    assert size
    rng = random.Random(9162)
    started = time.perf_counter()
    proofs = [inclusion_proof(seq=rng.randint(1, size), tree_size=size) for _ in range(samples)]
    made = time.perf_counter() - started
    root = bytes.fromhex(Checkpoint.objects.get(tree_size=size).root_hash)
    rounds = max(1, 20000 // samples)
    started = time.perf_counter()
    for _ in range(rounds):
        for p in proofs:
            assert verify_inclusion(p.index, p.tree_size, p.leaf_hash, p.path, root)
    checked = time.perf_counter() - started
    return {
        "tree_size": size,
        "path_length": statistics.mean(len(p.path) for p in proofs),
        "make_per_s": samples / made,
        "verify_per_s": rounds * samples / checked,
    }


WORKERS = {"append": worker_append, "fill": worker_fill, "verify": worker_verify,
           "proofs": worker_proofs}  # fmt: skip


# --- orchestration ---------------------------------------------------------------------


def _env(db_url: str, tmp: Path, mode: str = "thread") -> dict[str, str]:
    """Settings for one scratch database: its own var/ (key, WORM store) beside it."""
    var = tmp / ("var-" + hashlib.sha256(db_url.encode()).hexdigest()[:8])
    env = {k: v for k, v in os.environ.items() if k != "PHIDESK_TEST_DATABASE_URL"}
    env.update(
        DJANGO_SETTINGS_MODULE="phidesk.config.settings",
        PHIDESK_ENV="development",
        PHIDESK_VAR_DIR=str(var),
        DATABASE_URL=db_url,
        PHIDESK_AUDIT_CHECKPOINT_MODE=mode,
        LOG_LEVEL="WARNING",
    )
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, __file__, "--worker", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT)


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"worker failed ({proc.returncode})")
    return dict(json.loads(out.strip().splitlines()[-1]))


def _fresh(kind: str, pg_url: str, tmp: Path, name: str) -> str:
    """A new empty database with the schema; returns its URL."""
    if kind == "sqlite":
        path = tmp / f"{name}.sqlite3"
        path.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        base, _, dbname = pg_url.rpartition("/")
        admin = f"{base}/postgres"
        for sql in (f'DROP DATABASE IF EXISTS "{dbname}"', f'CREATE DATABASE "{dbname}"'):
            subprocess.run(["psql", admin, "-qc", sql], check=True, capture_output=True)
        url = pg_url
    shutil.rmtree(Path(_env(url, tmp)["PHIDESK_VAR_DIR"]), ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--verbosity", "0"],
        env=_env(url, tmp, "off"),
        check=True,
        cwd=ROOT,
    )
    return url


def bench_sha256() -> float:
    data = b"x" * 420  # a typical canonical event
    n, started = 0, time.perf_counter()
    sha = hashlib.sha256
    while time.perf_counter() - started < 2.0:
        for _ in range(10000):
            sha(data).digest()
        n += 10000
    return n / (time.perf_counter() - started)


def bench_appends(kind: str, pg_url: str, tmp: Path, count: int, procs: int) -> float:
    url = _fresh(kind, pg_url, tmp, f"append{procs}")
    gate = tmp / f"gate-{kind}-{procs}"
    env = _env(url, tmp)
    workers = [_run(env, "append", str(count // procs), str(gate)) for _ in range(procs)]
    while len(list(tmp.glob(gate.name + ".ready.*"))) < procs:
        time.sleep(0.01)
    gate.touch()
    results = [_result(w) for w in workers]
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return sum(r["count"] for r in results) / wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", nargs="+")
    parser.add_argument("--appends", type=int, default=3000)
    parser.add_argument("--verify-events", type=int, default=200_000)
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--only", choices=["appends", "verify"], help="run one part only")
    args = parser.parse_args()
    if args.worker:
        name, *rest = args.worker
        print(json.dumps(WORKERS[name](*[int(a) if a.isdigit() else a for a in rest])))
        return
    tmp = Path(tempfile.mkdtemp(prefix="phidesk-audit-bench-"))
    kinds = ["sqlite"] if args.skip_postgres else ["sqlite", "postgresql"]
    try:
        run(args, tmp, kinds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if "postgresql" in kinds:
            base, _, dbname = args.postgres_url.rpartition("/")
            drop = f'DROP DATABASE IF EXISTS "{dbname}"'
            subprocess.run(["psql", f"{base}/postgres", "-qc", drop], check=False)


def run(args: argparse.Namespace, tmp: Path, kinds: list[str]) -> None:
    sha = bench_sha256()
    print(
        f"raw SHA-256 (420-byte messages): {sha:,.0f} hashes/s on one core; verification "
        f"needs 3 per event (chain, leaf, ~1 node): ceiling {sha / 3:,.0f} events/s"
    )
    for kind in kinds if args.only != "verify" else []:
        for procs in (1, 2):
            rate = bench_appends(kind, args.postgres_url, tmp, args.appends, procs)
            print(f"{kind}: append, {procs} process(es): {rate:,.0f} events/s")
    for kind in kinds if args.only != "appends" else []:
        url = _fresh(kind, args.postgres_url, tmp, "verify")
        env = _env(url, tmp, "off")
        fill = _result(_run(env, "fill", str(args.verify_events), "10000"))
        print(
            f"{kind}: filled {fill['count']:,} events with checkpoints in {fill['seconds']:.0f} s"
        )
        verified = _result(_run(env, "verify"))
        rate = verified["count"] / verified["seconds"]
        print(
            f"{kind}: full verification: {verified['count']:,} events, "
            f"{verified['checkpoints']} checkpoints in {verified['seconds']:.1f} s = "
            f"{rate:,.0f} events/s ({rate / (sha / 3):.0%} of the hashing ceiling; "
            f"10 million events in {1e7 / rate:.0f} s)"
        )
        proofs = _result(_run(env, "proofs", "200"))
        print(
            f"{kind}: inclusion proofs in a tree of {proofs['tree_size']:,}: "
            f"{proofs['path_length']:.1f} hashes each; made {proofs['make_per_s']:,.0f}/s "
            f"from the database, verified {proofs['verify_per_s']:,.0f}/s"
        )


if __name__ == "__main__":
    main()
