"""Which lines of a log or bundle are messages that are not events, for the verifier.

The verifiers (``replay.verification``) place and hash every line; these they do not read for
times. Judged by what a leaf holds (subject, version, payload) with
``events.jetstream.quarantine``'s
rules, so that the live and the offline verification name the same sequences.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

import msgspec

from events import codec
from events.jetstream.quarantine import QuarantineKind, envelope_fault, payload_verdicts, token_of
from replay.leaf import Envelope, read_envelope


@dataclass(frozen=True)
class Flagged:
    """A stored message the verifier names instead of reading (``events.jetstream.quarantine``).

    An event line's bytes are still hashed as stored: the signed roots cover them like any
    other; only decoding is skipped. A checkpoint message that is no checkpoint of this log
    (live verification only: a bundle holds the log's own checkpoints) is left out.
    """

    place: Literal["event", "checkpoint"]
    seq: int
    """The event's stream sequence, or the message's in the checkpoint stream."""
    kind: QuarantineKind
    reason: str


QUARANTINE_PAGE: Final = 10_000
"""Lines decoded in one call when looking for messages that are not events."""


class EventLeaf(msgspec.Struct, forbid_unknown_fields=True):
    """A leaf whose payload is one of our events (decoded and validated whole): what the
    verifier reads of it too, so that a line is decoded once."""

    seq: int
    subject: str
    version: int
    stored_at: str
    event: codec.AnyEvent


_decode_page: Final = msgspec.json.Decoder(list[EventLeaf]).decode
_UUID_SUBJECT: Final = re.compile(
    r"hsl\.[^.]+\.events\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z"
).match
"""An event subject naming an aggregate by its UUID
(``events.jetstream.quarantine.CANONICAL_UUID``)."""


@dataclass(frozen=True)
class ReadLines:
    """What :func:`read_lines` found, by position in the lines it was given."""

    flagged: dict[int, Flagged]
    """The event lines whose message is not an event."""
    leaves: list[EventLeaf | None]
    """Each line decoded whole; None where it is flagged or its page was read line by line."""


def read_lines(lines: list[bytes]) -> ReadLines:
    """Decode ``lines`` as event leaves, a page at a time, and flag those that are not events.

    Judged by what the leaf holds (subject, version, payload) with ``events.jetstream.quarantine``'s
    rules, so the live and the offline verification name the same sequences. A line without
    a leaf's envelope is not flagged: :func:`replay.leaf.read_leaf` calls it malformed. A page
    of lines is decoded in one call; only a page holding something else is looked at line by
    line.
    """
    flagged: dict[int, Flagged] = {}
    leaves: list[EventLeaf | None] = []
    for first in range(0, len(lines), QUARANTINE_PAGE):
        page = lines[first : first + QUARANTINE_PAGE]
        try:
            decoded = _decode_page(b"[" + b",".join(page) + b"]")
        except msgspec.MsgspecError:
            decoded = []
        if len(decoded) != len(page) or not all(
            line.startswith(b'{"seq":%d,' % leaf.seq)
            for line, leaf in zip(page, decoded, strict=True)
        ):
            flagged |= _line_by_line(page, first)
            leaves.extend([None] * len(page))
            continue
        leaves.extend(decoded)
        for position, leaf in enumerate(decoded, start=first):
            if leaf.version >= 0 and _UUID_SUBJECT(leaf.subject):
                continue  # the common case: an aggregate with a UUID, a version
            fault = _envelope_fault(leaf.subject, leaf.version)
            if fault is not None:
                flagged[position] = Flagged("event", leaf.seq, "foreign", fault)
                leaves[position] = None
    return ReadLines(flagged, leaves)


def _line_by_line(page: list[bytes], first: int) -> dict[int, Flagged]:
    envelopes: list[tuple[int, Envelope, bytes]] = []
    for position, line in enumerate(page, start=first):
        found = read_envelope(line)
        if found is not None:
            envelopes.append((position, *found))
    verdicts = payload_verdicts([None] * len(envelopes), [payload for _, _, payload in envelopes])
    flagged: dict[int, Flagged] = {}
    for (position, envelope, _), verdict in zip(envelopes, verdicts, strict=True):
        fault = _envelope_fault(envelope.subject, envelope.version)
        if fault is not None:
            flagged[position] = Flagged("event", envelope.seq, "foreign", fault)
        elif isinstance(verdict, tuple):
            flagged[position] = Flagged("event", envelope.seq, *verdict)
    return flagged


@lru_cache(maxsize=1 << 16)
def _envelope_fault(subject: str, version: int) -> str | None:
    """:func:`events.jetstream.quarantine.envelope_fault` of a leaf (remembered: one aggregate's
    subject recurs on every one of its events)."""
    text = None if version < 0 else str(version)
    return envelope_fault(token_of(subject), None, text)


def joined_leaves(lines: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
    """(line number, leaf) of an ``events.jsonl``: every leaf starts with ``{"seq":``, so a line
    that does not continues the one before (a stored payload holding a line break, which only
    a message that is not an event can hold)."""
    held: tuple[int, bytes] | None = None
    for number, line in lines:
        if held is not None and not line.startswith(b'{"seq":'):
            held = (held[0], held[1] + b"\n" + line)
            continue
        if held is not None:
            yield held
        held = (number, line)
    if held is not None:
        yield held
