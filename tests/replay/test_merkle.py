"""replay.merkle: hashing, proofs and the tree builder, against published values and the RFC.

Proofs are made by production's ``LevelTree`` and checked against the published RFC 6962 proofs
and against the RFC's recursive definitions (``tests.support.rfc6962_reference``).

Bit flips: for every tree size 1..64, every leaf index and every size pair, the generated proof
verifies, and changing one bit of any input hash makes it fail: every one of the 256 bits of
every hash (leaf hash, root, each proof hash) is flipped in turn, as the issue asks (about 35 s;
``EVERY_BIT_UP_TO`` lowers the size up to which every bit is flipped, above which one bit per
byte is, for a quicker run while working).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replay.merkle import (
    EMPTY_ROOT,
    HashSizeError,
    IndexOutOfRangeError,
    LevelTree,
    ProofError,
    ProofLengthError,
    RootMismatchError,
    TreeBuilder,
    TreeSizeError,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    root_hash,
    root_of_entries,
    verify_consistency,
    verify_inclusion,
)
from tests.support.rfc6962_reference import reference_path, reference_proof, reference_root

MAX_SIZE = 64
EVERY_BIT_UP_TO = MAX_SIZE

# The RFC 6962 test inputs and the roots of their first 1..8 leaves, as published in
# transparency-dev/merkle (proof/verify_test.go) and Certificate Transparency before it.
RFC6962_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
RFC6962_ROOTS = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
# (leaf index, tree size, proof) and (size1, size2, proof), from the same file.
PUBLISHED_INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
PUBLISHED_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

LEAVES = [leaf_hash(f"event {i}".encode()) for i in range(MAX_SIZE)]
ROOTS = [root_hash(LEAVES[:n]) for n in range(MAX_SIZE + 1)]
TREE = LevelTree(LEAVES)


def flipped(h: bytes, salt: int, every_bit: bool) -> Iterator[bytes]:
    """``h`` with one bit changed: every bit, or one per byte at a position turning with salt."""
    for i in range(len(h)):
        bits = range(8) if every_bit else ((i + salt) % 8,)
        for bit in bits:
            yield h[:i] + bytes([h[i] ^ (1 << bit)]) + h[i + 1 :]


def assert_every_flip_fails(
    hashes: Sequence[bytes], check: Callable[[list[bytes]], None], salt: int, every_bit: bool
) -> int:
    """Flip bits of each of ``hashes`` in turn and check that ``check`` refuses every result."""
    failures = 0
    for position, original in enumerate(hashes):
        changed = list(hashes)
        for bad in flipped(original, salt + position, every_bit):
            changed[position] = bad
            try:
                check(changed)
            except RootMismatchError:
                failures += 1
            else:
                pytest.fail(f"hash {position} changed to {bad.hex()} and the proof still held")
    return failures


# --- hashing -------------------------------------------------------------------------------------


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert root_hash([]) == EMPTY_ROOT
    assert TreeBuilder().root() == EMPTY_ROOT


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert (
        node_hash(b"l" * 32, b"r" * 32) == hashlib.sha256(b"\x01" + b"l" * 32 + b"r" * 32).digest()
    )
    assert leaf_hash(b"") == bytes.fromhex(
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


def test_classic_eight_leaf_rfc6962_root() -> None:
    assert root_of_entries(RFC6962_LEAVES).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )
    hashes = [leaf_hash(d) for d in RFC6962_LEAVES]
    for n in range(1, 9):
        assert root_hash(hashes[:n]) == RFC6962_ROOTS[n - 1], n


def test_generated_proofs_match_the_published_ones() -> None:
    hashes = [leaf_hash(d) for d in RFC6962_LEAVES]
    tree = LevelTree(hashes)
    for index, size, proof in PUBLISHED_INCLUSION:
        published = [bytes.fromhex(h) for h in proof]
        assert tree.inclusion_proof(index, size) == published
        assert reference_path(index, hashes[:size]) == published
    for size1, size2, proof in PUBLISHED_CONSISTENCY:
        published = [bytes.fromhex(h) for h in proof]
        assert tree.consistency_proof(size1, size2) == published
        assert reference_proof(size1, hashes[:size2]) == published


# --- the builder ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=140))
def test_builder_agrees_with_the_recursive_definition(entries: list[bytes]) -> None:
    builder = TreeBuilder()
    hashes: list[bytes] = []
    for data in entries:
        hashes.append(builder.append_entry(data))
        assert builder.root() == reference_root(hashes)
    assert builder.size == len(entries)
    assert len(builder.state()) == len(entries).bit_count()
    assert root_of_entries(entries) == reference_root(hashes)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 300), st.integers(0, 300))
def test_builder_resumes_from_its_state(first: int, more: int) -> None:
    entries = [i.to_bytes(4, "big") for i in range(first + more)]
    builder = TreeBuilder()
    builder.extend_entries(entries[:first])
    resumed = TreeBuilder.from_state(builder.size, builder.state())
    resumed.extend_entries(entries[first:])
    whole = TreeBuilder()
    whole.extend([leaf_hash(e) for e in entries])
    assert resumed.root() == whole.root()
    assert resumed.state() == whole.state()


def test_builder_refuses_a_state_that_does_not_fit_its_size() -> None:
    with pytest.raises(ProofLengthError, match="tree size 5 has 2 hashes, got 1"):
        TreeBuilder.from_state(5, [LEAVES[0]])
    with pytest.raises(HashSizeError, match=r"compact range hash \[1\] is 3 bytes"):
        TreeBuilder.from_state(3, [LEAVES[0], b"abc"])
    with pytest.raises(TreeSizeError):
        TreeBuilder.from_state(-1, [])
    with pytest.raises(HashSizeError, match="leaf hash is 4 bytes"):
        TreeBuilder().append(b"leaf")


# --- inclusion -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_inclusion_proofs_verify_and_every_bit_matters(size: int) -> None:
    root = ROOTS[size]
    assert root == reference_root(LEAVES[:size])
    every_bit = size <= EVERY_BIT_UP_TO
    for index in range(size):
        proof = TREE.inclusion_proof(index, size)
        verify_inclusion(LEAVES[index], index, size, proof, root)
        assert root_from_inclusion_proof(LEAVES[index], index, size, proof) == root

        def check(hashes: list[bytes], index: int = index) -> None:
            verify_inclusion(hashes[0], index, size, hashes[2:], hashes[1])

        inputs = [LEAVES[index], root, *proof]
        flips = assert_every_flip_fails(inputs, check, size + index, every_bit)
        assert flips == len(inputs) * (256 if every_bit else 32)


def test_inclusion_errors_name_what_failed() -> None:
    proof = TREE.inclusion_proof(5, 8)
    root = ROOTS[8]
    with pytest.raises(
        IndexOutOfRangeError, match="leaf index 8 is out of range for a tree of size 8"
    ):
        verify_inclusion(LEAVES[5], 8, 8, proof, root)
    with pytest.raises(IndexOutOfRangeError, match="leaf index -1"):
        verify_inclusion(LEAVES[5], -1, 8, proof, root)
    with pytest.raises(ProofLengthError, match=r"has 4 hashes, want 3 \(too long\)"):
        verify_inclusion(LEAVES[5], 5, 8, [*proof, root], root)
    with pytest.raises(ProofLengthError, match=r"has 2 hashes, want 3 \(too short\)"):
        verify_inclusion(LEAVES[5], 5, 8, proof[:2], root)
    with pytest.raises(HashSizeError, match=r"proof\[1\] is 31 bytes, want 32"):
        verify_inclusion(LEAVES[5], 5, 8, [proof[0], proof[1][:31], proof[2]], root)
    with pytest.raises(HashSizeError, match="leaf hash is 0 bytes"):
        verify_inclusion(b"", 5, 8, proof, root)
    with pytest.raises(HashSizeError, match="root is 33 bytes"):
        verify_inclusion(LEAVES[5], 5, 8, proof, root + b"\x00")
    with pytest.raises(RootMismatchError, match=f"root mismatch: .* expected {ROOTS[7].hex()}"):
        verify_inclusion(LEAVES[5], 5, 8, proof, ROOTS[7])
    with pytest.raises(TreeSizeError, match="tree size 18446744073709551616"):
        verify_inclusion(LEAVES[5], 5, 2**64, proof, root)
    # The wrong leaf, at the right place, is a root mismatch.
    with pytest.raises(RootMismatchError):
        verify_inclusion(LEAVES[4], 5, 8, proof, root)


def test_inclusion_proof_generation_checks_its_arguments() -> None:
    with pytest.raises(IndexOutOfRangeError):
        TREE.inclusion_proof(8, 8)
    with pytest.raises(TreeSizeError, match=r"tree size 65 is outside 0\.\.64"):
        TREE.inclusion_proof(0, 65)
    assert LevelTree(LEAVES[:1]).inclusion_proof(0) == []


# --- consistency ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size2", range(1, MAX_SIZE + 1))
def test_consistency_proofs_verify_and_every_bit_matters(size2: int) -> None:
    root2 = ROOTS[size2]
    every_bit = size2 <= EVERY_BIT_UP_TO
    for size1 in range(1, size2 + 1):
        root1 = ROOTS[size1]
        proof = TREE.consistency_proof(size1, size2)
        verify_consistency(size1, size2, proof, root1, root2)

        def check(hashes: list[bytes], size1: int = size1) -> None:
            verify_consistency(size1, size2, hashes[2:], hashes[0], hashes[1])

        inputs = [root1, root2, *proof]
        flips = assert_every_flip_fails(inputs, check, size1 + size2, every_bit)
        assert flips == len(inputs) * (256 if every_bit else 32)


def test_a_proof_between_other_sizes_does_not_hold() -> None:
    """Each proof holds for its own pair of sizes only (with the right roots for the others)."""
    for size2 in range(2, 17):
        for size1 in range(1, size2):
            proof = TREE.consistency_proof(size1, size2)
            for other1 in range(1, size2):
                if other1 == size1:
                    continue
                with pytest.raises(ProofError):
                    verify_consistency(other1, size2, proof, ROOTS[other1], ROOTS[size2])


def test_consistency_errors_name_what_failed() -> None:
    proof = TREE.consistency_proof(6, 8)
    with pytest.raises(TreeSizeError, match="size1 8 is greater than size2 6"):
        verify_consistency(8, 6, proof, ROOTS[8], ROOTS[6])
    with pytest.raises(TreeSizeError, match="size1 is 0"):
        verify_consistency(0, 8, [], EMPTY_ROOT, ROOTS[8])
    with pytest.raises(
        ProofLengthError, match=r"from size 6 to size 8 has 4 hashes, want 3 \(too long\)"
    ):
        verify_consistency(6, 8, [*proof, proof[0]], ROOTS[6], ROOTS[8])
    with pytest.raises(ProofLengthError, match=r"has 0 hashes, want 3 \(too short\)"):
        verify_consistency(6, 8, [], ROOTS[6], ROOTS[8])
    with pytest.raises(ProofLengthError, match="between equal sizes 8 has 1 hashes, want 0"):
        verify_consistency(8, 8, [ROOTS[8]], ROOTS[8], ROOTS[8])
    with pytest.raises(RootMismatchError, match="root1 mismatch") as info:
        verify_consistency(6, 8, proof, ROOTS[5], ROOTS[8])
    assert info.value.which == "root1"
    assert info.value.expected == ROOTS[5]
    with pytest.raises(RootMismatchError, match="root2 mismatch"):
        verify_consistency(6, 8, proof, ROOTS[6], ROOTS[7])
    with pytest.raises(RootMismatchError, match="root2 mismatch"):
        verify_consistency(8, 8, [], ROOTS[8], ROOTS[7])
    with pytest.raises(HashSizeError, match="root1 is 12 bytes"):
        verify_consistency(1, 1, [], b"don't care 2", b"don't care 2")
    verify_consistency(8, 8, [], ROOTS[8], ROOTS[8])


def test_consistency_proof_generation_checks_its_arguments() -> None:
    with pytest.raises(TreeSizeError, match="0 < size1 <= size2"):
        TREE.consistency_proof(0, 8)
    with pytest.raises(TreeSizeError, match="0 < size1 <= size2"):
        TREE.consistency_proof(9, 8)
    assert TREE.consistency_proof(8, 8) == []


def test_builder_stays_consistent_when_its_input_fails_part_way() -> None:
    def entries() -> Iterator[bytes]:
        yield b"a"
        yield b"b"
        yield b"c"
        raise OSError("export file truncated")

    builder = TreeBuilder()
    with pytest.raises(OSError, match="truncated"):
        builder.extend_entries(entries())
    assert builder.size == 3
    builder.append_entry(b"d")
    assert builder.root() == root_of_entries([b"a", b"b", b"c", b"d"])
