"""Merkle tree hashing, proofs and a streaming tree builder, as RFC 9162 (and RFC 6962) define them.

The log's events are the leaves of one Merkle tree, in stream-sequence order; a signed checkpoint
(``replay.checkpoint``) commits to the tree's size and root. From a checkpoint an auditor can be
shown that one event is in the log (an *inclusion proof*) and that a later checkpoint extends an
earlier one without altering, removing or reordering anything (a *consistency proof*).

Hashing (RFC 9162 §2.1.1), SHA-256 throughout:

- the root of the empty tree is ``SHA-256("")``;
- a leaf's hash is ``SHA-256(0x00 ‖ leaf bytes)``;
- an interior node's hash is ``SHA-256(0x01 ‖ left ‖ right)``, where the left subtree holds the
  largest power of two of leaves smaller than the node's leaf count.

Proofs are lists of 32-byte hashes in the order RFC 9162 §2.1.3 and §2.1.4 give them (the same
order as Certificate Transparency, Trillian, Tessera and transparency-dev/merkle). The verifiers
run the RFC's verification algorithms; before that they check every input's shape, so that a
failure says what was wrong: a hash that is not 32 bytes, a leaf index outside the tree, tree
sizes that cannot be compared, a proof of the wrong length, or a root that does not match.

Policy (see docs/integrity.md): every hash given to a verifier must be exactly 32 bytes, even
where the RFC algorithm would only compare it for equality; and a consistency proof from the
empty tree (``size1 == 0``) is refused, as it proves nothing.

``TreeBuilder`` computes roots of a log as it grows, holding only the compact range of the leaves
seen so far (at most one hash per bit of the tree size), so a million leaves cost 64 hashes of
memory, not a million. ``LevelTree`` keeps a whole tree to make proofs from: it is the one proof
maker (the RFC's recursive reference walk, which cross-checks it, lives in the tests).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Final

HASH_SIZE: Final = 32
"""Bytes in every hash: SHA-256."""

MAX_TREE_SIZE: Final = 2**64 - 1
"""The largest tree size any verifier accepts (RFC 9162 sizes are uint64)."""

EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
"""The root hash of the tree with no leaves, ``SHA-256("")``."""

_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"
_sha256 = hashlib.sha256


class ProofError(ValueError):
    """A Merkle proof, or a request for one, that does not hold; the message says what failed."""


class HashSizeError(ProofError):
    """A hash (leaf hash, root or proof element) that is not 32 bytes long."""


class IndexOutOfRangeError(ProofError):
    """A leaf index outside ``0 <= index < tree size``."""


class TreeSizeError(ProofError):
    """Tree sizes that cannot be proved: negative, too large, shrinking, or from the empty tree."""


class ProofLengthError(ProofError):
    """A proof with more or fewer hashes than the tree sizes and index call for."""


class RootMismatchError(ProofError):
    """A proof that leads to a root other than the one expected."""

    def __init__(self, which: str, computed: bytes, expected: bytes) -> None:
        super().__init__(which, computed, expected)
        self.which = which
        self.computed = computed
        self.expected = expected

    def __str__(self) -> str:
        # Built when shown, not when raised: verifiers raise this in tight loops.
        return (
            f"{self.which} mismatch: the proof gives {self.computed.hex()}, "
            f"expected {self.expected.hex()}"
        )


def leaf_hash(data: bytes) -> bytes:
    """The hash of a leaf whose bytes are ``data``: ``SHA-256(0x00 ‖ data)``."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: ``SHA-256(0x01 ‖ left ‖ right)``."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def root_hash(leaf_hashes: Iterable[bytes]) -> bytes:
    """The Merkle tree hash (RFC 9162 ``MTH``) of the leaves whose hashes are given, in order."""
    builder = TreeBuilder()
    builder.extend(leaf_hashes)
    return builder.root()


def root_of_entries(entries: Iterable[bytes]) -> bytes:
    """The Merkle tree hash of the leaves whose *bytes* are given (each is hashed as a leaf)."""
    builder = TreeBuilder()
    builder.extend_entries(entries)
    return builder.root()


