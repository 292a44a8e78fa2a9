#!/usr/bin/env python3
"""Verify a PHIdesk audit bundle offline, without trusting the system that wrote it.

    python standalone_verify.py bundle.jsonl --public-key key.pub

Needs only the Python standard library and `cryptography`. The same file holds the
primitives the server itself uses (canonical serialization, the RFC 9162 Merkle tree,
C2SP signed notes), so the auditor's check and the server's check cannot drift apart.

What it proves: every event in the bundle hashes to its stored hash, links to its
predecessor, runs without gaps, and, together with the compact ranges around it, yields
the root of a checkpoint signed by the key in `key.pub` (obtain that key out of band,
never from the bundle). Exit status: 0 valid, 1 tampered or incomplete, 2 unusable input.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

BUNDLE_FORMAT = "phidesk.audit.bundle/1"
GENESIS = "0" * 64

# The fields every event hash covers. The canonical form is these fields as compact
# JSON with sorted keys (nested objects too), UTF-8, non-ASCII left as is, and
# `occurred_at` as ISO 8601 UTC with microseconds and a `Z`.
CHAINED_FIELDS = (
    "seq",
    "occurred_at",
    "organization_id",
    "actor_user_id",
    "actor_token_id",
    "actor_session",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "reason",
    "ip",
    "user_agent",
    "device_id",
    "detail",
    "prev_hash",
)

_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def canonical_json(body: Mapping[str, Any]) -> bytes:
    """The bytes an event hash covers; `occurred_at` must already be the canonical string."""
    return _dumps({name: body[name] for name in CHAINED_FIELDS}).encode()


def canonical_json_exact(body: dict[str, Any]) -> bytes:
    """`canonical_json` for a dict holding exactly the chained fields (the hot path)."""
    return _dumps(body).encode()


def chain_hash(canonical: bytes) -> str:
    """An event's own hash, as stored in `hash` and in the next event's `prev_hash`."""
    return hashlib.sha256(canonical).hexdigest()


# --- RFC 9162 Merkle tree ----------------------------------------------------------

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: a leaf is SHA-256(0x00 || entry)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: an interior node is SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = _sha256(b"").digest()


def largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162: the largest power of two strictly smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_sizes(start: int, end: int) -> list[tuple[int, int]]:
    """Split leaves [start, end) into maximal aligned perfect subtrees: (start, height)."""
    pieces: list[tuple[int, int]] = []
    while start < end:
        height = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while (1 << height) > end - start:
            height -= 1
        pieces.append((start, height))
        start += 1 << height
    return pieces


@dataclass
class CompactRange:
    """The right edge of a growing tree: the perfect subtrees covering leaves [0, size).

    Appending a leaf costs two hashes on average and the state stays O(log n), so a
    checkpoint extends the previous one instead of rehashing the whole log.
    """

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)
    heights: list[int] = field(default_factory=list)
    # Called as (height, index, hash) for every perfect subtree completed by an append.
    on_subtree: Callable[[int, int, bytes], None] | None = None

    @classmethod
    def from_hashes(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        heights = [start_height[1] for start_height in subtree_sizes(0, size)]
        if len(heights) != len(hashes):
            raise ValueError(f"a compact range of size {size} has {len(heights)} hashes")
        return cls(size=size, hashes=list(hashes), heights=heights)

    def append(self, leaf: bytes) -> None:
        self.append_subtree(0, leaf)

    def append_subtree(self, height: int, digest: bytes) -> None:
        """Append an aligned perfect subtree of 2**height leaves."""
        if self.size % (1 << height):
            raise ValueError("subtree is not aligned with the range")
        hashes, heights = self.hashes, self.heights
        self.size += 1 << height
        while heights and heights[-1] == height:
            digest = node_hash(hashes.pop(), digest)
            heights.pop()
            height += 1
            if self.on_subtree is not None:
                self.on_subtree(height, (self.size >> height) - 1, digest)
        hashes.append(digest)
        heights.append(height)

    def extend(self, leaves: Sequence[bytes]) -> None:
        """Append many leaves; aligned blocks of 256 are folded in one tight loop."""
        i, n, sha = 0, len(leaves), _sha256
        while i < n:
            if self.size % 256 or n - i < 256:
                self.append_subtree(0, leaves[i])
                i += 1
                continue
            level = leaves[i : i + 256]
            while len(level) > 1:
                pairs = zip(level[::2], level[1::2], strict=True)
                level = [sha(b"\x01" + left + right).digest() for left, right in pairs]
            if self.on_subtree is not None:
                self.on_subtree(8, self.size >> 8, level[0])
            self.append_subtree(8, level[0])
            i += 256

    def root(self) -> bytes:
        """RFC 9162 MTH over the leaves so far: fold the subtrees right to left."""
        if not self.hashes:
            return EMPTY_ROOT
        acc = self.hashes[-1]
        for digest in reversed(self.hashes[:-1]):
            acc = node_hash(digest, acc)
        return acc


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 9162 MTH computed from its recursive definition (reference for tests)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = largest_power_of_two_below(len(leaves))
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def inclusion_path_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes form the RFC 9162 audit path, leaf to root order."""
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = largest_power_of_two_below(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo = lo + k
    ranges.reverse()
    return ranges


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root an audit path implies (raises on a malformed path)."""
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ValueError("audit path is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("audit path is too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """True when `proof` shows leaf number `index` is in the tree of `size` with `root`."""
    try:
        return root_from_inclusion_proof(index, size, leaf, proof) == root
    except ValueError:
        return False


# --- C2SP signed notes and tlog checkpoints -----------------------------------------

ED25519 = b"\x01"
SIG_PREFIX = "\u2014 "  # an em dash and a space start every signature line


class NoteError(ValueError):
    """A note, key or checkpoint that is malformed or does not verify."""


def _check_key_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError("a key name must be non-empty, without spaces or '+'")


def key_id(name: str, public_key: bytes) -> bytes:
    """signed-note key ID: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || key)."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The `name+hex(id)+base64(0x01||key)` text form of an Ed25519 verifier key."""
    _check_key_name(name)
    encoded = base64.b64encode(ED25519 + public_key).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def signer_key(name: str, seed: bytes) -> str:
    """The `PRIVATE+KEY+name+hex(id)+base64(0x01||seed)` form (keep it secret)."""
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    encoded = base64.b64encode(ED25519 + seed).decode()
    return f"PRIVATE+KEY+{name}+{key_id(name, public).hex()}+{encoded}"


