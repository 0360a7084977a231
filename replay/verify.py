"""The offline verifier of an export bundle: needs the bundle and the verifier key, nothing else.

No NATS, no DuckDB: it reads the files (``replay.bundle_format``), recomputes every root from the
leaves, checks every proof and signature, and stops at the first fault with its kind and the
first failing sequence number. The checks run from the most precise to the most general, so a
deleted event is reported as "event 17 missing" rather than as a root that does not match.

Kinds of fault: ``malformed`` (a file or line that cannot be read), ``signature`` (a note not
signed by the key, or its signature broken), ``fork`` (two checkpoints for one size with
different roots), ``consistency`` (a later checkpoint does not extend an earlier one),
``missing`` (a gap in the sequence), ``order`` (an event out of place), ``backdated``,
``postdated`` and ``rewound`` (an event's times disagree with the server's storage time, as
``replay.record_time`` defines), ``uncovered`` (an event no checkpoint covers), ``altered``
(an event's bytes are not those the checkpoints sign), ``manifest`` (the manifest's counts or
file hashes do not match the bundle).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, TypeVar

import msgspec

from events.common import LATE_ENTRY
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
from replay.checkpoint import Checkpoint, CheckpointError, checkpoint_fault, open_checkpoint
from replay.leaf import LeafError, LeafTimes, parse_leaf, read_leaf
from replay.leaf_quarantine import EventLeaf, Flagged, joined_leaves, read_lines
from replay.merkle import HASH_SIZE, ProofError, TreeBuilder, verify_consistency, verify_inclusion
from replay.record_time import RecordClock, stored_time
from replay.signed_note import NoteError, VerifierKey, open_note

FaultKind = Literal[
    "malformed",
    "signature",
    "fork",
    "consistency",
    "missing",
    "order",
    "backdated",
    "postdated",
    "rewound",
    "uncovered",
    "altered",
    "manifest",
]

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
    quarantined: list[Flagged] = field(default_factory=list)
    """Stored messages that are not events: named, hashed, not decoded."""


def verify_bundle(bundle: Path, key: VerifierKey) -> Report:
    """Verify the bundle at ``bundle`` against ``key``; raise :class:`VerificationError`."""
    manifest = _read_manifest(bundle)
    checkpoints = _verified_checkpoints(
        _records(bundle, CHECKPOINTS, CheckpointRecord), key, manifest.origin
    )
    _check_consistency(bundle, checkpoints)
    last = checkpoints[-1] if checkpoints else None
    tree_size = last.size if last else 0
    events = _checked_events(joined_leaves(_lines(bundle, EVENTS)), manifest.scope, tree_size)
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


def _verified_checkpoints(
    records: Iterable[tuple[int, CheckpointRecord]],
    key: VerifierKey,
    origin: str,
    flagged: list[Flagged] | None = None,
) -> list[Checkpoint]:
    """Every checkpoint, signature-checked, in order, with no fork; the distinct sizes only.

    With ``flagged`` (the live log), a message that is no checkpoint of this log is added
    there and left out (``replay.checkpoint.checkpoint_fault``) instead of failing.
    """
    if key.name != origin:
        msg = f"the key {key.label} is not the log {origin!r}'s key (the names differ)"
        raise VerificationError("signature", msg)
    by_size: dict[int, Checkpoint] = {}
    ordered: list[Checkpoint] = []
    for number, record in records:
        where = f"{CHECKPOINTS} line {number} (checkpoint {record.seq})"
        if flagged is not None:
            verdict = checkpoint_fault(record.note, [key], origin)
            if not isinstance(verdict, Checkpoint):
                flagged.append(Flagged("checkpoint", record.seq, *verdict))
                continue
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


@dataclass
class _Events:
    """The event lines of a bundle or log, checked for place and time, in order."""

    lines: list[bytes]
    seqs: list[int]
    late: list[int]
    quarantined: list[Flagged] = field(default_factory=list)

    def leaf_hash(self, index: int) -> bytes:
        return hashlib.sha256(_LEAF + self.lines[index]).digest()


def _checked_events(
    lines: Iterable[tuple[int, bytes]], scope: str, tree_size: int | None
) -> _Events:
    """Every event line read, placed and time-checked, in one pass.

    ``tree_size`` None: events after the last checkpoint are allowed (a live log).
    """
    contiguous = scope in ("all", "range")
    kept: list[bytes] = []
    seqs: list[int] = []
    late: list[int] = []
    expected = 1 if scope == "all" else None
    previous_seq = 0
    clock = RecordClock()
    numbered = list(lines)
    read = read_lines([line for _, line in numbered])
    flagged = read.flagged
    found: list[Flagged] = []

    def place(seq: int, expected: int, number: int, position: int) -> None:
        if contiguous and seq != expected:
            _misplaced(seq, expected, number, numbered[position + 1 :])
        if seq <= previous_seq:
            msg = f"comes after event {previous_seq} at {EVENTS} line {number}"
            raise VerificationError("order", msg, seq)

    def covered(seq: int) -> None:
        if tree_size is not None and seq > tree_size:
            msg = f"not covered by any checkpoint (the last covers 1..{tree_size})"
            raise VerificationError("uncovered", msg, seq)

    for position, (number, line) in enumerate(numbered):
        quarantined = flagged.get(position)
        if quarantined is not None:  # placed and hashed, not read: no times to check
            place(quarantined.seq, quarantined.seq if expected is None else expected, number,
                  position)  # fmt: skip
            covered(quarantined.seq)
            found.append(quarantined)
            kept.append(line)
            seqs.append(quarantined.seq)
            previous_seq, expected = quarantined.seq, quarantined.seq + 1
            continue
        leaf: LeafTimes | EventLeaf | None = read.leaves[position]
        if leaf is None:  # its page held something else: read on its own
            try:
                leaf = read_leaf(line, f"{EVENTS} line {number}")
            except LeafError as e:
                raise VerificationError("malformed", str(e), _seq_of(line)) from None
        seq, event = leaf.seq, leaf.event
        if expected is None:
            expected = seq
        place(seq, expected, number, position)
        _check_time(clock, leaf, number)
        covered(seq)
        if event.backdated or event.recorded_at - event.occurred_at > LATE_ENTRY:
            late.append(seq)
        kept.append(line)
        seqs.append(seq)
        previous_seq = seq
        expected = seq + 1
    return _Events(kept, seqs, late, found)


def _check_time(clock: RecordClock, leaf: LeafTimes | EventLeaf, number: int) -> None:
    """The event's recorded time held to the server's storage time (``replay.record_time``)."""
    stored_at = stored_time(leaf.stored_at)
    if stored_at is None:
        msg = f"{EVENTS} line {number}: stored_at {leaf.stored_at!r} is not an RFC 3339 time"
        raise VerificationError("malformed", msg, leaf.seq)
    fault = clock.check(leaf.seq, leaf.event.recorded_at, stored_at)
    if fault is not None:
        raise VerificationError(fault.kind, fault.message, leaf.seq)


def _misplaced(seq: int, expected: int, number: int, rest: list[tuple[int, bytes]]) -> None:
    """Event ``expected`` is not where it belongs: elsewhere (out of order), or missing."""
    later = next((n for n, line in rest if _seq_of(line) == expected), None)
    if later is not None:
        msg = f"out of order: it is at {EVENTS} line {later}, line {number} holds event {seq}"
        raise VerificationError("order", msg, expected)
    if seq < expected:
        msg = f"out of order: {EVENTS} line {number} holds it where event {expected} belongs"
        raise VerificationError("order", msg, seq)
    msg = f"missing from the bundle ({EVENTS} line {number} holds event {seq})"
    raise VerificationError("missing", msg, expected)


def _seq_of(line: bytes) -> int | None:
    """The sequence a malformed line claims, if it can be read at all (for the message)."""
    if line.startswith(b'{"seq":'):
        digits = line[7:].split(b",", 1)[0]
        if digits.isdigit():
            return int(digits)
    return None


def _check_whole_log(bundle: Path, events: _Events, checkpoints: list[Checkpoint]) -> None:
    """Every checkpoint's root recomputed from the events; a difference named to the event."""
    tree_size = checkpoints[-1].size if checkpoints else 0
    if len(events.lines) < tree_size:
        n = len(events.lines)
        msg = f"missing: the bundle ends at event {n}, the checkpoints cover {tree_size}"
        raise VerificationError("missing", msg, n + 1)
    failing = _first_failing_checkpoint(events.lines, checkpoints)
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


