"""Which lines of a log or bundle are messages that are not events, for the verifier.

The verifier (``replay.verify``) places and hashes every line; these it does not read for
times. Judged by what a leaf holds (subject, version, payload) with ``events.quarantine``'s
rules, so that the live and the offline verification name the same sequences.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final, Literal

from events.quarantine import Kind, envelope_fault, payload_verdicts, token_of
from replay.leaf import Envelope, read_envelope


@dataclass(frozen=True)
class Flagged:
    """A stored message the verifier names instead of reading (``events.quarantine``).

    An event line's bytes are still hashed as stored: the signed roots cover them like any
    other; only decoding is skipped. A checkpoint message that is no checkpoint of this log
    (live verification only: a bundle holds the log's own checkpoints) is left out.
    """

    place: Literal["event", "checkpoint"]
    seq: int
    """The event's stream sequence, or the message's in the checkpoint stream."""
    kind: Kind
    reason: str


QUARANTINE_PAGE: Final = 10_000
"""Event payloads decoded in one call when looking for messages that are not events."""


def quarantined_lines(lines: list[bytes]) -> dict[int, Flagged]:
    """By position in ``lines``: the event lines whose message is not an event.

    Judged by what the leaf holds (subject, version, payload) with ``events.quarantine``'s
    rules, so the live and the offline verification name the same sequences. A line without
    a leaf's envelope is not here: :func:`read_leaf` calls it malformed.
    """
    envelopes: list[tuple[int, Envelope, bytes]] = []
    for position, line in enumerate(lines):
        found = read_envelope(line)
        if found is not None:
            envelopes.append((position, *found))
    flagged: dict[int, Flagged] = {}
    for first in range(0, len(envelopes), QUARANTINE_PAGE):
        page = envelopes[first : first + QUARANTINE_PAGE]
        verdicts = payload_verdicts([None] * len(page), [payload for _, _, payload in page])
        for (position, envelope, _), verdict in zip(page, verdicts, strict=True):
            version = None if envelope.version < 0 else str(envelope.version)
            fault = envelope_fault(token_of(envelope.subject), None, version)
            if fault is not None:
                flagged[position] = Flagged("event", envelope.seq, "foreign", fault)
            elif isinstance(verdict, tuple):
                flagged[position] = Flagged("event", envelope.seq, *verdict)
    return flagged


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
