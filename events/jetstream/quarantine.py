"""Which stored messages are events of the log, and which are quarantined (skipped, counted, named).

The log is immutable: whoever may publish on its subjects (docs/operations.md, "Who may publish
where") can store a message that is not one of our events, and it stays forever. Every reader
asks this module what a stored message is, so they all skip the same ones:

- an **event**: its subject names an aggregate, its headers carry the topic and version, its
  payload decodes (``events.codec.decode``) into the event its topic names;
- **undecodable**: the payload is not JSON, or not an event of a type we know;
- **foreign**: it breaks the contract: no topic or version header, a subject that names no
  aggregate, a known type with a field missing or wrong (an event without an actor), a payload
  of another type than its topic says.

A quarantined message is skipped (never applied, never published), counted, and exposed: the
views' ``quarantine`` table, ``/metrics``, ``hsl log status``, ``hsl audit verify``. Its bytes stay
in the Merkle tree as stored; only decoding is skipped. Reasons never quote more than a short
prefix of a payload.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import msgspec
import structlog

from events import codec
from events.common import BaseEvent
from events.jetstream.operations import StoredMessage
from events.jetstream.stream_layout import (
    ORIGINATOR_VERSION,
    TOPIC,
    decode_header_text,
    originator_id_from_token,
)

log = structlog.get_logger(__name__)

QuarantineKind = Literal["undecodable", "foreign"]
"""Why a message is quarantined: it cannot be read at all, or it reads as something not ours."""

FOREIGN_TOPIC: Final = "\x00"
"""Starts the topic of a notification whose subject or headers are not an event's (no event
type begins with it); the rest is the reason. Readers that get notifications (the projector,
the log reader child) carry the verdict on the envelope this way."""

MAX_VERSION_DIGITS: Final = 18
"""An aggregate version is a 64-bit integer: more digits are no version (and no leaf's)."""

NO_VERSION: Final = -1
"""The version a Merkle leaf gives a message stored without a version header."""

CANONICAL_UUID: Final = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z"
).match
"""The subject token of an aggregate with a UUID id, as the recorder writes it."""

REASON_LENGTH: Final = 200
"""Characters of a reason kept: a validation error may quote a value of the payload."""


@dataclass(frozen=True, slots=True)
class Quarantined:
    """One stored message that is not an event of the log, and why."""

    stream: str
    seq: int
    subject: str
    kind: QuarantineKind
    reason: str

    def describe(self) -> str:
        return f"{self.stream} message {self.seq} ({self.subject}): {self.kind}: {self.reason}"


class QuarantinedError(ValueError):
    """A reader that cannot skip (one aggregate's history) met a quarantined message."""

    def __init__(self, quarantined: Quarantined) -> None:
        self.quarantined = quarantined
        super().__init__(quarantined.describe())


@dataclass
class QuarantineCounter:
    """What one reader has quarantined: logged once each, counted by stream."""

    reader: str
    seen: set[tuple[str, int]] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)

    def note(self, quarantined: Quarantined) -> bool:
        """Count ``quarantined`` and log it, the first time only; True if it was new."""
        key = (quarantined.stream, quarantined.seq)
        if key in self.seen:
            return False
        self.seen.add(key)
        self.counts[quarantined.stream] = self.counts.get(quarantined.stream, 0) + 1
        log.warning(
            "quarantined",
            reader=self.reader,
            stream=quarantined.stream,
            seq=quarantined.seq,
            subject=quarantined.subject,
            kind=quarantined.kind,
            reason=quarantined.reason,
        )
        return True

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def short(text: str) -> str:
    """A reason cut to :data:`REASON_LENGTH` characters, on one line."""
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= REASON_LENGTH else one_line[: REASON_LENGTH - 1] + "…"


def prefix(data: bytes, length: int = 16) -> str:
    """The first bytes of a payload, for a reason (never the whole: it might hold a secret)."""
    shown = data[:length].decode("utf-8", "replace")
    return repr(shown + ("…" if len(data) > length else ""))


# --- the envelope: subject and headers ---------------------------------------------------------


def envelope_fault(token: str | None, topic: str | None, version: str | None) -> str | None:
    """What in a message's subject token and headers is not an event's, or None.

    ``topic`` None: not checked (a Merkle leaf carries no topic).
    """
    if token is None:
        return "its subject names no aggregate of the log"
    if topic is not None and not topic:
        return f"no {TOPIC} header"
    if version is None:
        return f"no {ORIGINATOR_VERSION} header"
    if not (version.isascii() and version.isdigit()) or len(version) > MAX_VERSION_DIGITS:
        return f"{ORIGINATOR_VERSION} {version[:20]!r} is not a version"
    return None if _names_aggregate(token) else f"subject token {token[:40]!r} names no aggregate"


def _names_aggregate(token: str) -> bool:
    if CANONICAL_UUID(token):  # the common case, without parsing
        return True
    try:
        originator_id_from_token(token)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False
    return True