@dataclass(frozen=True)
class VerifierKey:
    name: str
    id: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError("a verifier key is name+hash+key")
        name, id_hex, encoded = parts
        _check_key_name(name)
        try:
            raw = base64.b64decode(encoded, validate=True)
            wanted = bytes.fromhex(id_hex)
        except (binascii.Error, ValueError) as exc:
            raise NoteError("the verifier key is not valid base64/hex") from exc
        if len(raw) != 33 or raw[:1] != ED25519 or len(wanted) != 4:
            raise NoteError("only Ed25519 verifier keys are supported")
        if key_id(name, raw[1:]) != wanted:
            raise NoteError("the verifier key's hash does not match its name and key")
        return cls(name=name, id=wanted, public_key=Ed25519PublicKey.from_public_bytes(raw[1:]))

    def text(self) -> str:
        return verifier_key(self.name, self.public_key.public_bytes_raw())


def parse_signer_key(text: str) -> tuple[str, Ed25519PrivateKey]:
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise NoteError("a signer key is PRIVATE+KEY+name+hash+key")
    name, id_hex, encoded = parts[2], parts[3], parts[4]
    _check_key_name(name)
    raw = base64.b64decode(encoded, validate=True)
    if len(raw) != 33 or raw[:1] != ED25519:
        raise NoteError("only Ed25519 signer keys are supported")
    private = Ed25519PrivateKey.from_private_bytes(raw[1:])
    if key_id(name, private.public_key().public_bytes_raw()).hex() != id_hex:
        raise NoteError("the signer key's hash does not match its name and key")
    return name, private


