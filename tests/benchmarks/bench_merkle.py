"""Benchmark: leaves hashed per second by replay.merkle.TreeBuilder, against bare hashlib.

Run with ``python -m tests.benchmarks.bench_merkle [--leaves N] [--size BYTES]``. In one run it
measures, on the same leaves (``BYTES`` each, default 300, about one stored event):

(a) bare ``hashlib.sha256`` of each leaf once: the floor, no tree at all
(b) ``TreeBuilder.extend_entries``: leaf hash plus one node hash per leaf on average
(c) ``TreeBuilder.append_entry`` called once per leaf
(d) inclusion proof verification, proofs per second, in a tree of N leaves

and prints each rate and its ratio to (a). A tree needs about two SHA-256 per leaf, so (b) near
0.5x of (a) means the Python around the hashing costs little. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import time
import tracemalloc
from collections.abc import Callable, Iterator

from replay.merkle import LevelTree, TreeBuilder, leaf_hash, verify_inclusion


def leaves(n: int, size: int) -> Iterator[bytes]:
    """``n`` distinct leaves of ``size`` bytes, made as they are consumed (none kept)."""
    filler = b"x" * max(0, size - 12)
    for i in range(n):
        yield i.to_bytes(12, "big") + filler


def rate(label: str, n: int, run: Callable[[], None], floor: float | None) -> float:
    start = time.perf_counter()
    run()
    per_second = n / (time.perf_counter() - start)
    ratio = f"  {per_second / floor:5.2f}x of (a)" if floor else ""
    print(f"{label:<48} {per_second:>12,.0f} /s{ratio}")
    return per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=300)
    args = parser.parse_args()
    n, size = args.leaves, args.size
    print(f"{n:,} leaves of {size} bytes")

    def bare() -> None:
        sha256 = hashlib.sha256
        for data in leaves(n, size):
            sha256(b"\x00" + data).digest()

    floor = rate("(a) hashlib.sha256 per leaf", n, bare, None)

    builder = TreeBuilder()
    rate(
        "(b) TreeBuilder.extend_entries", n, lambda: builder.extend_entries(leaves(n, size)), floor
    )
    print(f"    root {builder.root().hex()[:16]}…, {len(builder.state())} hashes kept")

    def one_by_one() -> None:
        b = TreeBuilder()
        for data in leaves(n, size):
            b.append_entry(data)

    rate("(c) TreeBuilder.append_entry per leaf", n, one_by_one, floor)

    memory_check = TreeBuilder()
    tracemalloc.start()
    memory_check.extend_entries(leaves(min(n, 100_000), size))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"    peak memory traced while building {memory_check.size:,} leaves: {peak / 1024:.0f} KiB"
    )

    proof_tree = min(n, 1 << 16)
    hashes = [leaf_hash(d) for d in leaves(proof_tree, 32)]
    tree = TreeBuilder()
    tree.extend(hashes)
    top = tree.root()
    level_tree = LevelTree(hashes)
    proofs = [
        (i, level_tree.inclusion_proof(i)) for i in range(0, proof_tree, max(1, proof_tree // 64))
    ]
    rounds = 2000

    def verify() -> None:
        for _ in range(rounds):
            for i, proof in proofs:
                verify_inclusion(hashes[i], i, proof_tree, proof, top)

    rate(
        f"(d) inclusion proofs verified, tree of {proof_tree:,}",
        rounds * len(proofs),
        verify,
        floor,
    )


if __name__ == "__main__":
    main()
