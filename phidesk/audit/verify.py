"""`phidesk audit verify`: prove the log is intact, or name the first bad event and why.

Checks, in order: every checkpoint (database and WORM copies) is signed by a trusted
key and the copies agree; then one pass over the events in seq order recomputes each
hash, follows each link, checks seq continuity and recomputes the Merkle root at every
checkpoint; finally no checkpoint may cover events that are gone (a truncated tail).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Max

from phidesk.audit import conf, worm
from phidesk.audit.models import AuditEvent, Checkpoint, MerkleTile
from phidesk.audit.signing import trusted_verifier_keys
from phidesk.audit.standalone_verify import (
    GENESIS,
    CheckpointBody,
    CompactRange,
    NoteError,
    VerifierKey,
    canonical_json,
    chain_hash,
    open_checkpoint,
)
from phidesk.audit.stream import Row, rows

PROGRESS_EVERY = 10_000
TILE_LEVEL = 8


@dataclass(frozen=True)
class Problem:
    """What is wrong. `kind` is one of: changed, deleted, inserted, reordered, rewritten,
    truncated, bad_signature, forked."""

    kind: str
    seq: int | None
    message: str


@dataclass
class VerifyReport:
    start_seq: int = 1
    events: int = 0
    last_seq: int = 0
    checkpoints: int = 0
    checkpoints_checked: list[int] = field(default_factory=list)
    uncovered: int = 0
    warnings: list[str] = field(default_factory=list)
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class _Signed:
    tree_size: int
    root: bytes
    frontier: list[str] | None = None
    where: str = "database"


class _Failed(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _open(note: str, keys: list[VerifierKey], where: str, size: int) -> CheckpointBody:
    try:
        body = open_checkpoint(note, keys)
    except NoteError as exc:
        raise _Failed(
            Problem("bad_signature", None, f"checkpoint {size} ({where}): {exc}")
        ) from exc
    if body.tree_size != size:
        raise _Failed(
            Problem(
                "bad_signature",
                None,
                f"checkpoint {size} ({where}) signs tree size {body.tree_size}",
            )
        )
    if body.origin != conf.origin():
        raise _Failed(
            Problem("bad_signature", None, f"checkpoint {size} ({where}) is for log {body.origin}")
        )
    return body


def _signed_checkpoints(keys: list[VerifierKey], report: VerifyReport) -> list[_Signed]:
    """Every validly signed checkpoint, from the database and the WORM store."""
    signed: dict[int, _Signed] = {}
    notes: dict[int, str] = {}
    for size, root_hex, note, frontier in Checkpoint.objects.order_by("tree_size").values_list(
        "tree_size", "root_hash", "note", "frontier"
    ):
        body = _open(note, keys, "database", size)
        if body.root_hash.hex() != root_hex:
            raise _Failed(
                Problem("bad_signature", None, f"checkpoint {size}: row root differs from its note")
            )
        signed[size] = _Signed(size, body.root_hash, list(frontier))
        notes[size] = note
    in_worm: set[int] = set()
    for size, note, path in worm.store().checkpoints():
        body = _open(note, keys, path, size)
        in_worm.add(size)
        known = signed.get(size)
        if known is None:
            report.warnings.append(f"checkpoint {size} is in the WORM store but not the database")
            signed[size] = _Signed(size, body.root_hash, None, path)
        elif known.root != body.root_hash:
            raise _Failed(
                Problem(
                    "forked",
                    None,
                    f"two signed checkpoints for tree size {size} disagree (database and {path}): "
                    "the log was rewritten and re-signed",
                )
            )
    missing = sorted(set(notes) - in_worm)
    if missing:
        report.warnings.append(
            f"{len(missing)} checkpoint(s) are not in the WORM store (first: {missing[0]}); "
            "`phidesk audit checkpoint` writes them"
        )
    return [signed[size] for size in sorted(signed)]


def _seq_of_hash(digest: str) -> int | None:
    found = AuditEvent.objects.filter(hash=digest).values_list("seq", flat=True).first()
    return int(found) if found is not None else None


def _original_seq(row: Row) -> int | None:
    """The seq this event's stored hash was computed with, if it was renumbered nearby."""
    body = json.loads(row.canonical)
    for delta in (1, -1, 2, -2, 3, -3, 4, -4):
        body["seq"] = row.seq + delta
        if chain_hash(canonical_json(body)) == row.hash:
            return row.seq + delta
    return None


def _explain(row: Row, expected: int, prev: str | None) -> Problem:
    """Why the event at position `expected` breaks the chain (only runs on failure)."""
    seq = row.seq
    if seq > expected:
        last = seq - 1
        gone = f"#{expected}" if last == expected else f"#{expected}..#{last}"
        return Problem(
            "deleted", expected, f"event {gone} deleted: the next stored event is #{seq}"
        )
    points_to = _seq_of_hash(row.prev_hash)
    if points_to is not None and points_to > seq:
        return Problem(
            "reordered", seq, f"event #{seq} is out of order: in the chain it follows #{points_to}"
        )
    if chain_hash(row.canonical) != row.hash:
        original = _original_seq(row)
        if original is not None and original > seq:
            return Problem(
                "deleted",
                seq,
                f"event #{seq} was originally #{original}: events before it were deleted "
                "and the rest renumbered",
            )
        if original is not None:
            return Problem(
                "inserted",
                original,
                f"an event was inserted at #{original}; the events after it were renumbered",
            )
        return Problem(
            "changed", seq, f"event #{seq} was changed: its content no longer matches its hash"
        )
    if points_to is None:
        return Problem(
            "inserted",
            seq,
            f"event #{seq} was inserted (forged): it links to no event of this log",
        )
    return Problem(
        "inserted",
        points_to + 1,
        f"events #{points_to + 1}..#{seq - 1} were inserted: #{seq} links to #{points_to}",
    )


