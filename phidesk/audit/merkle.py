"""Merkle proofs from the database: subtree hashes from stored tiles plus a few events.

Tiles are the hashes of aligned perfect subtrees of 2**8, 2**16, ... events, stored when
a checkpoint is made. Any subtree hash then needs at most 128 tiles or 128 events, so
an O(log n) inclusion proof costs a few dozen small queries, not a pass over the log.
"""

from __future__ import annotations

from dataclasses import dataclass

from phidesk.audit.models import Checkpoint, MerkleTile
from phidesk.audit.standalone_verify import (
    inclusion_path_ranges,
    leaf_hash,
    node_hash,
    subtree_sizes,
    verify_inclusion,
)
from phidesk.audit.stream import rows

TILE_STEP = 8


class ProofUnavailable(LookupError):
    """The events a proof needs are missing (or not yet covered by a checkpoint)."""


def is_tile_level(height: int) -> bool:
    return height > 0 and height % TILE_STEP == 0


def _fold_perfect(hashes: list[bytes]) -> bytes:
    while len(hashes) > 1:
        hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


def _leaves(start: int, count: int) -> list[bytes]:
    found = [
        (row.seq, leaf_hash(row.canonical)) for row in rows(start=start + 1, end=start + count)
    ]
    if [seq for seq, _ in found] != list(range(start + 1, start + count + 1)):
        raise ProofUnavailable(f"events #{start + 1}..#{start + count} are not all present")
    return [leaf for _, leaf in found]


def perfect_subtree_hash(start: int, height: int) -> bytes:
    """The hash of leaves [start, start + 2**height); `start` is a multiple of 2**height."""
    if height < TILE_STEP:
        return _fold_perfect(_leaves(start, 1 << height))
    level = height - height % TILE_STEP
    first, count = start >> level, 1 << (height - level)
    stored = dict(
        MerkleTile.objects.filter(
            level=level, index__gte=first, index__lt=first + count
        ).values_list("index", "hash")
    )
    if len(stored) == count:
        return _fold_perfect([bytes.fromhex(stored[i]) for i in range(first, first + count)])
    half = 1 << (height - 1)
    return node_hash(
        perfect_subtree_hash(start, height - 1), perfect_subtree_hash(start + half, height - 1)
    )


def range_hash(start: int, end: int) -> bytes:
    """RFC 9162 MTH of leaves [start, end) for the ranges an audit path names."""
    pieces = [perfect_subtree_hash(s, h) for s, h in subtree_sizes(start, end)]
    acc = pieces[-1]
    for digest in reversed(pieces[:-1]):
        acc = node_hash(digest, acc)
    return acc


def compact_range(start: int, end: int) -> list[tuple[int, bytes]]:
    """(height, hash) of the aligned perfect subtrees covering leaves [start, end)."""
    return [(h, perfect_subtree_hash(s, h)) for s, h in subtree_sizes(start, end)]


@dataclass(frozen=True)
class InclusionProof:
    seq: int
    tree_size: int
    leaf_hash: bytes
    path: list[bytes]
    checkpoint_note: str

    @property
    def index(self) -> int:
        return self.seq - 1

    def verify(self, root: bytes) -> bool:
        return verify_inclusion(self.index, self.tree_size, self.leaf_hash, self.path, root)


def covering_checkpoint(seq: int) -> Checkpoint | None:
    """The earliest checkpoint that includes event `seq` (smallest proof)."""
    return Checkpoint.objects.filter(tree_size__gte=seq).order_by("tree_size").first()


def inclusion_proof(*, seq: int, tree_size: int | None = None) -> InclusionProof:
    """The O(log n) audit path for event `seq` in a checkpointed tree (default: earliest)."""
    checkpoint = (
        covering_checkpoint(seq)
        if tree_size is None
        else Checkpoint.objects.filter(tree_size=tree_size).first()
    )
    if checkpoint is None or checkpoint.tree_size < seq or seq < 1:
        raise ProofUnavailable(f"no checkpoint covers event #{seq} yet")
    size = checkpoint.tree_size
    leaf = _leaves(seq - 1, 1)[0]
    path = [range_hash(a, b) for a, b in inclusion_path_ranges(seq - 1, size)]
    return InclusionProof(
        seq=seq, tree_size=size, leaf_hash=leaf, path=path, checkpoint_note=checkpoint.note
    )