class TreeBuilder:
    """The root of a growing log, from its leaves appended in order, in O(log n) memory.

    The builder keeps the *compact range* ``[0, size)``: the roots of the perfect subtrees that
    the binary decomposition of ``size`` splits the leaves into, largest (leftmost) first. Adding
    a leaf merges equal-sized subtrees as a binary counter carries, one node hash per carry (one
    on average), and ``root()`` folds the range from the right. ``state()`` and
    ``from_state()`` let a checkpointer persist the range and resume without re-reading the log.
    """

    __slots__ = ("_range", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._range: list[bytes] = []

    @classmethod
    def from_state(cls, size: int, hashes: Sequence[bytes]) -> TreeBuilder:
        """A builder resumed at ``size`` leaves from the compact range ``state()`` returned."""
        if size < 0 or size > MAX_TREE_SIZE:
            raise TreeSizeError(f"tree size {size} is outside 0..{MAX_TREE_SIZE}")
        if len(hashes) != size.bit_count():
            raise ProofLengthError(
                f"a compact range for tree size {size} has {size.bit_count()} hashes, "
                f"got {len(hashes)}"
            )
        for i, h in enumerate(hashes):
            _check_hash(f"compact range hash [{i}]", h)
        builder = cls()
        builder._size = size
        builder._range = [bytes(h) for h in hashes]
        return builder

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    def state(self) -> tuple[bytes, ...]:
        """The compact range: perfect-subtree roots, leftmost (largest) first."""
        return tuple(self._range)

    def append(self, leaf_hash: bytes) -> None:
        """Add the next leaf, given its leaf hash (already ``SHA-256(0x00 ‖ data)``)."""
        if len(leaf_hash) != HASH_SIZE:
            raise HashSizeError(f"leaf hash is {len(leaf_hash)} bytes, want {HASH_SIZE}")
        self._push(bytes(leaf_hash))

    def append_entry(self, data: bytes) -> bytes:
        """Add the next leaf, given its bytes; returns the leaf hash."""
        h = _sha256(_LEAF_PREFIX + data).digest()
        self._push(h)
        return h

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Add leaves, given their leaf hashes, in order."""
        for h in leaf_hashes:
            self.append(h)

    def extend_entries(self, entries: Iterable[bytes]) -> None:
        """Add leaves, given their bytes, in order (the fast path for streaming a whole log)."""
        stack = self._range
        size = self._size
        sha256 = _sha256
        node = _NODE_PREFIX
        leaf = _LEAF_PREFIX
        try:
            for data in entries:
                h = sha256(leaf + data).digest()
                carry = size
                while carry & 1:
                    h = sha256(node + stack.pop() + h).digest()
                    carry >>= 1
                stack.append(h)
                size += 1
        finally:
            # Kept in step with the range even if ``entries`` raises part way.
            self._size = size

    def root(self) -> bytes:
        """The Merkle tree hash of the leaves appended so far (``EMPTY_ROOT`` if none)."""
        stack = self._range
        if not stack:
            return EMPTY_ROOT
        h = stack[-1]
        for left in reversed(stack[:-1]):
            h = _sha256(_NODE_PREFIX + left + h).digest()
        return h

    def _push(self, h: bytes) -> None:
        if self._size >= MAX_TREE_SIZE:
            raise TreeSizeError(f"tree size would exceed {MAX_TREE_SIZE}")
        stack = self._range
        carry = self._size
        while carry & 1:
            h = _sha256(_NODE_PREFIX + stack.pop() + h).digest()
            carry >>= 1
        stack.append(h)
        self._size += 1


# --- proof generation (RFC 9162 §2.1.3.1 and §2.1.4.1) -------------------------------------------


class LevelTree:
    """A whole tree kept level by level, so that many proofs cost one pass over the leaves.

    ``levels[h][i]`` is the root of leaves ``[i·2^h, (i+1)·2^h)``: about twice the leaf hashes
    in memory (64 MB for a million events), after which any subtree root, and so any inclusion
    or consistency proof against any earlier tree size, costs O(log² n) hashes at most. An
    export holding thousands of proofs needs exactly that; the tests check every proof against
    the RFC's recursive definitions and the published vectors.
    """

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self.size = len(leaf_hashes)
        levels: list[list[bytes]] = [list(leaf_hashes)]
        sha256 = _sha256
        while len(levels[-1]) > 1:
            below = levels[-1]
            levels.append(
                [
                    sha256(_NODE_PREFIX + below[i] + below[i + 1]).digest()
                    for i in range(0, len(below) - 1, 2)
                ]
            )
        self.levels = levels

    def subtree_root(self, lo: int, hi: int) -> bytes:
        """The Merkle tree hash of leaves ``[lo, hi)`` (``hi > lo``)."""
        n = hi - lo
        height = n.bit_length() - 1
        if n == 1 << height and lo % n == 0:
            return self.levels[height][lo >> height]
        k = _split(n)
        left = self.subtree_root(lo, lo + k)
        right = self.subtree_root(lo + k, hi)
        return _sha256(_NODE_PREFIX + left + right).digest()

    def root(self, size: int) -> bytes:
        """The root of the tree of the first ``size`` leaves (``size >= 1``)."""
        return self.subtree_root(0, size)

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> list[bytes]:
        """The inclusion proof ``PATH(index, D[tree_size])`` for one leaf, bottom-up.

        ``tree_size`` (default: all the leaves) is the size of the tree the proof is against,
        so a proof can be made for any earlier checkpoint.
        """
        size = self._tree_size(tree_size)
        if not 0 <= index < size:
            msg = f"leaf index {index} is out of range for a tree of size {size}"
            raise IndexOutOfRangeError(msg)
        proof: list[bytes] = []
        lo, hi, m = 0, size, index
        # Walk down from the root; the sibling hashes are collected top-down.
        while hi - lo > 1:
            k = _split(hi - lo)
            if m < k:
                proof.append(self.subtree_root(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self.subtree_root(lo, lo + k))
                lo, m = lo + k, m - k
        proof.reverse()
        return proof

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """The consistency proof ``PROOF(size1, D[size2])``, bottom-up.

        Requires ``0 < size1 <= size2`` (default: all the leaves); empty when they are equal.
        """
        size = self._tree_size(size2)
        if size1 <= 0 or size1 > size:
            raise TreeSizeError(
                f"a consistency proof needs 0 < size1 <= size2, got size1 {size1}, size2 {size}"
            )
        proof: list[bytes] = []
        lo, hi, m, complete = 0, size, size1, True
        # SUBPROOF(m, D[lo:hi], complete), unrolled; hashes are collected top-down.
        while m != hi - lo:
            k = _split(hi - lo)
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

    def _tree_size(self, tree_size: int | None) -> int:
        size = self.size if tree_size is None else tree_size
        if not 0 <= size <= self.size:
            raise TreeSizeError(f"tree size {size} is outside 0..{self.size} (the leaves given)")
        return size


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) -----------------------------------------------


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` leaves and ``root``.

    Returns nothing when the proof holds; raises a ``ProofError`` subclass naming what failed.
    """
    _check_hash("root", root)
    computed = root_from_inclusion_proof(leaf_hash, index, tree_size, proof)
    if computed != root:
        raise RootMismatchError("root", computed, bytes(root))


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes]
) -> bytes:
    """The root hash that an inclusion proof leads to, after checking the proof's shape."""
    _check_size("tree size", tree_size)
    if not 0 <= index < tree_size:
        raise IndexOutOfRangeError(
            f"leaf index {index} is out of range for a tree of size {tree_size}"
        )
    _check_hash("leaf hash", leaf_hash)
    _check_proof_hashes(proof)
    inner, border = _decompose(index, tree_size)
    want = inner + border
    if len(proof) != want:
        raise ProofLengthError(
            f"inclusion proof for leaf {index} in a tree of size {tree_size} has "
            f"{len(proof)} hashes, want {want} ({_too(len(proof), want)})"
        )
    # RFC 9162 §2.1.3.2, steps 2-5.
    fn, sn = index, tree_size - 1
    r = bytes(leaf_hash)
    for p in proof:
        if sn == 0:  # unreachable after the length check; kept as the RFC states it
            raise ProofLengthError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = _sha256(_NODE_PREFIX + p + r).digest()
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(_NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:  # unreachable after the length check
        raise ProofLengthError("inclusion proof is too short")
    return r


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size2`` and ``root2`` extends the tree of ``size1`` and ``root1``.

    Returns nothing when the proof holds; raises a ``ProofError`` subclass naming what failed.
    Equal sizes need an empty proof and equal roots; ``size1 == 0`` is refused (any tree extends
    the empty one, so the check would prove nothing).
    """
    _check_size("size1", size1)
    _check_size("size2", size2)
    if size1 > size2:
        raise TreeSizeError(f"size1 {size1} is greater than size2 {size2}: a log never shrinks")
    if size1 == 0:
        raise TreeSizeError(
            "size1 is 0: a consistency proof from the empty tree proves nothing; "
            "check the later root on its own"
        )
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    _check_proof_hashes(proof)
    if size1 == size2:
        if proof:
            raise ProofLengthError(
                f"consistency proof between equal sizes {size1} has {len(proof)} hashes, "
                "want 0 (too long)"
            )
        if root1 != root2:
            raise RootMismatchError("root2", bytes(root1), bytes(root2))
        return

    # The proof is a suffix of the inclusion proof of leaf size1 - 1 in the tree of size2,
    # starting at the level of the perfect subtree that ends at size1 (transparency-dev's
    # decomposition), preceded by that subtree's root unless it is the whole first tree.
    inner, border = _decompose(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1  # trailing zero bits of size1
    inner -= shift
    first_is_power_of_two = size1 & (size1 - 1) == 0
    want = inner + border + (0 if first_is_power_of_two else 1)
    if len(proof) != want:
        raise ProofLengthError(
            f"consistency proof from size {size1} to size {size2} has {len(proof)} hashes, "
            f"want {want} ({_too(len(proof), want)})"
        )

    path = [bytes(root1), *proof] if first_is_power_of_two else list(proof)
    fr, sr = _chain_consistency(size1, size2, path)
    if fr != root1:
        raise RootMismatchError("root1", fr, bytes(root1))
    if sr != root2:
        raise RootMismatchError("root2", sr, bytes(root2))


def _chain_consistency(size1: int, size2: int, path: list[bytes]) -> tuple[bytes, bytes]:
    """RFC 9162 §2.1.4.2 steps 3-7 on a full path: the first and second roots it leads to."""
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:  # unreachable after the length check
            raise ProofLengthError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = _sha256(_NODE_PREFIX + c + fr).digest()
            sr = _sha256(_NODE_PREFIX + c + sr).digest()
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(_NODE_PREFIX + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:  # unreachable after the length check
        raise ProofLengthError("consistency proof is too short")
    return fr, sr


def _decompose(index: int, size: int) -> tuple[int, int]:
    """Lengths of the inner and border parts of leaf ``index``'s inclusion proof in ``size``.

    The inner part is where the paths to ``index`` and to the last leaf ``size - 1`` differ;
    the border part is above it, one hash per left sibling on the right border.
    """
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _check_size(what: str, size: int) -> None:
    if not 0 <= size <= MAX_TREE_SIZE:
        raise TreeSizeError(f"{what} {size} is outside 0..{MAX_TREE_SIZE}")


def _check_hash(what: str, h: bytes) -> None:
    if len(h) != HASH_SIZE:
        raise HashSizeError(f"{what} is {len(h)} bytes, want {HASH_SIZE}")


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for h in proof:
        if len(h) != HASH_SIZE:
            i = next(i for i, h in enumerate(proof) if len(h) != HASH_SIZE)
            raise HashSizeError(f"proof[{i}] is {len(proof[i])} bytes, want {HASH_SIZE}")


def _too(got: int, want: int) -> str:
    return "too long" if got > want else "too short"
