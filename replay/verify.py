"""The offline verifier of an export bundle: needs the bundle and the verifier key, nothing else.

No NATS, no DuckDB: it reads the files (``replay.bundle_format``), recomputes every root from the
leaves, checks every proof and signature, and stops at the first fault with its kind and the
first failing sequence number. The checks run from the most precise to the most general, so a
deleted event is reported as "event 17 missing" rather than as a root that does not match.

Kinds of fault: ``malformed`` (a file or line that cannot be read), ``signature`` (a note not
signed by the key, or its signature broken), ``fork`` (two checkpoints for one size with
different roots), ``consistency`` (a later checkpoint does not extend an earlier one),
``missing`` (a gap in the sequence), ``order`` (an event out of place), ``backdated``
(``recorded_at`` goes back along the sequence), ``uncovered`` (an event no checkpoint
covers), ``altered`` (an event's bytes are not those the checkpoints sign), ``manifest`` (the
manifest's counts or file hashes do not match the bundle).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, Literal, TypeVar

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
from replay.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from replay.leaf import Leaf, LeafError, parse_leaf
from replay.merkle import HASH_SIZE, ProofError, TreeBuilder, verify_consistency, verify_inclusion
from replay.signed_note import NoteError, VerifierKey, open_note

FaultKind = Literal[
    "malformed",
    "signature",
    "fork",
    "consistency",
    "missing",
    "order",
    "backdated",
    "uncovered",
    "altered",
    "manifest",
]

LATE_ENTRY: Final = timedelta(days=7)
"""Recorded this long after it occurred: listed for the auditor (service.domain.rules)."""

_LEAF: Final = b"\x00"
T = TypeVar("T")


class VerificationError(Exception):
    """The bundle is not what the key signed: the first fault found, by kind and sequence."""

    def __init__(self, kind: FaultKind, message: str, seq: int | None = None) -> None:
        self.kind = kind
        self.seq = seq
        self.detail = message
        where = f"event {seq}: " if seq is not None else ""
        super().__init__(f"{kind}: {where}{message}")


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


def verify_bundle(bundle: Path, key: VerifierKey) -> Report:
    """Verify the bundle at ``bundle`` against ``key``; raise :class:`VerificationError`."""
    manifest = _read_manifest(bundle)
    checkpoints = _verified_checkpoints(
        _records(bundle, CHECKPOINTS, CheckpointRecord), key, manifest.origin
    )
    _check_consistency(bundle, checkpoints)
    last = checkpoints[-1] if checkpoints else None
    tree_size = last.size if last else 0
    leaves, late = _checked_events(_lines(bundle, EVENTS), manifest.scope, tree_size)
    if manifest.scope == "all":
        _check_whole_log(bundle, leaves, checkpoints)
    else:
        _check_inclusions(bundle, leaves, last)
    _check_manifest(bundle, manifest, leaves, checkpoints, key)
    return Report(
        origin=manifest.origin,
        scope=manifest.scope,
        events=len(leaves),
        first_seq=leaves[0][0].seq if leaves else None,
        last_seq=leaves[-1][0].seq if leaves else None,
        tree_size=tree_size,
        root=base64.b64encode(last.root_hash).decode() if last else "",
        checkpoints=len(checkpoints),
        late_entries=late,
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


def _verified_checkpoints(
    records: Iterable[tuple[int, CheckpointRecord]], key: VerifierKey, origin: str
) -> list[Checkpoint]:
    """Every checkpoint, signature-checked, in order, with no fork; the distinct sizes only."""
    if key.name != origin:
        msg = f"the key {key.label} is not the log {origin!r}'s key (the names differ)"
        raise VerificationError("signature", msg)
    by_size: dict[int, Checkpoint] = {}
    ordered: list[Checkpoint] = []
    for number, record in records:
        where = f"{CHECKPOINTS} line {number} (checkpoint {record.seq})"
        try:
            checkpoint, _ = open_checkpoint(record.note, [key], origin=origin)
        except NoteError as e:
            raise VerificationError("signature", f"{where}: {e}") from None
        except CheckpointError as e:
            raise VerificationError("malformed", f"{where}: {e}") from None
        seen = by_size.get(checkpoint.size)
        if seen is not None:
            if seen.root_hash != checkpoint.root_hash:
                msg = (
                    f"{where}: two signed checkpoints for tree size {checkpoint.size} "
                    "have different roots (a fork: the log was rewritten)"
                )
                raise VerificationError("fork", msg, checkpoint.size)
            continue
        if ordered and checkpoint.size < ordered[-1].size:
            msg = f"{where}: tree size {checkpoint.size} after {ordered[-1].size} (the log shrank)"
            raise VerificationError("consistency", msg)
        by_size[checkpoint.size] = checkpoint
        ordered.append(checkpoint)
    return [c for c in ordered if c.size > 0]


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


def _checked_events(
    lines: Iterable[tuple[int, bytes]], scope: str, tree_size: int | None
) -> tuple[list[tuple[Leaf, bytes]], list[int]]:
    """Every event line parsed, placed and time-checked; with each its leaf hash.

    ``tree_size`` None: events after the last checkpoint are allowed (a live log).
    """
    parsed: list[tuple[int, Leaf, bytes]] = []
    for number, line in lines:
        try:
            leaf = parse_leaf(line, f"{EVENTS} line {number}")
        except LeafError as e:
            raise VerificationError("malformed", str(e), _seq_of(line)) from None
        parsed.append((number, leaf, line))
    _check_places(parsed, scope)
    leaves: list[tuple[Leaf, bytes]] = []
    late: list[int] = []
    previous: Leaf | None = None
    sha256 = hashlib.sha256
    for _, leaf, line in parsed:
        if previous is not None and leaf.recorded_at < previous.recorded_at:
            msg = (
                f"recorded_at {leaf.recorded_at.isoformat()} is earlier than event "
                f"{previous.seq}'s {previous.recorded_at.isoformat()} (back-dated)"
            )
            raise VerificationError("backdated", msg, leaf.seq)
        if tree_size is not None and leaf.seq > tree_size:
            msg = f"not covered by any checkpoint (the last covers 1..{tree_size})"
            raise VerificationError("uncovered", msg, leaf.seq)
        if leaf.backdated or _late(leaf.recorded_at, leaf.occurred_at):
            late.append(leaf.seq)
        leaves.append((leaf, sha256(_LEAF + line).digest()))
        previous = leaf
    return leaves, late


def _check_places(parsed: list[tuple[int, Leaf, bytes]], scope: str) -> None:
    """Whole and range exports hold consecutive sequences; every export, increasing ones."""
    if not parsed:
        return
    expected = 1 if scope == "all" else parsed[0][1].seq
    line_of = {leaf.seq: number for number, leaf, _ in parsed}
    previous: Leaf | None = None
    for number, leaf, _ in parsed:
        if scope in ("all", "range") and leaf.seq != expected:
            if expected in line_of:
                msg = (
                    f"out of order: it is at {EVENTS} line {line_of[expected]}, after event "
                    f"{leaf.seq} at line {number}"
                )
                raise VerificationError("order", msg, expected)
            msg = f"missing from the bundle ({EVENTS} line {number} holds event {leaf.seq})"
            raise VerificationError("missing", msg, expected)
        if previous is not None and leaf.seq <= previous.seq:
            msg = f"comes after event {previous.seq} at {EVENTS} line {number}"
            raise VerificationError("order", msg, leaf.seq)
        previous = leaf
        expected = leaf.seq + 1


def _late(recorded_at: datetime, occurred_at: datetime) -> bool:
    return recorded_at - occurred_at > LATE_ENTRY


def _seq_of(line: bytes) -> int | None:
    """The sequence a malformed line claims, if it can be read at all (for the message)."""
    if line.startswith(b'{"seq":'):
        digits = line[7:].split(b",", 1)[0]
        if digits.isdigit():
            return int(digits)
    return None


def _check_whole_log(
    bundle: Path, leaves: list[tuple[Leaf, bytes]], checkpoints: list[Checkpoint]
) -> None:
    """Every checkpoint's root recomputed from the events; a difference named to the event."""
    tree_size = checkpoints[-1].size if checkpoints else 0
    if len(leaves) < tree_size:
        msg = f"missing: the bundle ends at event {len(leaves)}, the checkpoints cover {tree_size}"
        raise VerificationError("missing", msg, len(leaves) + 1)
    failing = _first_failing_checkpoint((h for _, h in leaves), checkpoints)
    if failing is None:
        return
    index, checkpoint = failing
    start = checkpoints[index - 1].size + 1 if index else 1
    listed = _listed_leaves(bundle, tree_size)
    if listed is not None and _first_failing_checkpoint(iter(listed), checkpoints) is None:
        for position, (leaf, computed) in enumerate(leaves[:tree_size]):
            if computed != listed[position]:
                msg = "its bytes are not those the checkpoints sign (altered)"
                raise VerificationError("altered", msg, leaf.seq)
    msg = (
        f"events {start}..{checkpoint.size} do not give the signed root of tree size "
        f"{checkpoint.size} (one of them was altered)"
    )
    raise VerificationError("altered", msg, start)


