"""The canonical bytes of a stored event: one Merkle leaf, and one line of an export.

Every stored event is leaf number ``seq - 1`` of the log's Merkle tree (RFC 9162 hashing in
``replay.merkle``). Its bytes bind everything an auditor relies on: the stream sequence (its
place), the subject (which aggregate), the aggregate version, the server's storage time, and
the stored event JSON verbatim::

    {"seq":17,"subject":"hsl.hsl.events.<id>","version":3,"stored_at":"2026-…Z","event":{…}}

Keys in that order, no spaces, UTF-8, the event exactly as stored (msgspec's compact JSON).
An export writes these bytes as one line of ``events.jsonl``; the verifier hashes each line as
it stands, so it needs no knowledge of our Python classes to recompute every root.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import msgspec

from events.jetstream.operations import StoredMessage
from events.jetstream.quarantine import MAX_VERSION_DIGITS, NO_VERSION
from events.jetstream.stream_layout import ORIGINATOR_VERSION

_encode_str: Final = msgspec.json.encode


class LeafError(ValueError):
    """A line that is not a canonical leaf; the message names the sequence and the fault."""


def leaf_bytes(message: StoredMessage) -> bytes:
    """The canonical bytes of one stored event message.

    A message stored without a version header, or with one that is no version
    (``events.jetstream.quarantine``: not one of our events), has version -1: its leaf is still its
    bytes as stored, and the verifier names it.
    """
    text = message.headers.get(ORIGINATOR_VERSION, "")
    valid = text.isascii() and text.isdigit() and len(text) <= MAX_VERSION_DIGITS
    version = int(text) if valid else NO_VERSION
    return b"".join(
        (
            b'{"seq":',
            str(message.seq).encode(),
            b',"subject":',
            _encode_str(message.subject),
            b',"version":',
            str(version).encode(),
            b',"stored_at":',
            _encode_str(message.timestamp),
            b',"event":',
            message.payload,
            b"}",
        )
    )


class _Leaf(msgspec.Struct, forbid_unknown_fields=True):
    seq: int
    subject: str
    version: int
    stored_at: str
    event: msgspec.Raw


class _EventTimes(msgspec.Struct):
    """The fields of a stored event the verifier checks beyond its hash."""

    type: str
    recorded_at: datetime
    occurred_at: datetime
    backdated: bool = False


@dataclass(frozen=True)
class Leaf:
    """A parsed leaf: what the verifier checks besides its hash."""

    seq: int
    subject: str
    version: int
    stored_at: str
    event_type: str
    recorded_at: datetime
    occurred_at: datetime
    backdated: bool


class LeafTimes(msgspec.Struct, forbid_unknown_fields=True):
    """What the verifier reads of every line, in one decode (the hash covers the rest)."""

    seq: int
    subject: str
    version: int
    stored_at: str
    event: _EventTimes


_decode_leaf: Final = msgspec.json.Decoder(_Leaf).decode
_decode_times: Final = msgspec.json.Decoder(_EventTimes).decode
_decode_leaf_times: Final = msgspec.json.Decoder(LeafTimes).decode


class Envelope(msgspec.Struct, forbid_unknown_fields=True):
    """A leaf's place, around the stored payload (read without reading the payload)."""

    seq: int
    subject: str
    version: int
    stored_at: str


_EVENT_KEY: Final = b',"event":'
_decode_envelope: Final = msgspec.json.Decoder(Envelope).decode


def read_envelope(line: bytes) -> tuple[Envelope, bytes] | None:
    """A line's envelope and the stored payload it ends with, or None if it has none.

    The payload is whatever was stored (``events.jetstream.quarantine``: perhaps not JSON at all),
    so it is cut out, not parsed: ``,"event":`` cannot occur earlier, inside the JSON strings of the
    subject or the time (a quote there is escaped).
    """
    at = line.find(_EVENT_KEY)
    if at < 0 or not line.endswith(b"}"):
        return None
    try:
        envelope = _decode_envelope(line[:at] + b"}")
    except msgspec.MsgspecError:
        return None
    return envelope, line[at + len(_EVENT_KEY) : -1]


def read_leaf(line: bytes, where: str) -> LeafTimes:
    """Read a line's place and times, without the canonical-form check of :func:`parse_leaf`.

    The fast path of verification: a line out of canonical form changes its hash, which the
    signed roots catch; :func:`parse_leaf` then says what is wrong with it.
    """
    try:
        return _decode_leaf_times(line)
    except msgspec.MsgspecError as e:
        msg = f"{where}: not a canonical event line ({e})"
        raise LeafError(msg) from None


def parse_leaf(line: bytes, where: str) -> Leaf:
    """Parse one canonical line; ``where`` names it in errors (e.g. "line 17")."""
    try:
        leaf = _decode_leaf(line)
        times = _decode_times(leaf.event)
    except msgspec.MsgspecError as e:
        msg = f"{where}: not a canonical event line ({e})"
        raise LeafError(msg) from None
    parsed = Leaf(
        seq=leaf.seq,
        subject=leaf.subject,
        version=leaf.version,
        stored_at=leaf.stored_at,
        event_type=times.type,
        recorded_at=times.recorded_at,
        occurred_at=times.occurred_at,
        backdated=times.backdated,
    )
    if canonical(parsed, bytes(leaf.event)) != line:
        msg = f"{where}: event {leaf.seq} is not in canonical form (spacing or key order changed)"
        raise LeafError(msg)
    return parsed


def canonical(leaf: Leaf, event: bytes) -> bytes:
    """The canonical line for a parsed leaf and its event bytes."""
    return leaf_bytes(
        StoredMessage(
            seq=leaf.seq,
            subject=leaf.subject,
            headers={ORIGINATOR_VERSION: str(leaf.version)},
            payload=event,
            timestamp=leaf.stored_at,
        )
    )