def _first_failing_checkpoint(
    lines: list[bytes], checkpoints: list[Checkpoint]
) -> tuple[int, Checkpoint] | None:
    """The first checkpoint whose root the event lines do not give (leaf hashing inlined)."""
    tree = TreeBuilder()
    for index, checkpoint in enumerate(checkpoints):
        tree.extend_entries(lines[tree.size : checkpoint.size])
        if tree.root() != checkpoint.root_hash:
            return index, checkpoint
    return None


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


def _check_inclusions(bundle: Path, events: _Events, last: Checkpoint | None) -> None:
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
    events: _Events,
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
    quarantined: list[Flagged] = field(default_factory=list)
    """Stored messages that are not events (or no checkpoint of the log): named, not read."""


def verify_log(
    lines: Iterable[bytes], checkpoints: Iterable[CheckpointRecord], key: VerifierKey, origin: str
) -> LiveReport:
    """The bundle's checks on the log itself: every checkpoint root recomputed from the events.

    Recomputing each root from the leaves proves each checkpoint extends the previous one, so
    no consistency proof is needed here.
    """
    flagged: list[Flagged] = []
    verified = _verified_checkpoints(
        ((n, record) for n, record in enumerate(checkpoints, start=1)), key, origin, flagged
    )
    events = _checked_events(((n, line) for n, line in enumerate(lines, start=1)), "all", None)
    tree_size = verified[-1].size if verified else 0
    if len(events.lines) < tree_size:
        n = len(events.lines)
        msg = f"the log ends at event {n}, its checkpoints cover {tree_size}"
        raise VerificationError("missing", msg, n + 1)
    failing = _first_failing_checkpoint(events.lines, verified)
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
        events=len(events.lines),
        checkpoints=len(verified),
        tree_size=tree_size,
        root=base64.b64encode(verified[-1].root_hash).decode() if verified else "",
        not_yet_checkpointed=len(events.lines) - tree_size,
        late_entries=events.late,
        quarantined=events.quarantined + flagged,
    )
