"""The tagged union of every event, its one decoder, and the upcasters.

``encode`` writes the msgspec JSON of an event Struct (its ``type`` tag first);
``decode`` reads it back, validating on the way in (errors carry msgspec's path,
e.g. ``Expected `str` of length >= 1 - at `$.participants[2].id```), and upcasts
payloads written by an older ``schema_version`` before they reach the domain.

Run ``python -m events.codec --write-schemas docs/schemas --write-catalogue
docs/events.md`` to regenerate the published JSON Schemas and the event catalogue.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final

import msgspec

from events.common import BaseEvent
from events.consultation import CONSULTATION_EVENTS, ConsultationEventType
from events.outcome import OUTCOME_EVENTS, OutcomeEventType
from events.room import ROOM_EVENTS, RoomEventType
from events.topic import TOPIC_EVENTS, TopicEventType

AnyEvent = RoomEventType | TopicEventType | ConsultationEventType | OutcomeEventType
"""The union of every event the log may hold, discriminated by ``type``."""

ALL_EVENTS: Final[tuple[type[BaseEvent], ...]] = (
    *ROOM_EVENTS,
    *TOPIC_EVENTS,
    *CONSULTATION_EVENTS,
    *OUTCOME_EVENTS,
)

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns a payload dict at version n into one at version n + 1."""


def tag_of(event: BaseEvent | type[BaseEvent]) -> str:
    """The stable tag (the JSON ``type`` value) of an event or event class."""
    cls = event if isinstance(event, type) else type(event)
    tag = cls.__struct_config__.tag
    if not isinstance(tag, str):
        msg = f"{cls.__qualname__} has no string tag"
        raise TypeError(msg)
    return tag


def _current_version(cls: type[BaseEvent]) -> int:
    for field in msgspec.structs.fields(cls):
        if field.name == "schema_version":
            default = field.default
            assert isinstance(default, int)
            return default
    raise AssertionError(cls)  # pragma: no cover - BaseEvent declares the field


EVENT_TYPES: Final[dict[str, type[BaseEvent]]] = {tag_of(c): c for c in ALL_EVENTS}
CURRENT_VERSIONS: Final[dict[str, int]] = {tag_of(c): _current_version(c) for c in ALL_EVENTS}

_TOPIC_SOURCE_V1: Final[dict[str, str]] = {
    "点题": "party_government",
    "荐题": "member",
    "出题": "residents",
    "公开征集": "public_call",
}


def _topic_proposed_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """topic.proposed v1 stored ``source`` as its Chinese label (§四.3); v2 uses a code."""
    upgraded = dict(payload)
    upgraded["source"] = _TOPIC_SOURCE_V1.get(payload.get("source", ""), payload.get("source"))
    upgraded["schema_version"] = 2
    return upgraded


UPCASTERS: Final[dict[tuple[str, int], Upcaster]] = {
    ("topic.proposed", 1): _topic_proposed_v1_v2,
}
"""(tag, from_version) → upcaster. Add one here for every breaking change."""

if len(EVENT_TYPES) != len(ALL_EVENTS):  # pragma: no cover - guards against a reused tag
    raise RuntimeError("two event classes share a tag")

_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder(AnyEvent)


class _Header(msgspec.Struct):
    type: str
    schema_version: int = 1


_header_decoder: Final = msgspec.json.Decoder(_Header)


def encode(event: BaseEvent) -> bytes:
    """The stored bytes of an event: compact UTF-8 msgspec JSON with its tag."""
    return _encoder.encode(event)


def decode(data: bytes) -> BaseEvent:
    """Decode stored bytes into the current event Struct, upcasting older versions.

    Raises ``msgspec.ValidationError`` (with the path of the offending field) or
    ``msgspec.DecodeError`` for malformed JSON.
    """
    try:
        event: BaseEvent = _decoder.decode(data)
    except msgspec.ValidationError:
        header = _try_header(data)
        if header is None or not _is_outdated(header):
            raise
        return _decode_upcasting(data)
    if event.schema_version < CURRENT_VERSIONS[tag_of(event)]:
        return _decode_upcasting(data)
    return event


def _try_header(data: bytes) -> _Header | None:
    try:
        return _header_decoder.decode(data)
    except msgspec.MsgspecError:
        return None


def _is_outdated(header: _Header) -> bool:
    current = CURRENT_VERSIONS.get(header.type)
    return current is not None and header.schema_version < current


def upcast(payload: dict[str, Any]) -> dict[str, Any]:
    """Bring a decoded payload dict up to its event's current schema version."""
    tag = payload.get("type")
    if not isinstance(tag, str) or tag not in CURRENT_VERSIONS:
        return payload
    version = payload.get("schema_version", 1)
    if not isinstance(version, int):
        return payload
    while version < CURRENT_VERSIONS[tag]:
        try:
            upcaster = UPCASTERS[(tag, version)]
        except KeyError:
            msg = f"no upcaster for {tag} from schema_version {version}"
            raise msgspec.ValidationError(msg) from None
        payload = upcaster(payload)
        version += 1
        payload["schema_version"] = version
    return payload


def _decode_upcasting(data: bytes) -> BaseEvent:
    raw = msgspec.json.decode(data)
    if not isinstance(raw, dict):  # pragma: no cover - the header decoded as an object
        raise msgspec.ValidationError("Expected `object` - at `$`")
    event: BaseEvent = _decoder.decode(_encoder.encode(upcast(raw)))
    return event


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or ``--check``) the JSON Schemas and the event catalogue under docs/."""
    from events.catalogue import check_docs, write_docs  # noqa: PLC0415 - CLI only

    parser = argparse.ArgumentParser(prog="python -m events.codec", description=main.__doc__)
    parser.add_argument("--write-schemas", metavar="DIR", default="docs/schemas")
    parser.add_argument("--write-catalogue", metavar="FILE", default="docs/events.md")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = check_docs(args.write_schemas, args.write_catalogue)
        for path in stale:
            print(f"stale: {path}", file=sys.stderr)
        return 1 if stale else 0
    for path in write_docs(args.write_schemas, args.write_catalogue):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
