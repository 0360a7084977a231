"""What the bundle verifier and the live log verifier share: the faults, and the checks of
the checkpoints and of the event lines.

Both verifiers run the same event pass (:func:`checked_events`: every line read, placed and
time-checked) and the same checkpoint pass (:func:`verified_checkpoints`: every note
signature-checked, in order, with no fork); they stop at the first fault, a
:class:`VerificationError` with its kind and the first failing sequence number.

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

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

from events.common import LATE_ENTRY
from replay.bundle_format import CHECKPOINTS, EVENTS, CheckpointRecord
from replay.checkpoint import Checkpoint, CheckpointError, checkpoint_fault, open_checkpoint
from replay.leaf import LeafError, LeafTimes, read_leaf
from replay.leaf_quarantine import EventLeaf, Flagged, read_lines
from replay.merkle import TreeBuilder
from replay.record_time import RecordClock, stored_time
from replay.signed_note import NoteError, VerifierKey

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


class VerificationError(Exception):
    """The bundle is not what the key signed: the first fault found, by kind and sequence."""

    def __init__(self, kind: FaultKind, message: str, seq: int | None = None) -> None:
        self.kind = kind
        self.seq = seq
        self.detail = message
        where = f"event {seq}: " if seq is not None else ""
        super().__init__(f"{kind}: {where}{message}")


def verified_checkpoints(
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


@dataclass
class CheckedEvents:
    """The event lines of a bundle or log, checked for place and time, in order."""

    lines: list[bytes]
    seqs: list[int]
    late: list[int]
    quarantined: list[Flagged] = field(default_factory=list)

    def leaf_hash(self, index: int) -> bytes:
        return hashlib.sha256(_LEAF + self.lines[index]).digest()


def checked_events(
    lines: Iterable[tuple[int, bytes]], scope: str, tree_size: int | None
) -> CheckedEvents:
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
    return CheckedEvents(kept, seqs, late, found)


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


def first_failing_checkpoint(
    lines: list[bytes], checkpoints: list[Checkpoint]
) -> tuple[int, Checkpoint] | None:
    """The first checkpoint whose root the event lines do not give (leaf hashing inlined)."""
    tree = TreeBuilder()
    for index, checkpoint in enumerate(checkpoints):
        tree.extend_entries(lines[tree.size : checkpoint.size])
        if tree.root() != checkpoint.root_hash:
            return index, checkpoint
    return None