def foreign_topic(reason: str) -> str:
    """The topic a notification carries when its envelope is not an event's."""
    return FOREIGN_TOPIC + short(reason)


def token_of(subject: str, events_prefix: str | None = None) -> str | None:
    """The aggregate token of an event subject (``hsl.<Name>.events.<token>``), or None."""
    if events_prefix is not None:
        token = subject[len(events_prefix) :] if subject.startswith(events_prefix) else ""
        return token if token and "." not in token else None
    parts = subject.split(".")
    if len(parts) == 4 and parts[0] == "hsl" and parts[2] == "events" and parts[3]:
        return parts[3]
    return None


# --- the payload -------------------------------------------------------------------------------


class _Type(msgspec.Struct):
    type: str


_type_decoder: Final = msgspec.json.Decoder(_Type)


def payload_verdict(topic: str | None, payload: bytes) -> BaseEvent | tuple[QuarantineKind, str]:
    """The event a payload holds, or (kind, reason) why it is quarantined.

    ``topic`` is the message's topic header (None: not checked); a :data:`FOREIGN_TOPIC` one
    quarantines the message whatever its payload.
    """
    if topic is not None and topic.startswith(FOREIGN_TOPIC):
        return "foreign", topic[len(FOREIGN_TOPIC) :]
    try:
        event = codec.decode(payload)
    except msgspec.MsgspecError as e:
        return _decode_fault(payload, e)
    if topic is not None and codec.tag_of(event) != topic:
        tag = codec.tag_of(event)
        return "foreign", short(f"stored as {topic[:60]!r} but its payload is {tag!r}")
    return event


def _decode_fault(payload: bytes, error: msgspec.MsgspecError) -> tuple[QuarantineKind, str]:
    try:
        tag = _type_decoder.decode(payload).type
    except msgspec.MsgspecError:
        return "undecodable", short(f"not an event's JSON, starts {prefix(payload)}")
    if tag not in codec.EVENT_TYPES:
        return "undecodable", short(f"unknown event type {tag[:60]!r}")
    return "foreign", short(f"a {tag} that breaks its schema: {error}")


_many: Final = msgspec.json.Decoder(list[codec.AnyEvent])


def payload_verdicts(
    topics: Sequence[str | None], payloads: Sequence[bytes]
) -> list[BaseEvent | tuple[QuarantineKind, str]]:
    """:func:`payload_verdict` of many payloads, in one decode when all are current events."""
    try:
        events: list[Any] = _many.decode(b"[" + b",".join(payloads) + b"]")
    except msgspec.MsgspecError:
        events = []
    if len(events) == len(payloads) and _all_current(topics, events):
        return list(events)
    return [payload_verdict(t, p) for t, p in zip(topics, payloads, strict=True)]


_VERSIONED: Final[dict[type, int]] = {
    codec.EVENT_TYPES[tag]: version
    for tag, version in codec.CURRENT_VERSIONS.items()
    if version > 1
}
"""Event classes past their first schema version: a stored older payload needs upcasting."""


def _all_current(topics: Sequence[str | None], events: list[Any]) -> bool:
    """Decoded in bulk as :func:`payload_verdict` would: each of its topic, nothing to upcast."""
    kinds = list(map(type, events))
    expected = codec.EVENT_TYPES.get
    if any(t is not None and expected(t) is not k for t, k in zip(topics, kinds, strict=True)):
        return False
    if _VERSIONED.keys().isdisjoint(kinds):
        return True
    return all(e.schema_version >= _VERSIONED.get(type(e), 1) for e in events)


# --- stored messages ---------------------------------------------------------------------------


def classify_messages(
    stream: str, messages: Sequence[StoredMessage], events_prefix: str | None = None
) -> list[BaseEvent | Quarantined]:
    """The event each stored message of the log holds, or why it is quarantined (its subject
    and headers, then its payload: :func:`envelope_verdict`, :func:`payload_verdict`); the
    payloads of a page decoded in one call."""
    faults = [envelope_verdict(m.subject, m.headers, events_prefix) for m in messages]
    topics = [
        foreign_topic(fault) if fault is not None else _topic(m.headers)
        for m, fault in zip(messages, faults, strict=True)
    ]
    verdicts = payload_verdicts(topics, [m.payload for m in messages])
    return [
        found if isinstance(found, BaseEvent) else Quarantined(stream, m.seq, m.subject, *found)
        for m, found in zip(messages, verdicts, strict=True)
    ]


def envelope_verdict(
    subject: str, headers: Mapping[str, str] | None, events_prefix: str | None = None
) -> str | None:
    """:func:`envelope_fault` of a stored message (subject and headers as stored)."""
    headers = headers or {}
    return envelope_fault(
        token_of(subject, events_prefix), _topic(headers), headers.get(ORIGINATOR_VERSION)
    )


def _topic(headers: Mapping[str, str] | None) -> str:
    return decode_header_text((headers or {}).get(TOPIC, ""))
