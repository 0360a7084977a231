"""The public stream: where the integration events are kept for downstream subscribers.

One stream per event log, ``<stream>-public`` (``hsl-public`` for the service's log ``hsl``),
holding the subjects ``hsl.public.outcome.*.*``. Like the log it is immutable (delete and purge
denied, no limits): a subscriber that comes back after a month still finds every change, and
the publisher finds where it stopped. Each message carries the header ``Hsl-Source-Sequence``
(the log position it was derived from) and ``Nats-Msg-Id`` (see ``service.feed.publisher``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import msgspec
from nats.aio.client import Client
from nats.js.api import StreamConfig

from events.jetstream.operations import ensure_immutable_stream
from events.jetstream.quarantine import Quarantined, QuarantineKind, prefix, short
from events.jetstream.stream_layout import immutable_stream_config
from service.feed.integration import ALL_SUBJECTS, OutcomeStatusChanged, decode, subject_of

SOURCE_SEQUENCE: Final = "Hsl-Source-Sequence"
"""Header: the event log's stream sequence the message was derived from."""
SOURCE_STREAM: Final = "Hsl-Source-Stream"
"""Header: the event log's stream name."""


class FeedError(RuntimeError):
    """The feed cannot go on; the message says why."""


def public_stream(stream: str) -> str:
    """The public stream of the event log ``stream``."""
    return f"{stream}-public"


def public_stream_config(stream: str, replicas: int = 1) -> StreamConfig:
    """Immutable like the log: what subscribers were told stays as it was told."""
    return immutable_stream_config(
        public_stream(stream),
        [ALL_SUBJECTS],
        f"public outcome status changes derived from the log {stream!r} (immutable)",
        replicas,
    )


async def ensure_public_stream(nc: Client, stream: str, replicas: int = 1) -> None:
    """Create the public stream, or check that the existing one is immutable.

    ``replicas`` is the configured count (``JETSTREAM_REPLICAS``, as every stream gets it), not
    copied from the log: the feed may well start before the log's stream exists.
    """
    faults = await ensure_immutable_stream(nc, public_stream_config(stream, replicas))
    if faults:
        msg = f"stream {public_stream(stream)!r} exists but is not immutable: " + "; ".join(faults)
        raise FeedError(msg)


MSG_ID: Final = "Nats-Msg-Id"

_TAG: Final = "outcome.status_changed"


class _Type(msgspec.Struct):
    type: str = ""


_decode_type: Final = msgspec.json.Decoder(_Type).decode


def change_verdict(
    public: str,
    seq: int,
    subject: str,
    headers: Mapping[str, str] | None,
    payload: bytes,
    *,
    own: bool = True,
) -> OutcomeStatusChanged | Quarantined:
    """The status change a message of the public stream holds, or why it is quarantined.

    Whoever may publish on ``hsl.public.outcome.…`` can store a message there
    (``events.jetstream.quarantine``): one that is not an integration event's JSON is
    *undecodable*; one
    on another subject than its status and room, or without the publisher's headers
    (``Nats-Msg-Id``, ``Hsl-Source-Sequence`` naming its ``source_sequence``; checked when
    ``own``, for the publisher, which resumes from its own messages) is *foreign*. The
    publisher, and the example subscriber, skip them.
    """
    headers = headers or {}
    try:
        change = decode(payload)
    except msgspec.MsgspecError as e:
        return Quarantined(public, seq, subject, *_decode_fault(payload, e))
    fault = None
    if subject_of(change) != subject:
        fault = f"published on {subject!r}, its status and room say {subject_of(change)!r}"
    elif not own:
        pass
    elif not headers.get(MSG_ID):
        fault = f"no {MSG_ID} header"
    elif headers.get(SOURCE_SEQUENCE) != str(change.source_sequence):
        fault = f"{SOURCE_SEQUENCE} does not name its source_sequence {change.source_sequence}"
    if fault is not None:
        return Quarantined(public, seq, subject, "foreign", short(fault))
    return change


def _decode_fault(payload: bytes, error: msgspec.MsgspecError) -> tuple[QuarantineKind, str]:
    try:
        tag = _decode_type(payload).type
    except msgspec.MsgspecError:
        return "undecodable", short(f"not JSON of an object, starts {prefix(payload)}")
    if tag != _TAG:
        return "undecodable", short(f"not an {_TAG} ({error})")
    return "foreign", short(f"an {_TAG} that breaks its schema: {error}")
