"""A whole Merkle tree kept level by level, for making many proofs from one pass.

``replay.merkle`` makes one proof from the leaf hashes in one pass over them: right for a
few proofs, too slow for an export holding thousands (each would rehash the log). Here every
level of the tree's perfect subtrees is kept (about twice the leaf hashes in memory: 64 MB for a
million events), so any subtree root — and so any RFC 9162 inclusion or consistency proof —
costs O(log² n) hashes at most. The proofs are the same as ``replay.merkle``'s (a test checks).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

_NODE = b"\x01"


class LevelTree:
    """A tree kept whole: ``levels[h][i]`` is the root of leaves ``[i·2^h, (i+1)·2^h)``."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self.size = len(leaf_hashes)
        levels: list[list[bytes]] = [list(leaf_hashes)]
        sha256 = hashlib.sha256
        while len(levels[-1]) > 1:
            below = levels[-1]
            levels.append(
                [
                    sha256(_NODE + below[i] + below[i + 1]).digest()
                    for i in range(0, len(below) - 1, 2)
                ]
            )
        self.levels = levels

    def subtree_root(self, lo: int, hi: int) -> bytes:
        """The Merkle tree hash of leaves ``[lo, hi)`` (``hi > lo``), as RFC 9162 defines it."""
        n = hi - lo
        height = n.bit_length() - 1
        if n == 1 << height and lo % n == 0:
            return self.levels[height][lo >> height]
        k = 1 << ((n - 1).bit_length() - 1)
        left = self.subtree_root(lo, lo + k)
        right = self.subtree_root(lo + k, hi)
        return hashlib.sha256(_NODE + left + right).digest()

    def root(self, size: int) -> bytes:
        """The root of the tree of the first ``size`` leaves (``size >= 1``)."""
        return self.subtree_root(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """``PATH(index, D[0:size])`` (RFC 9162 §2.1.3.1), bottom-up."""
        if not 0 <= index < size <= self.size:
            msg = f"no inclusion proof for leaf {index} in a tree of {size} (have {self.size})"
            raise ValueError(msg)
        proof: list[bytes] = []
        lo, hi, m = 0, size, index
        while hi - lo > 1:
            k = 1 << ((hi - lo - 1).bit_length() - 1)
            if m < k:
                proof.append(self.subtree_root(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self.subtree_root(lo, lo + k))
                lo, m = lo + k, m - k
        proof.reverse()
        return proof

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """``PROOF(size1, D[0:size2])`` (RFC 9162 §2.1.4.1), bottom-up."""
        if not 0 < size1 <= size2 <= self.size:
            msg = f"no consistency proof from {size1} to {size2} (have {self.size})"
            raise ValueError(msg)
        proof: list[bytes] = []
        lo, hi, m, complete = 0, size2, size1, True
        while m != hi - lo:
            k = 1 << ((hi - lo - 1).bit_length() - 1)
            if m <= k:
                proof.append(self.subtree_root(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self.subtree_root(lo, lo + k))
                lo, m, complete = lo + k, m - k, False
        if not complete:
            proof.append(self.subtree_root(lo, hi))
        proof.reverse()
        return proof
