"""The RFC 9162 tree: known answers, the compact range, and audit paths."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phidesk.audit.standalone_verify import (
    EMPTY_ROOT,
    CompactRange,
    inclusion_path_ranges,
    leaf_hash,
    merkle_root,
    node_hash,
    root_from_inclusion_proof,
    subtree_sizes,
    verify_inclusion,
)

# Certificate Transparency's test leaves and the roots of their first 1..8 (RFC 6962/9162).
CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
             "606162636465666768696a6b6c6d6e6f"]  # fmt: skip
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(str(i).encode()) for i in range(n)]


def test_known_answers_from_certificate_transparency():
    tree = CompactRange()
    for size, (data, root) in enumerate(zip(CT_LEAVES, CT_ROOTS, strict=True), 1):
        tree.append(leaf_hash(bytes.fromhex(data)))
        assert tree.root().hex() == root, size
        assert merkle_root([leaf_hash(bytes.fromhex(d)) for d in CT_LEAVES[:size]]).hex() == root


def test_leaf_and_node_are_domain_separated():
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert CompactRange().root() == EMPTY_ROOT


@given(st.integers(min_value=1, max_value=600))
def test_compact_range_root_equals_the_recursive_definition(n: int):
    tree = CompactRange()
    for leaf in leaves(n):
        tree.append(leaf)
    assert tree.root() == merkle_root(leaves(n))
    again = CompactRange.from_hashes(n, tree.hashes)
    assert again.root() == tree.root()
    assert len(tree.hashes) == bin(n).count("1")


def test_completed_subtrees_are_reported_with_their_index():
    seen: dict[tuple[int, int], bytes] = {}
    tree = CompactRange(on_subtree=lambda h, i, d: seen.__setitem__((h, i), d))
    data = leaves(1000)
    for leaf in data:
        tree.append(leaf)
    assert seen[(8, 0)] == merkle_root(data[:256])
    assert seen[(8, 2)] == merkle_root(data[512:768])
    assert seen[(9, 0)] == merkle_root(data[:512])
    assert (8, 3) not in seen  # 768..1024 is not complete


@given(st.integers(min_value=1, max_value=300), st.data())
def test_every_audit_path_verifies_and_a_wrong_one_does_not(n: int, data: st.DataObject):
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    all_leaves = leaves(n)
    root = merkle_root(all_leaves)
    path = [merkle_root(all_leaves[a:b]) for a, b in inclusion_path_ranges(index, n)]
    assert verify_inclusion(index, n, all_leaves[index], path, root)
    assert len(path) <= max(1, (n - 1).bit_length())
    assert not verify_inclusion(index, n, leaf_hash(b"forged"), path, root)
    if path:
        assert not verify_inclusion(index, n, all_leaves[index], path[:-1], root)
        assert not verify_inclusion(index, n, all_leaves[index], [*path, path[0]], root)
        bent = [bytes(32), *path[1:]]
        assert not verify_inclusion(index, n, all_leaves[index], bent, root)
    if n > 1:
        other = (index + 1) % n
        assert not verify_inclusion(other, n, all_leaves[index], path, root) or (
            all_leaves[other] == all_leaves[index]
        )


def test_out_of_range_index_is_refused():
    with pytest.raises(ValueError):
        root_from_inclusion_proof(5, 5, leaf_hash(b""), [])
    assert not verify_inclusion(7, 5, leaf_hash(b""), [], EMPTY_ROOT)


@given(st.integers(min_value=0, max_value=5000), st.integers(min_value=0, max_value=5000))
def test_subtree_split_is_aligned_and_covers_the_range(a: int, b: int):
    start, end = min(a, b), max(a, b)
    pos = start
    for s, h in subtree_sizes(start, end):
        assert s == pos and s % (1 << h) == 0
        pos += 1 << h
    assert pos == end
