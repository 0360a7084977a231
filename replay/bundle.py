"""``hsl audit export``: an export bundle an auditor verifies offline (``replay.bundle_verifier``).

Exporting first makes a checkpoint at the end of the log (so every exported event is covered),
then reads the events up to that checkpoint, and writes the files ``replay.bundle_format``
describes: the whole log with its leaf hashes, or a sequence range or one outcome's history
with an inclusion proof per event; always every checkpoint and the consistency proofs between
consecutive ones; a manifest signed with the log's key. The bundle is written into a temporary
directory beside the target and renamed into place when complete.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import msgspec
from nats.aio.client import Client

from events.jetstream.commits import JetStreamRecorder
from events.jetstream.connection import ONE_SHOT, connect
from replay.bundle_format import (
    CHECKPOINTS,
    CONSISTENCY,
    EVENTS,
    FORMAT,
    FORMAT_FILE,
    FORMAT_NAME,
    INCLUSION,
    LEAVES,
    MANIFEST,
    MANIFEST_NOTE,
    CheckpointRecord,
    ConsistencyRecord,
    InclusionRecord,
    Manifest,
    Scope,
    manifest_note_text,
)
from replay.checkpoint import Checkpoint
from replay.checkpointer import (
    Checkpointer,
    StoredCheckpoint,
    own_checkpoints,
    read_checkpoints,
)
from replay.history import HistoryReader
from replay.leaf import leaf_bytes
from replay.merkle import LevelTree
from replay.signed_note import SignerKey, sign_note


class BundleError(RuntimeError):
    """The bundle cannot be written as asked; the message says why. Nothing is left behind."""


@dataclass(frozen=True)
class Selection:
    """What to export: the whole log, a sequence range, or one outcome's history."""

    scope: Scope
    first: int = 1
    last: int | None = None
    outcome_id: UUID | None = None

    @property
    def detail(self) -> str:
        if self.scope == "range":
            return f"{self.first}-{self.last}"
        if self.scope == "outcome":
            return str(self.outcome_id)
        return "all"


async def _checkpoint_the_end(
    url: str, stream: str, signer: SignerKey, replicas: int
) -> list[StoredCheckpoint]:
    """Bring the checkpoints up to the end of the log and return them all."""
    nc: Client = await connect(url, name="hsl-audit-export", policy=ONE_SHOT)
    try:
        checkpointer = Checkpointer(nc, stream, signer, interval=0, replicas=replicas)
        await checkpointer.resume()
        await checkpointer.step()
        await checkpointer.checkpoint_now()
        # Only the log's own signed checkpoints go in the bundle; anything else stored on the
        # checkpoint subject is quarantined (``replay.checkpointer.checkpoint_verdict``).
        stored = await read_checkpoints(nc, stream)
        return own_checkpoints(
            stream, stored, signer.verifier, signer.name, checkpointer.quarantine
        )
    finally:
        await nc.close()


def export_bundle(
    recorder: JetStreamRecorder,
    url: str,
    signer: SignerKey,
    target: Path,
    selection: Selection,
    *,
    replicas: int = 1,
) -> Manifest:
    """Write the bundle for ``selection`` to ``target`` (which must not exist yet).

    ``replicas``: of the checkpoint stream, should this export be the one to create it.
    """
    if target.exists():
        raise BundleError(f"{target} exists already: choose a new directory for the bundle")
    stream = recorder.layout.stream
    stored = asyncio.run(_checkpoint_the_end(url, stream, signer, replicas))
    tree_size = Checkpoint.parse(_note_text(stored[-1].note)).size if stored else 0
    lines, leaf_hashes = _read_log(recorder, tree_size)
    wanted = _selected(recorder, selection, tree_size)
    return write_bundle(
        target,
        stream=stream,
        signer=signer,
        selection=selection,
        lines=lines,
        leaf_hashes=leaf_hashes,
        stored=stored,
        wanted=wanted,
    )


