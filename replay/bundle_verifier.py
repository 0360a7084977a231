"""The offline verifier of an export bundle: needs the bundle and the verifier key, nothing else.

No NATS, no DuckDB: it reads the files (``replay.bundle_format``), recomputes every root from the
leaves, checks every proof and signature, and stops at the first fault with its kind and the
first failing sequence number. The checks run from the most precise to the most general, so a
deleted event is reported as "event 17 missing" rather than as a root that does not match.
The kinds of fault are ``replay.verification``'s.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import msgspec

from replay.bundle_format import (
    CHECKPOINTS,
    CONSISTENCY,
    EVENTS,
    FORMAT_NAME,
    INCLUSION,
    LEAVES,
    MANIFEST,
    MANIFEST_NOTE,
    CheckpointRecord,
    ConsistencyRecord,
    InclusionRecord,
    Manifest,
    manifest_note_text,
)
from replay.checkpoint import Checkpoint
from replay.leaf import LeafError, parse_leaf
from replay.leaf_quarantine import Flagged, joined_leaves
from replay.merkle import HASH_SIZE, ProofError, TreeBuilder, verify_consistency, verify_inclusion
from replay.signed_note import NoteError, VerifierKey, open_note
from replay.verification import (
    CheckedEvents,
    VerificationError,
    checked_events,
    first_failing_checkpoint,
    verified_checkpoints,
)

T = TypeVar("T")


@dataclass
class Report:
    """What a successful verification established."""

    origin: str
    scope: str
    events: int
    first_seq: int | None
    last_seq: int | None
    tree_size: int
    root: str
    """Base64 root hash of the last checkpoint."""
    checkpoints: int
    late_entries: list[int] = field(default_factory=list)
    """Events recorded more than 7 days after they occurred (accepted, listed for review)."""
    quarantined: list[Flagged] = field(default_factory=list)
    """Stored messages that are not events: named, hashed, not decoded."""


def verify_bundle(bundle: Path, key: VerifierKey) -> Report:
    """Verify the bundle at ``bundle`` against ``key``; raise :class:`VerificationError`."""
    manifest = _read_manifest(bundle)
    checkpoints = verified_checkpoints(
        _records(bundle, CHECKPOINTS, CheckpointRecord), key, manifest.origin
    )
    _check_consistency(bundle, checkpoints)
    last = checkpoints[-1] if checkpoints else None
    tree_size = last.size if last else 0
    events = checked_events(joined_leaves(_lines(bundle, EVENTS)), manifest.scope, tree_size)
    if manifest.scope == "all":
        _check_whole_log(bundle, events, checkpoints)
    else:
        _check_inclusions(bundle, events, last)
    _check_manifest(bundle, manifest, events, checkpoints, key)
    return Report(
        origin=manifest.origin,
        scope=manifest.scope,
        events=len(events.seqs),
        first_seq=events.seqs[0] if events.seqs else None,
        last_seq=events.seqs[-1] if events.seqs else None,
        tree_size=tree_size,
        root=base64.b64encode(last.root_hash).decode() if last else "",
        checkpoints=len(checkpoints),
        late_entries=events.late,
        quarantined=events.quarantined,
    )


# --- reading ----------------------------------------------------------------------------------


def _read_manifest(bundle: Path) -> Manifest:
    if not bundle.is_dir():
        raise VerificationError("malformed", f"{bundle} is not a bundle directory")
    try:
        manifest = msgspec.json.decode((bundle / MANIFEST).read_bytes(), type=Manifest)
    except (OSError, msgspec.MsgspecError) as e:
        raise VerificationError("malformed", f"{MANIFEST}: {e}") from None
    if manifest.format != FORMAT_NAME:
        msg = f"{MANIFEST}: format {manifest.format!r}, this verifier reads {FORMAT_NAME!r}"
        raise VerificationError("malformed", msg)
    return manifest


def _lines(bundle: Path, name: str) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes without the newline) of one JSON-lines file of the bundle."""
    try:
        with (bundle / name).open("rb") as f:
            for number, line in enumerate(f, start=1):
                if not line.endswith(b"\n"):
                    raise VerificationError("malformed", f"{name} line {number}: no final newline")
                yield number, line[:-1]
    except OSError as e:
        raise VerificationError("malformed", f"cannot read {name}: {e.strerror}") from None


def _records(bundle: Path, name: str, kind: type[T]) -> Iterator[tuple[int, T]]:
    decoder = msgspec.json.Decoder(kind)
    for number, line in _lines(bundle, name):
        try:
            yield number, decoder.decode(line)
        except msgspec.MsgspecError as e:
            raise VerificationError("malformed", f"{name} line {number}: {e}") from None


def _hashes(texts: Iterable[str], where: str) -> list[bytes]:
    hashes = []
    for text in texts:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise VerificationError("malformed", f"{where}: a proof hash is not base64") from None
        hashes.append(raw)
    return hashes


# --- checkpoints ------------------------------------------------------------------------------


def _check_consistency(bundle: Path, checkpoints: list[Checkpoint]) -> None:
    """Each checkpoint extends the one before, by the bundle's consistency proofs."""
    proofs: dict[tuple[int, int], list[bytes]] = {}
    for number, record in _records(bundle, CONSISTENCY, ConsistencyRecord):
        where = f"{CONSISTENCY} line {number}"
        proofs[(record.size1, record.size2)] = _hashes(record.proof, where)
    for earlier, later in itertools.pairwise(checkpoints):
        proof = proofs.get((earlier.size, later.size))
        if proof is None:
            msg = f"no consistency proof from tree size {earlier.size} to {later.size}"
            raise VerificationError("consistency", msg)
        try:
            verify_consistency(earlier.size, later.size, proof, earlier.root_hash, later.root_hash)
        except ProofError as e:
            msg = (
                f"the checkpoint at tree size {later.size} does not extend the one at "
                f"{earlier.size} (the log was rewritten between them): {e}"
            )
            raise VerificationError("consistency", msg, earlier.size + 1) from None


