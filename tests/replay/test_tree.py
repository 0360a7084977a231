"""The production proof maker (``replay.merkle.LevelTree``) agrees with the RFC's definitions.

The reference is the recursive walk of RFC 9162 §2.1 (``tests.support.rfc6962_reference``);
the published vectors are checked in ``test_merkle`` and ``test_merkle_vectors``.
"""

from __future__ import annotations

import hashlib

from replay.merkle import LevelTree, root_hash
from tests.support.rfc6962_reference import reference_path, reference_proof, reference_root


def _leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(b"\x00" + i.to_bytes(4, "big")).digest() for i in range(n)]


def test_roots_and_proofs_match_the_reference_for_every_size_up_to_40() -> None:
    leaves = _leaves(40)
    tree = LevelTree(leaves)
    for size in range(1, 41):
        assert tree.root(size) == root_hash(leaves[:size]) == reference_root(leaves[:size])
        for index in range(size):
            assert tree.inclusion_proof(index, size) == reference_path(index, leaves[:size])
        for size1 in range(1, size + 1):
            assert tree.consistency_proof(size1, size) == reference_proof(size1, leaves[:size])