def _rewritten(after: int, size: int, recomputed: dict[int, bytes]) -> Problem:
    """Localize a root mismatch with the tiles stored when the checkpoint was made."""
    first_tile, last_tile = after >> TILE_LEVEL, size >> TILE_LEVEL
    stored = dict(
        MerkleTile.objects.filter(
            level=TILE_LEVEL, index__gte=first_tile, index__lt=last_tile
        ).values_list("index", "hash")
    )
    lo, hi = after + 1, size
    for index in range(first_tile, last_tile):
        digest = recomputed.get(index)
        if index in stored and digest is not None and stored[index] != digest.hex():
            lo = max(lo, (index << TILE_LEVEL) + 1)
            hi = min(hi, (index + 1) << TILE_LEVEL)
            break
        if index in stored and digest is not None:
            lo = max(lo, ((index + 1) << TILE_LEVEL) + 1)
    return Problem(
        "rewritten",
        lo,
        f"events #{lo}..#{hi} no longer match signed checkpoint {size}: they were rewritten "
        "and re-hashed after signing",
    )


def verify_log(
    *,
    from_seq: int = 1,
    keys: list[VerifierKey] | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Check the whole log (or from `from_seq`, starting at the checkpoint before it)."""
    report = VerifyReport()
    try:
        _verify(report, from_seq, keys or trusted_verifier_keys(), progress)
    except _Failed as failed:
        report.problem = failed.problem
    return report


def _start(signed: list[_Signed], from_seq: int) -> tuple[CompactRange, str | None]:
    """The verified state just before `from_seq`: a checkpoint's compact range."""
    for cp in reversed(signed):
        if cp.tree_size >= from_seq or cp.frontier is None:
            continue
        tree = CompactRange.from_hashes(cp.tree_size, [bytes.fromhex(h) for h in cp.frontier])
        if tree.root() != cp.root:
            continue
        before = next(iter(rows(start=cp.tree_size, end=cp.tree_size)), None)
        if before is None:
            return tree, None
        if chain_hash(before.canonical) != before.hash:
            raise _Failed(_explain(before, before.seq, None))
        return tree, before.hash
    return CompactRange(), GENESIS


def total_events(from_seq: int = 1) -> int:
    newest = AuditEvent.objects.aggregate(m=Max("seq"))["m"] or 0
    return max(0, newest - from_seq + 1)


def _verify(
    report: VerifyReport,
    from_seq: int,
    keys: list[VerifierKey],
    progress: Callable[[int], None] | None,
) -> None:
    signed = _signed_checkpoints(keys, report)
    report.checkpoints = len(signed)
    tree, prev = _start(signed, max(1, from_seq))
    report.start_seq = tree.size + 1
    pending = [cp for cp in signed if cp.tree_size > tree.size]
    recomputed: dict[int, bytes] = {}

    def keep(height: int, index: int, digest: bytes) -> None:
        if height == TILE_LEVEL:
            recomputed[index] = digest

    tree.on_subtree = keep
    verified_size = tree.size
    next_cp = pending.pop(0) if pending else None
    stop = next_cp.tree_size if next_cp else 2**62
    expected = tree.size + 1
    leaves: list[bytes] = []
    sha = hashlib.sha256
    count = 0
    for row in rows(start=expected):
        canonical = row.canonical
        digest = sha(canonical).hexdigest()
        if (
            row.seq != expected
            or digest != row.hash
            or (prev is not None and row.prev_hash != prev)
        ):
            raise _Failed(_explain(row, expected, prev))
        leaves.append(sha(b"\x00" + canonical).digest())
        prev = digest
        expected += 1
        if expected > stop or len(leaves) == PROGRESS_EVERY:
            tree.extend(leaves)
            count += len(leaves)
            leaves.clear()
            if progress is not None:
                progress(count)
        if expected > stop:
            assert next_cp is not None
            if tree.root() != next_cp.root:
                raise _Failed(_rewritten(verified_size, next_cp.tree_size, recomputed))
            report.checkpoints_checked.append(next_cp.tree_size)
            verified_size = next_cp.tree_size
            recomputed.clear()
            next_cp = pending.pop(0) if pending else None
            stop = next_cp.tree_size if next_cp else 2**62
    tree.extend(leaves)
    count += len(leaves)
    if progress is not None:
        progress(count)
    report.events = count
    report.last_seq = expected - 1
    if next_cp is not None:
        last = expected - 1
        raise _Failed(
            Problem(
                "truncated",
                last + 1,
                f"events #{last + 1}..#{next_cp.tree_size} were deleted from the end of the log: "
                f"signed checkpoint {next_cp.tree_size} covers them",
            )
        )
    report.uncovered = max(0, report.last_seq - (signed[-1].tree_size if signed else 0))