def _first_failing_checkpoint(
    leaf_hashes: Iterator[bytes], checkpoints: list[Checkpoint]
) -> tuple[int, Checkpoint] | None:
    tree = TreeBuilder()
    for index, checkpoint in enumerate(checkpoints):
        while tree.size < checkpoint.size:
            tree.append(next(leaf_hashes))
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


def _check_inclusions(
    bundle: Path, leaves: list[tuple[Leaf, bytes]], last: Checkpoint | None
) -> None:
    """Each event of a partial export is in the last checkpoint's tree, by its proof."""
    proofs: dict[int, InclusionRecord] = {
        record.seq: record for _, record in _records(bundle, INCLUSION, InclusionRecord)
    }
    for leaf, leaf_hash in leaves:
        record = proofs.get(leaf.seq)
        if record is None or last is None or record.tree_size != last.size:
            msg = "no inclusion proof against the last checkpoint"
            raise VerificationError("altered", msg, leaf.seq)
        proof = _hashes(record.proof, f"{INCLUSION} event {leaf.seq}")
        try:
            verify_inclusion(leaf_hash, leaf.seq - 1, last.size, proof, last.root_hash)
        except ProofError as e:
            msg = f"not in the signed tree of size {last.size} (altered): {e}"
            raise VerificationError("altered", msg, leaf.seq) from None