def sign_note(text: str, name: str, sign: Callable[[bytes], bytes], public_key: bytes) -> str:
    """A signed note: the text, a blank line, and one signature line."""
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("note text must end in a newline and contain no blank line")
    signature = sign(text.encode())
    blob = base64.b64encode(key_id(name, public_key) + signature).decode()
    return f"{text}\n{SIG_PREFIX}{name} {blob}\n"


def open_note(note: str, keys: Iterable[VerifierKey]) -> tuple[str, VerifierKey]:
    """The note's text and the trusted key that signed it; raises NoteError otherwise."""
    text, sep, signatures = note.rpartition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise NoteError("malformed note: no signature block")
    text += "\n"
    trusted = {(k.name, k.id): k for k in keys}
    seen_known = False
    for line in signatures[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise NoteError("malformed signature line")
        name, _, blob = line[len(SIG_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(blob, validate=True)
        except binascii.Error as exc:
            raise NoteError("signature is not base64") from exc
        key = trusted.get((name, raw[:4]))
        if key is None or len(raw) != 68:
            continue
        seen_known = True
        try:
            key.public_key.verify(raw[4:], text.encode())
        except InvalidSignature:
            continue
        return text, key
    if seen_known:
        raise NoteError("bad signature: the note does not verify with the trusted key")
    raise NoteError("the note carries no signature from a trusted key")


@dataclass(frozen=True)
class CheckpointBody:
    origin: str
    tree_size: int
    root_hash: bytes

    def text(self) -> str:
        root = base64.b64encode(self.root_hash).decode()
        return f"{self.origin}\n{self.tree_size}\n{root}\n"

    @classmethod
    def parse(cls, text: str) -> CheckpointBody:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
            raise NoteError("a checkpoint is origin, tree size and root hash lines")
        origin, size, root = lines[0], lines[1], lines[2]
        if not size.isdigit() or (size.startswith("0") and size != "0"):
            raise NoteError("the tree size is not a decimal number")
        try:
            root_hash = base64.b64decode(root, validate=True)
        except binascii.Error as exc:
            raise NoteError("the root hash is not base64") from exc
        if len(root_hash) != 32:
            raise NoteError("the root hash is not 32 bytes")
        return cls(origin=origin, tree_size=int(size), root_hash=root_hash)


def open_checkpoint(note: str, keys: Iterable[VerifierKey]) -> CheckpointBody:
    text, _ = open_note(note, keys)
    return CheckpointBody.parse(text)


# --- Bundles -------------------------------------------------------------------------


@dataclass
class BundleReport:
    ok: bool = True
    events: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoints: list[int] = field(default_factory=list)
    problem: str = ""
    problem_seq: int | None = None

    def fail(self, message: str, seq: int | None = None) -> BundleReport:
        self.ok = False
        self.problem = message
        self.problem_seq = seq
        return self


def _hex_list(values: Any, what: str) -> list[bytes]:
    if not isinstance(values, list):
        raise NoteError(f"{what} must be a list of hashes")
    return [bytes.fromhex(v) for v in values]


def verify_bundle(lines: Iterable[str], trusted: VerifierKey) -> BundleReport:
    """Check one bundle line by line; stops at the first problem and names it."""
    report = BundleReport()
    records: Iterator[dict[str, Any]] = (json.loads(line) for line in lines if line.strip())
    header = next(records, None)
    if not header or header.get("type") != "header" or header.get("format") != BUNDLE_FORMAT:
        return report.fail(f"not a {BUNDLE_FORMAT} bundle (first line must be its header)")
    if header.get("public_key") != trusted.text():
        return report.fail(
            "the bundle names a different signing key than the one you trust: "
            f"{header.get('public_key')!r}"
        )
    origin = header.get("origin")
    from_seq, to_seq = int(header["from_seq"]), int(header["to_seq"])
    checkpoints: dict[int, CheckpointBody] = {}
    left: CompactRange | None = None
    right: list[tuple[int, int, bytes]] = []
    expected = from_seq
    prev: str | None = GENESIS if from_seq == 1 else None
    tree: CompactRange | None = None
    for record in records:
        kind = record.get("type")
        if kind == "checkpoint":
            try:
                body = open_checkpoint(record["note"], [trusted])
            except NoteError as exc:
                return report.fail(f"checkpoint {record.get('tree_size')}: {exc}")
            if body.origin != origin:
                return report.fail(f"checkpoint {body.tree_size} is for another log: {body.origin}")
            checkpoints[body.tree_size] = body
        elif kind == "left":
            size = int(record["size"])
            if size != from_seq - 1:
                return report.fail("the left compact range does not end before the first event")
            left = CompactRange.from_hashes(size, _hex_list(record["hashes"], "left"))
        elif kind == "event":
            if tree is None:
                if left is None:
                    return report.fail("the bundle has no left compact range before its events")
                tree = left
                at_left = checkpoints.get(tree.size)
                if at_left is not None:
                    if at_left.root_hash != tree.root():
                        return report.fail(f"checkpoint {tree.size} does not match the left range")
                    report.checkpoints.append(tree.size)
            seq = record.get("seq")
            if seq != expected:
                what = "missing" if isinstance(seq, int) and seq > expected else "out of order"
                return report.fail(f"event #{expected} is {what} (found #{seq})", expected)
            canonical = canonical_json(record)
            if chain_hash(canonical) != record.get("hash"):
                return report.fail(
                    f"event #{seq} was changed: its content no longer hashes to its hash", seq
                )
            if prev is not None and record["prev_hash"] != prev:
                return report.fail(f"event #{seq} does not link to event #{seq - 1}", seq)
            prev = record["hash"]
            tree.append(leaf_hash(canonical))
            report.events += 1
            report.first_seq = report.first_seq or seq
            report.last_seq = seq
            expected += 1
            signed = checkpoints.get(tree.size)
            if signed is not None:
                if signed.root_hash != tree.root():
                    return report.fail(
                        f"events up to #{seq} do not match signed checkpoint {tree.size}", seq
                    )
                report.checkpoints.append(tree.size)
        elif kind == "right":
            start = int(record["start"])
            for index, digest in enumerate(_hex_list(record["hashes"], "right")):
                right.append((start, int(record["heights"][index]), digest))
                start += 1 << int(record["heights"][index])
        elif kind == "end":
            break
        else:
            return report.fail(f"unknown bundle line type {kind!r}")
    if tree is None:
        return report.fail("the bundle holds no events")
    if expected != to_seq + 1:
        return report.fail(
            f"the bundle ends at #{expected - 1}, its header says #{to_seq}", expected
        )
    for start, height, digest in right:
        if start != tree.size:
            return report.fail("the right compact range does not follow the last event")
        tree.append_subtree(height, digest)
    covering = checkpoints.get(tree.size)
    if covering is None:
        return report.fail(f"no signed checkpoint covers the bundle (tree size {tree.size})")
    if tree.size not in report.checkpoints:
        if covering.root_hash != tree.root():
            return report.fail(f"the events do not match signed checkpoint {tree.size}")
        report.checkpoints.append(tree.size)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("bundle", help="a bundle written by `phidesk audit export`")
    parser.add_argument("--public-key", required=True, help="file holding the verifier key")
    args = parser.parse_args(argv)
    try:
        with open(args.public_key, encoding="utf-8") as fh:
            trusted = VerifierKey.parse(fh.read())
        with open(args.bundle, encoding="utf-8") as fh:
            report = verify_bundle(fh, trusted)
    except (OSError, NoteError, ValueError, KeyError, TypeError) as exc:
        print(f"UNUSABLE: {exc}", file=sys.stderr)
        return 2
    if not report.ok:
        print(f"FAIL: {report.problem}")
        return 1
    print(
        f"OK: {report.events} events #{report.first_seq}..#{report.last_seq} verified; "
        f"signed checkpoints at tree sizes {', '.join(map(str, report.checkpoints))} "
        f"by {trusted.name} ({trusted.id.hex()})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
