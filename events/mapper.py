"""msgspec plugged into eventsourcing: the envelope, the transcoder and the mapper.

eventsourcing stores ``StoredEvent(originator_id, originator_version, topic, state)``.
Our mapper makes ``state`` the plain msgspec JSON of the event Struct (tag included)
and ``topic`` the event's stable tag, so the persistence module (e.g. JetStream:
``state`` is the message payload, ``topic`` a header) stores documented JSON that a
reader without our classes can decode, and a refactoring never breaks old topics.

Inside the process an event travels in an :class:`EventEnvelope`: the aggregate id and
version (which eventsourcing needs) around the Struct (which we store).

Plug in with ``MsgspecMapper(transcoder=MsgspecTranscoder())``, by overriding
``Application.construct_mapper`` (``service.application`` does), or via the
environment: ``MAPPER_TOPIC=events.mapper:MsgspecMapper`` and
``TRANSCODER_TOPIC=events.mapper:MsgspecTranscoder``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol, cast
from uuid import UUID

import msgspec
from eventsourcing.domain import CanMutateAggregate, TAggregate
from eventsourcing.persistence import (
    Cipher,
    Compressor,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
)

from events import codec
from events.common import BaseEvent


class EnvelopedAggregate(Protocol):
    """What an aggregate class offers the envelope: built from, and evolved by, payloads."""

    @classmethod
    def from_first_event(cls, envelope: EventEnvelope) -> Any:
        """Construct the aggregate from its first event."""

    def apply_event(self, payload: BaseEvent) -> None:
        """Evolve the aggregate's state by one event payload."""


_AGGREGATE_CLASSES: dict[str, type[EnvelopedAggregate]] = {}


def register_aggregate(family: str, cls: type[EnvelopedAggregate]) -> None:
    """Name the aggregate class that the first event of ``family`` constructs."""
    _AGGREGATE_CLASSES[family] = cls


@dataclass(frozen=True, kw_only=True)
class EventEnvelope(CanMutateAggregate[UUID]):
    """An eventsourcing domain event around one msgspec event Struct.

    ``timestamp`` (eventsourcing's ``modified_on``) is the payload's ``recorded_at``.
    """

    originator_id: UUID
    originator_version: int
    timestamp: datetime
    payload: BaseEvent

    def mutate(self, aggregate: TAggregate | None) -> TAggregate | None:
        """Construct the aggregate from a first event, or evolve it by a later one."""
        if aggregate is None:
            try:
                cls = _AGGREGATE_CLASSES[self.payload.family]
            except KeyError:
                msg = f"no aggregate class registered for {codec.tag_of(self.payload)}"
                raise LookupError(msg) from None
            return cast("TAggregate", cls.from_first_event(self))
        return super().mutate(aggregate)

    def apply(self, aggregate: Any) -> None:
        """Hand the payload to the aggregate (called by eventsourcing's ``mutate``)."""
        cast("EnvelopedAggregate", aggregate).apply_event(self.payload)


class MsgspecTranscoder(Transcoder):
    """Event Struct ↔ bytes with msgspec JSON; decoding validates and upcasts."""

    def encode(self, obj: Any) -> bytes:
        """Encode an event Struct (or anything msgspec encodes) as compact JSON."""
        if isinstance(obj, BaseEvent):
            return codec.encode(obj)
        return msgspec.json.encode(obj)

    def decode(self, data: bytes) -> BaseEvent:
        """Decode stored JSON into the current event Struct (see ``events.codec.decode``)."""
        return codec.decode(data)


class MsgspecMapper(Mapper[UUID]):
    """Maps :class:`EventEnvelope` ↔ ``StoredEvent`` with plain JSON state and tag topics.

    A compressor or cipher, if configured in the environment, still applies; they
    make ``state`` unreadable without the key, so the project does not configure them.
    """

    default_transcoder: ClassVar[MsgspecTranscoder] = MsgspecTranscoder()

    def __init__(
        self,
        transcoder: Transcoder | None = None,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
    ) -> None:
        # eventsourcing's factory passes its JSONTranscoder unless TRANSCODER_TOPIC is
        # set; that transcoder cannot read our payloads, so ours replaces it.
        if not isinstance(transcoder, MsgspecTranscoder):
            transcoder = self.default_transcoder
        super().__init__(transcoder=transcoder, compressor=compressor, cipher=cipher)
        self.msgspec_transcoder: MsgspecTranscoder = transcoder

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        """The event's tag as topic, its msgspec JSON as state."""
        if not isinstance(domain_event, EventEnvelope):
            msg = f"MsgspecMapper stores EventEnvelope objects, not {type(domain_event)!r}"
            raise TypeError(msg)
        state = self.msgspec_transcoder.encode(domain_event.payload)
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=codec.tag_of(domain_event.payload),
            state=state,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> EventEnvelope:
        """Decode and validate ``state``; errors name the stored event and the field path."""
        state = stored_event.state
        try:
            if self.cipher:
                state = self.cipher.decrypt(state)
            if self.compressor:
                state = self.compressor.decompress(state)
            payload = self.msgspec_transcoder.decode(state)
        except (msgspec.MsgspecError, ValueError) as e:
            msg = (
                f"cannot decode stored event {stored_event.originator_id} "
                f"v{stored_event.originator_version} ({stored_event.topic}): {e}"
            )
            raise MapperDeserialisationError(msg) from e
        tag = codec.tag_of(payload)
        if tag != stored_event.topic:
            msg = (
                f"stored event {stored_event.originator_id} v{stored_event.originator_version}"
                f" has topic {stored_event.topic!r} but its payload is {tag!r}"
            )
            raise MapperDeserialisationError(msg)
        originator_id = stored_event.originator_id
        return EventEnvelope(
            originator_id=originator_id if isinstance(originator_id, UUID) else UUID(originator_id),
            originator_version=stored_event.originator_version,
            timestamp=payload.recorded_at,
            payload=payload,
        )