# --- the manifest -----------------------------------------------------------------------------


def _check_manifest(
    bundle: Path,
    manifest: Manifest,
    leaves: list[tuple[Leaf, bytes]],
    checkpoints: list[Checkpoint],
    key: VerifierKey,
) -> None:
    counts = {
        "events": (manifest.events, len(leaves)),
        "first_seq": (manifest.first_seq, leaves[0][0].seq if leaves else None),
        "last_seq": (manifest.last_seq, leaves[-1][0].seq if leaves else None),
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


# --- the live log -----------------------------------------------------------------------------


@dataclass
class LiveReport:
    """What verifying the running log established."""

    origin: str
    events: int
    checkpoints: int
    tree_size: int
    root: str
    not_yet_checkpointed: int
    """Events stored after the last checkpoint: not yet signed, checked for order only."""
    late_entries: list[int] = field(default_factory=list)


def verify_log(
    lines: Iterable[bytes], checkpoints: Iterable[CheckpointRecord], key: VerifierKey, origin: str
) -> LiveReport:
    """The bundle's checks on the log itself: every checkpoint root recomputed from the events.

    Recomputing each root from the leaves proves each checkpoint extends the previous one, so
    no consistency proof is needed here.
    """
    verified = _verified_checkpoints(
        ((n, record) for n, record in enumerate(checkpoints, start=1)), key, origin
    )
    leaves, late = _checked_events(
        ((n, line) for n, line in enumerate(lines, start=1)), "all", None
    )
    tree_size = verified[-1].size if verified else 0
    if len(leaves) < tree_size:
        msg = f"the log ends at event {len(leaves)}, its checkpoints cover {tree_size}"
        raise VerificationError("missing", msg, len(leaves) + 1)
    failing = _first_failing_checkpoint((h for _, h in leaves), verified)
    if failing is not None:
        index, checkpoint = failing
        start = verified[index - 1].size + 1 if index else 1
        msg = (
            f"events {start}..{checkpoint.size} do not give the signed root of tree size "
            f"{checkpoint.size} (an event was altered after it was checkpointed)"
        )
        raise VerificationError("altered", msg, start)
    return LiveReport(
        origin=origin,
        events=len(leaves),
        checkpoints=len(verified),
        tree_size=tree_size,
        root=base64.b64encode(verified[-1].root_hash).decode() if verified else "",
        not_yet_checkpointed=len(leaves) - tree_size,
        late_entries=late,
    )