# --- events -----------------------------------------------------------------------------------


def _check_whole_log(bundle: Path, events: CheckedEvents, checkpoints: list[Checkpoint]) -> None:
    """Every checkpoint's root recomputed from the events; a difference named to the event."""
    tree_size = checkpoints[-1].size if checkpoints else 0
    if len(events.lines) < tree_size:
        n = len(events.lines)
        msg = f"missing: the bundle ends at event {n}, the checkpoints cover {tree_size}"
        raise VerificationError("missing", msg, n + 1)
    failing = first_failing_checkpoint(events.lines, checkpoints)
    if failing is None:
        return
    index, checkpoint = failing
    start = checkpoints[index - 1].size + 1 if index else 1
    listed = _listed_leaves(bundle, tree_size)
    if listed is not None and _first_failing_root(listed, checkpoints) is None:
        for position in range(tree_size):
            if events.leaf_hash(position) != listed[position]:
                raise VerificationError("altered", _altered(events.lines[position]), position + 1)
    msg = (
        f"events {start}..{checkpoint.size} do not give the signed root of tree size "
        f"{checkpoint.size} (one of them was altered)"
    )
    raise VerificationError("altered", msg, start)


def _altered(line: bytes) -> str:
    try:
        parse_leaf(line, "its line")
    except LeafError as e:
        return f"its bytes are not those the checkpoints sign ({e})"
    return "its bytes are not those the checkpoints sign (altered)"


def _first_failing_root(
    leaf_hashes: list[bytes], checkpoints: list[Checkpoint]
) -> tuple[int, Checkpoint] | None:
    tree = TreeBuilder()
    for index, checkpoint in enumerate(checkpoints):
        tree.extend(leaf_hashes[tree.size : checkpoint.size])
        if tree.root() != checkpoint.root_hash:
            return index, checkpoint
    return None


def _listed_leaves(bundle: Path, tree_size: int) -> list[bytes] | None:
    try:
        raw = (bundle / LEAVES).read_bytes()
    except OSError:
        return None
    if len(raw) != tree_size * HASH_SIZE:
        return None
    return [raw[i : i + HASH_SIZE] for i in range(0, len(raw), HASH_SIZE)]


def _check_inclusions(bundle: Path, events: CheckedEvents, last: Checkpoint | None) -> None:
    """Each event of a partial export is in the last checkpoint's tree, by its proof."""
    proofs: dict[int, InclusionRecord] = {
        record.seq: record for _, record in _records(bundle, INCLUSION, InclusionRecord)
    }
    for index, seq in enumerate(events.seqs):
        record = proofs.get(seq)
        if record is None or last is None or record.tree_size != last.size:
            msg = "no inclusion proof against the last checkpoint"
            raise VerificationError("altered", msg, seq)
        proof = _hashes(record.proof, f"{INCLUSION} event {seq}")
        try:
            verify_inclusion(events.leaf_hash(index), seq - 1, last.size, proof, last.root_hash)
        except ProofError as e:
            msg = f"not in the signed tree of size {last.size} (altered): {e}"
            raise VerificationError("altered", msg, seq) from None


# --- the manifest -----------------------------------------------------------------------------


def _check_manifest(
    bundle: Path,
    manifest: Manifest,
    events: CheckedEvents,
    checkpoints: list[Checkpoint],
    key: VerifierKey,
) -> None:
    counts = {
        "events": (manifest.events, len(events.seqs)),
        "first_seq": (manifest.first_seq, events.seqs[0] if events.seqs else None),
        "last_seq": (manifest.last_seq, events.seqs[-1] if events.seqs else None),
        "tree_size": (manifest.tree_size, checkpoints[-1].size if checkpoints else 0),
    }
    for name, (says, holds) in counts.items():
        if says != holds:
            msg = f"{MANIFEST} says {name} {says}, the bundle holds {holds}"
            raise VerificationError("manifest", msg)
    for name, digest in manifest.files.items():
        if "/" in name or name.startswith("."):
            raise VerificationError("manifest", f"{MANIFEST} names a file outside: {name!r}")
        try:
            actual = hashlib.sha256((bundle / name).read_bytes()).hexdigest()
        except OSError:
            raise VerificationError("manifest", f"{name} is listed but missing") from None
        if actual != digest:
            raise VerificationError("manifest", f"{name} does not match its hash in {MANIFEST}")
    try:
        note = open_note((bundle / MANIFEST_NOTE).read_bytes(), [key])
    except OSError:
        raise VerificationError("manifest", f"{MANIFEST_NOTE} is missing") from None
    except NoteError as e:
        raise VerificationError("signature", f"{MANIFEST_NOTE}: {e}") from None
    digest = hashlib.sha256((bundle / MANIFEST).read_bytes()).hexdigest()
    if note.text != manifest_note_text(manifest.origin, digest):
        msg = f"{MANIFEST} is not the signed one (its hash differs from {MANIFEST_NOTE}'s)"
        raise VerificationError("manifest", msg)
