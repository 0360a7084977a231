"""A page of the log decoded by one call, the rebuild's fast way to its events."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from events.codec import CURRENT_VERSIONS, EVENT_TYPES, AnyEvent
from events.jetstream.bulk_reader import Page
from projections.appliers import APPLIERS

_PAGE_DECODER: Final = msgspec.json.Decoder(list[AnyEvent])
_EXPECTED: Final = EVENT_TYPES.__getitem__
_VERSIONED: Final[dict[type, int]] = {
    EVENT_TYPES[tag]: version for tag, version in CURRENT_VERSIONS.items() if version > 1
}
"""Event classes past their first schema version: a stored older payload needs upcasting."""


def decode_page(chunk: Page) -> list[Any] | None:
    """A page's events decoded by one call, or None if any needs
    :meth:`projections.runner.Projector.verdict`.

    The page holds its payloads as one JSON array (msgspec validates each element against the
    union of the events, as ``decode`` does). None (the caller then goes event by event, and
    quarantines what is not an event: ``events.jetstream.quarantine``) when a topic is unknown,
    anything fails to decode, an event is not of its topic's type, or one was stored at an
    older schema version. Every payload is one JSON value, so equal counts pair them up.
    """
    if not APPLIERS.keys() >= set(chunk.topics):
        return None
    try:
        events: list[Any] = _PAGE_DECODER.decode(chunk.payloads)
    except msgspec.MsgspecError:
        return None
    if list(map(type, events)) != list(map(_EXPECTED, chunk.topics)):
        return None
    if _VERSIONED and not _VERSIONED.keys().isdisjoint(map(type, events)):
        for event in events:
            version = _VERSIONED.get(type(event))
            if version is not None and event.schema_version < version:
                return None
    return events