def write_bundle(
    target: Path,
    *,
    stream: str,
    signer: SignerKey,
    selection: Selection,
    lines: list[bytes],
    leaf_hashes: list[bytes],
    stored: list[StoredCheckpoint],
    wanted: list[int],
) -> Manifest:
    """Write the bundle files (``lines``/``leaf_hashes``: the whole log up to the last
    checkpoint; ``wanted``: the sequences exported) into ``target``, whole or not at all."""
    checkpoints = [Checkpoint.parse(_note_text(s.note)) for s in stored]
    tree_size = checkpoints[-1].size if checkpoints else 0
    tree = LevelTree(leaf_hashes[:tree_size]) if tree_size else None
    building = target.with_name(f".{target.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    try:
        with (building / EVENTS).open("wb") as f:
            for seq in wanted:
                f.write(lines[seq - 1] + b"\n")
        _write_records(building / CHECKPOINTS, (CheckpointRecord(s.seq, s.note) for s in stored))
        _write_records(building / CONSISTENCY, _consistency(tree, checkpoints))
        if selection.scope == "all":
            (building / LEAVES).write_bytes(b"".join(leaf_hashes[:tree_size]))
        else:
            proofs = [
                InclusionRecord(seq, tree_size, _b64(tree.inclusion_proof(seq - 1, tree_size)))
                for seq in wanted
                if tree is not None
            ]
            _write_records(building / INCLUSION, proofs)
        (building / FORMAT_FILE).write_text(FORMAT, encoding="utf-8")
        manifest = Manifest(
            format=FORMAT_NAME,
            origin=signer.name,
            stream=stream,
            scope=selection.scope,
            scope_detail=selection.detail,
            events=len(wanted),
            first_seq=wanted[0] if wanted else None,
            last_seq=wanted[-1] if wanted else None,
            tree_size=tree_size,
            checkpoints=len(stored),
            exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
            files={
                p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(building.iterdir())
            },
        )
        manifest_bytes = msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n"
        (building / MANIFEST).write_bytes(manifest_bytes)
        digest = hashlib.sha256(manifest_bytes).hexdigest()
        note = sign_note(manifest_note_text(signer.name, digest), signer)
        (building / MANIFEST_NOTE).write_text(note, encoding="utf-8")
        os.replace(building, target)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(building)
        raise
    return manifest


def _note_text(note: str) -> str:
    """The text of a signed note (before the blank line and signatures)."""
    return note.split("\n\n", 1)[0] + "\n"


def _read_log(recorder: JetStreamRecorder, tree_size: int) -> tuple[list[bytes], list[bytes]]:
    """Every event's canonical line and leaf hash, from sequence 1 to ``tree_size``."""
    lines: list[bytes] = []
    hashes: list[bytes] = []
    sha256 = hashlib.sha256
    for page in recorder.stored_pages(1, tree_size):
        for message in page:
            if message.seq != len(lines) + 1:
                msg = f"event {len(lines) + 1} is missing from the log (next is {message.seq})"
                raise BundleError(msg)
            line = leaf_bytes(message)
            lines.append(line)
            hashes.append(sha256(b"\x00" + line).digest())
    if len(lines) != tree_size:
        raise BundleError(f"the log holds {len(lines)} events, its checkpoint {tree_size}")
    return lines, hashes


def _selected(recorder: JetStreamRecorder, selection: Selection, tree_size: int) -> list[int]:
    if selection.scope == "all":
        return list(range(1, tree_size + 1))
    if selection.scope == "range":
        last = min(selection.last or tree_size, tree_size)
        if selection.first < 1 or selection.first > last:
            msg = f"range {selection.first}-{selection.last} holds no event of 1-{tree_size}"
            raise BundleError(msg)
        return list(range(selection.first, last + 1))
    assert selection.outcome_id is not None
    timeline = HistoryReader(recorder).timeline("outcome", str(selection.outcome_id))
    return [e.seq for e in timeline.entries if e.seq <= tree_size]


def _consistency(tree: LevelTree | None, checkpoints: list[Checkpoint]) -> list[ConsistencyRecord]:
    sizes = sorted({c.size for c in checkpoints if c.size > 0})
    if tree is None:
        return []
    return [
        ConsistencyRecord(a, b, _b64(tree.consistency_proof(a, b)))
        for a, b in itertools.pairwise(sizes)
    ]


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


def _write_records(path: Path, records: Iterable[msgspec.Struct]) -> None:
    encode = msgspec.json.encode
    with path.open("wb") as f:
        for record in records:
            f.write(encode(record) + b"\n")
