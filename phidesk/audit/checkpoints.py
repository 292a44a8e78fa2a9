"""Signed checkpoints: every <= 60 s or <= 10,000 events, a signed Merkle tree head.

A checkpoint extends the previous one's compact range with the events added since,
checks their hashes and links on the way (it never signs a broken chain), signs a C2SP
tlog-checkpoint note, writes it to the WORM store, then stores the row and the tiles.

Requests pay almost nothing: record() compares its seq with a cached view of the last
checkpoint and, only when one is due, asks for one after commit. A background thread
per process (or the caller, in "inline" mode) makes it; `phidesk audit checkpoint
--every 60` covers idle periods and processes without the thread.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import threading
import time
from dataclasses import dataclass

from django.db import connection, connections, transaction
from django.db.models import Max

from phidesk.audit import conf, worm
from phidesk.audit.merkle import is_tile_level
from phidesk.audit.models import AuditEvent, Checkpoint, MerkleTile
from phidesk.audit.signing import get_signer
from phidesk.audit.standalone_verify import (
    CheckpointBody,
    CompactRange,
    chain_hash,
    key_id,
    leaf_hash,
    sign_note,
)
from phidesk.audit.stream import rows

log = logging.getLogger("phidesk.audit")

# Distinct from the append lock: appends continue while a checkpoint is being made.
_CHECKPOINT_LOCK_KEY = 0x50484943  # "PHIC"


class ChainBroken(RuntimeError):
    """The events since the last checkpoint do not form a valid chain: nothing is signed."""

    def __init__(self, seq: int, message: str) -> None:
        super().__init__(f"event #{seq}: {message}")
        self.seq = seq


def _lock() -> bool:
    """Take the checkpoint lock for this transaction; False if another process holds it."""
    if connection.vendor != "postgresql":
        return True  # SQLite: the IMMEDIATE transaction already serializes writers.
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_xact_lock(%s)", [_CHECKPOINT_LOCK_KEY])
        return bool(cur.fetchone()[0])


def _extend(last: Checkpoint | None, end: int) -> tuple[CompactRange, list[MerkleTile]]:
    """The compact range at `end`, checking every event after the previous checkpoint."""
    tiles: list[MerkleTile] = []

    def keep(height: int, index: int, digest: bytes) -> None:
        if is_tile_level(height):
            tiles.append(MerkleTile(level=height, index=index, hash=digest.hex()))

    if last is None:
        tree, prev = CompactRange(), None
    else:
        tree = CompactRange.from_hashes(last.tree_size, [bytes.fromhex(h) for h in last.frontier])
        if tree.root().hex() != last.root_hash:
            raise ChainBroken(last.tree_size, "the stored state of the last checkpoint is corrupt")
        prev = AuditEvent.objects.filter(seq=last.tree_size).values_list("hash", flat=True).first()
    tree.on_subtree = keep
    expected = tree.size + 1
    leaves: list[bytes] = []
    for row in rows(start=expected, end=end):
        if row.seq != expected:
            raise ChainBroken(expected, "missing")
        if chain_hash(row.canonical) != row.hash:
            raise ChainBroken(row.seq, "its content no longer matches its hash")
        if prev is not None and row.prev_hash != prev:
            raise ChainBroken(row.seq, "it does not link to the event before it")
        leaves.append(leaf_hash(row.canonical))
        prev = row.hash
        expected += 1
    if expected != end + 1:
        raise ChainBroken(expected, "missing")
    tree.extend(leaves)
    return tree, tiles


def checkpoint_create(*, trigger: str = "command", only_if_due: bool = False) -> Checkpoint | None:
    """Sign a checkpoint over every committed event; None if there is nothing (due) to sign."""
    with transaction.atomic():
        if not _lock():
            return None
        last = Checkpoint.objects.order_by("-tree_size").first()
        end = AuditEvent.objects.aggregate(m=Max("seq"))["m"] or 0
        size = last.tree_size if last else 0
        if last is not None:
            _remember(size, last.signed_at.timestamp())  # what callers' due checks use
        if end <= size:
            return None
        if only_if_due and last is not None:
            age = (dt.datetime.now(dt.UTC) - last.signed_at).total_seconds()
            if end - size < conf.checkpoint_events() and age < conf.checkpoint_seconds():
                return None
        tree, tiles = _extend(last, end)
        signer = get_signer()
        body = CheckpointBody(origin=conf.origin(), tree_size=end, root_hash=tree.root())
        note = sign_note(body.text(), signer.name, signer.sign, signer.public_key)
        signed_at = dt.datetime.now(dt.UTC)
        worm.store().put_checkpoint(end, note, signed_at)
        checkpoint = Checkpoint(
            tree_size=end,
            root_hash=body.root_hash.hex(),
            note=note,
            key_id=key_id(signer.name, signer.public_key).hex(),
            frontier=[h.hex() for h in tree.hashes],
            signed_at=signed_at,
            trigger=trigger,
        )
        checkpoint.save(force_insert=True)
        MerkleTile.objects.bulk_create(tiles, batch_size=500)
    _remember(checkpoint.tree_size, signed_at.timestamp())
    log.info("audit checkpoint %s signed (%s)", end, trigger)
    return checkpoint


def worm_backfill() -> int:
    """Write database checkpoints the WORM store lacks (after a store outage)."""
    store = worm.store()
    in_store = {size for size, _, _ in store.checkpoints()}
    written = 0
    for cp in Checkpoint.objects.exclude(tree_size__in=in_store).iterator():
        written += int(store.put_checkpoint(cp.tree_size, cp.note, cp.signed_at))
    return written


# --- Cadence: is a checkpoint due? ---------------------------------------------------


@dataclass(frozen=True)
class _Cadence:
    tree_size: int
    signed_at: float  # epoch seconds; 0 when there is no checkpoint yet
    loaded_at: float  # monotonic


_REFRESH_SECONDS = 5.0
_QUIET_SECONDS = 1.0
_cadence: _Cadence | None = None


def _remember(tree_size: int, signed_at: float) -> None:
    global _cadence
    _cadence = _Cadence(tree_size, signed_at, time.monotonic())


def _current_cadence() -> _Cadence:
    """The last checkpoint as this process knows it, re-read at most every 5 s."""
    cadence = _cadence
    if cadence is None or time.monotonic() - cadence.loaded_at > _REFRESH_SECONDS:
        last = Checkpoint.objects.order_by("-tree_size").values_list("tree_size", "signed_at")
        found = last.first()
        _remember(*(found[0], found[1].timestamp()) if found else (0, 0.0))
        cadence = _cadence
        assert cadence is not None
    return cadence


def is_due(seq: int) -> bool:
    cadence = _current_cadence()
    uncovered = seq - cadence.tree_size
    if uncovered >= conf.checkpoint_events():
        return True
    return uncovered > 0 and time.time() - cadence.signed_at >= conf.checkpoint_seconds()


def after_append(seq: int) -> None:
    """Called by record() with the new seq: schedule a checkpoint after commit if due."""
    mode = conf.checkpoint_mode()
    if mode == "off":
        return
    due = is_due(seq)
    if mode == "inline":
        if due:
            transaction.on_commit(_run_inline)
    elif due or _worker.deadline is None:
        transaction.on_commit(_worker.wake)


_inline_guard = threading.Lock()


def _run_inline() -> None:
    if not _inline_guard.acquire(blocking=False):
        return
    try:
        checkpoint_create(trigger="auto", only_if_due=True)
    except Exception:
        log.exception("audit checkpoint failed; run `phidesk audit verify`")
    finally:
        _inline_guard.release()


_DRAIN_SECONDS = 10


class _Worker:
    """One daemon thread per process that makes checkpoints when due or at the deadline."""

    def __init__(self) -> None:
        self.deadline: float | None = None  # epoch seconds at which uncovered events age out
        self.backoff_until = 0.0  # no tick before then: after a failure, or a quiet second
        self._last_error = ""
        self._event = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._start_lock = threading.Lock()
        # Held while a checkpoint is being made; at exit we wait for it, so a short-lived
        # process (a management command) never dies between the WORM write and the commit.
        self._busy = threading.Lock()
        self._drain_registered = False

    def wake(self) -> None:
        with self._start_lock:
            alive = self._thread is not None and self._thread.is_alive()
            if not alive or self._pid != os.getpid():
                self._event = threading.Event()
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="phidesk-audit-checkpoints", daemon=True
                )
                self._thread.start()
                if not self._drain_registered:
                    atexit.register(self._drain)
                    self._drain_registered = True
        self._event.set()

    def _drain(self) -> None:
        # Keep the lock: no tick starts once the interpreter is shutting down.
        self._busy.acquire(timeout=_DRAIN_SECONDS)

    def _run(self) -> None:
        while True:
            timeout = None if self.deadline is None else max(0.0, self.deadline - time.time())
            self._event.wait(timeout)
            self._event.clear()
            pause = self.backoff_until - time.time()
            if pause > 0:
                time.sleep(pause)  # wake-ups during a pause are served once, after it
            try:
                self._tick()
            except Exception as exc:
                if str(exc) != self._last_error:
                    log.exception("audit checkpoint failed; run `phidesk audit verify`")
                    self._last_error = str(exc)
                self.backoff_until = time.time() + conf.checkpoint_seconds()
                self.deadline = self.backoff_until
            else:
                self._last_error = ""
                # At most one tick a second however often appends signal "due".
                self.backoff_until = time.time() + _QUIET_SECONDS
            finally:
                connections.close_all()

    def _tick(self) -> None:
        if not self._busy.acquire(blocking=False):
            return  # shutting down
        try:
            checkpoint_create(trigger="auto", only_if_due=True)
        finally:
            self._busy.release()
        last = Checkpoint.objects.order_by("-tree_size").values_list("tree_size", "signed_at")
        found = last.first()
        size, signed = (found[0], found[1].timestamp()) if found else (0, time.time())
        newest = AuditEvent.objects.aggregate(m=Max("seq"))["m"] or 0
        if newest > size:
            # Not due yet, or another process holds the lock: come back when it will be.
            self.deadline = max(signed + conf.checkpoint_seconds(), time.time() + 1.0)
        else:
            self.deadline = None


_worker = _Worker()


def reset_state() -> None:
    """Forget cached cadence (tests that create or remove checkpoints directly)."""
    global _cadence
    _cadence = None
