"""The whole-tree proof maker agrees with replay.merkle's one-pass proofs, for every shape."""

from __future__ import annotations

import hashlib

from replay.merkle import consistency_proof, inclusion_proof, root_hash
from replay.tree import LevelTree


def _leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(b"\x00" + i.to_bytes(4, "big")).digest() for i in range(n)]


def test_roots_and_proofs_match_the_reference_for_every_size_up_to_40() -> None:
    leaves = _leaves(40)
    tree = LevelTree(leaves)
    for size in range(1, 41):
        assert tree.root(size) == root_hash(leaves[:size])
        for index in range(size):
            assert tree.inclusion_proof(index, size) == inclusion_proof(leaves, index, size)
        for size1 in range(1, size + 1):
            assert tree.consistency_proof(size1, size) == consistency_proof(leaves, size1, size)
