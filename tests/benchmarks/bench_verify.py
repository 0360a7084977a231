"""Benchmark: ``hsl audit verify`` over a million-event bundle, beside raw SHA-256.

Run with ``python -m tests.benchmarks.bench_verify [--events N] [--every K]``. It builds a
whole-log bundle offline (no NATS needed: the verifier never uses it): the stored events of a
full consultation lifecycle (every event type, from the domain tests' scenario) repeated to N
events with increasing sequence and times, checkpointed every K events and signed, written by
the exporter's own ``write_bundle``. Then, in the same run:

- ``verify``: ``replay.bundle_verifier.verify_bundle`` over the bundle (parse, order and time
  checks, every root recomputed, every checkpoint signature, consistency proofs, manifest);
- ``raw``: ``hashlib.sha256(0x00 ‖ line)`` over the same lines, nothing else: the floor.

Not a test: it prints figures and the ratio, and asserts nothing about time.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec

from events.jetstream.operations import StoredMessage
from events.jetstream.stream_layout import ORIGINATOR_VERSION, StreamLayout
from replay.bundle import Selection, write_bundle
from replay.bundle_verifier import verify_bundle
from replay.checkpoint import Checkpoint, sign_checkpoint
from replay.checkpointer import StoredCheckpoint
from replay.keys import origin_for
from replay.leaf import leaf_bytes
from replay.merkle import TreeBuilder
from replay.signed_note import SignerKey
from tests.support.scenario import START, Scenario, full_lifecycle

TARGET = 200_000


def _templates() -> list[tuple[str, dict[str, Any]]]:
    """(aggregate id, event as JSON values) of one full lifecycle on the in-memory store."""
    s = Scenario()
    full_lifecycle(s)
    notifications = s.app.recorder.select_notifications(start=1, limit=100_000)
    return [(str(n.originator_id), msgspec.json.decode(n.state)) for n in notifications]


def synthesize(
    n: int, every: int, signer: SignerKey
) -> tuple[list[bytes], list[bytes], list[StoredCheckpoint]]:
    """N canonical lines (times increasing), their leaf hashes and a checkpoint every K."""
    layout = StreamLayout.for_application("hsl")
    templates = _templates()
    versions: dict[str, int] = {}
    lines: list[bytes] = []
    hashes: list[bytes] = []
    stored: list[StoredCheckpoint] = []
    tree = TreeBuilder()
    encode = msgspec.json.encode
    for seq in range(1, n + 1):
        round_, index = divmod(seq - 1, len(templates))
        aggregate, event = templates[index]
        aggregate = f"{aggregate[:-8]}{round_:08x}"
        versions[aggregate] = version = versions.get(aggregate, 0) + 1
        at = (START + timedelta(seconds=seq)).isoformat().replace("+00:00", "Z")
        event = {**event, "recorded_at": at, "occurred_at": at}
        message = StoredMessage(
            seq=seq,
            subject=layout.event_subject(uuid.UUID(aggregate)),  # as the service's ids
            headers={ORIGINATOR_VERSION: str(version)},
            payload=encode(event),
            timestamp=at,
        )
        line = leaf_bytes(message)
        lines.append(line)
        hashes.append(tree.append_entry(line))
        if seq % every == 0 or seq == n:
            note = sign_checkpoint(Checkpoint(signer.name, tree.size, tree.root()), signer)
            stored.append(StoredCheckpoint(seq=len(stored) + 1, note=note, state=tree.state()))
        if len(versions) > 10_000:
            versions.clear()
    return lines, hashes, stored


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=1000, help="events per checkpoint")
    args = parser.parse_args(argv)
    signer = SignerKey.generate(origin_for("hsl"))
    started = time.perf_counter()
    lines, hashes, stored = synthesize(args.events, args.every, signer)
    print(
        f"synthesized {len(lines):,} events, {len(stored):,} checkpoints "
        f"in {time.perf_counter() - started:.1f} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle"
        write_bundle(
            bundle,
            stream="hsl",
            signer=signer,
            selection=Selection("all"),
            lines=lines,
            leaf_hashes=hashes,
            stored=stored,
            wanted=list(range(1, len(lines) + 1)),
        )
        size = sum(p.stat().st_size for p in bundle.iterdir())
        del hashes
        started = time.perf_counter()
        report = verify_bundle(bundle, signer.verifier)
        verify_seconds = time.perf_counter() - started
    sha256 = hashlib.sha256
    started = time.perf_counter()
    for line in lines:
        sha256(b"\x00" + line).digest()
    raw_seconds = time.perf_counter() - started
    n = len(lines)
    verify_rate, raw_rate = n / verify_seconds, n / raw_seconds
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"bundle: {size / 2**20:.0f} MiB; verified {report.events:,} events, "
        f"{report.checkpoints:,} checkpoints, root {report.root}"
    )
    print(f"{'verify (hsl audit verify)':32} {verify_rate:12,.0f} events/s")
    print(f"{'raw sha256(0x00 + line)':32} {raw_rate:12,.0f} events/s")
    verdict = "ok" if verify_rate >= TARGET else "BELOW"
    print(
        f"ratio verify/raw {verify_rate / raw_rate:.3f}; target >= {TARGET:,} events/s: {verdict}"
    )
    print(f"peak RSS of this process {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
