"""The RFC 6962 / RFC 9162 Merkle definitions, recursive and straight from the text.

The reference walk that production's ``replay.merkle.LevelTree`` is checked against: slow
(every call rehashes its leaves) and written for reading beside RFC 9162 §2.1.1 (``MTH``),
§2.1.3.1 (``PATH``) and §2.1.4.1 (``PROOF`` and ``SUBPROOF``), not for use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def _k(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n > 1``)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def reference_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """``MTH(D[n])`` of the leaves whose hashes are given."""
    n = len(leaf_hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hashes[0]
    k = _k(n)
    return hashlib.sha256(
        b"\x01" + reference_root(leaf_hashes[:k]) + reference_root(leaf_hashes[k:])
    ).digest()


def reference_path(m: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """``PATH(m, D[n])``: the inclusion proof of leaf ``m``, bottom-up."""
    n = len(leaf_hashes)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*reference_path(m, leaf_hashes[:k]), reference_root(leaf_hashes[k:])]
    return [*reference_path(m - k, leaf_hashes[k:]), reference_root(leaf_hashes[:k])]


def reference_proof(m: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """``PROOF(m, D[n])``: the consistency proof from the tree of the first ``m`` leaves."""
    return _subproof(m, leaf_hashes, complete=True)


def _subproof(m: int, leaf_hashes: Sequence[bytes], *, complete: bool) -> list[bytes]:
    n = len(leaf_hashes)
    if m == n:
        return [] if complete else [reference_root(leaf_hashes)]
    k = _k(n)
    if m <= k:
        return [*_subproof(m, leaf_hashes[:k], complete=complete), reference_root(leaf_hashes[k:])]
    return [
        *_subproof(m - k, leaf_hashes[k:], complete=False),
        reference_root(leaf_hashes[:k]),
    ]
