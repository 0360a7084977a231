"""What all four aggregates share: the act (who, when) and msgspec events on eventsourcing.

Aggregates subclass eventsourcing's ``BaseAggregate``. Their events are the msgspec
Structs of ``events/``, carried through eventsourcing in an ``EventEnvelope``; an
aggregate evolves only in ``apply_event``, so replay and command take the same path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self, TypeVar
from uuid import UUID, uuid4

import msgspec
from eventsourcing.domain import BaseAggregate

from events.common import LATE_ENTRY, Actor, BaseEvent
from events.mapper import EventEnvelope, register_aggregate
from service.domain.errors import ValidationError
from service.domain.rules import FUTURE_TOLERANCE
from service.domain.text import check_texts

E = TypeVar("E", bound=BaseEvent)

IdSource = Callable[[], UUID]
"""Hands out the ids the domain draws (new aggregates, motions, dissents); ``uuid4`` by
default, a seeded one for a reproducible demo. The application holds it beside its clock."""


@dataclass(frozen=True)
class Act:
    """Who acts and when: the caller's ``occurred_at``, our server's ``recorded_at``; and
    where the act's new ids come from (the application's id source)."""

    actor: Actor
    occurred_at: datetime
    recorded_at: datetime
    new_id: IdSource = uuid4

    @property
    def backdated(self) -> bool:
        """Recorded more than ``LATE_ENTRY`` after it occurred."""
        return self.recorded_at - self.occurred_at > LATE_ENTRY

    @classmethod
    def at(
        cls, actor: Actor, occurred_at: datetime, now: datetime, new_id: IdSource = uuid4
    ) -> Act:
        """Validate the actor and the time; refuse a future ``occurred_at``."""
        try:
            actor = msgspec.convert(msgspec.to_builtins(actor), Actor)
        except msgspec.ValidationError as e:
            error = ValidationError.from_msgspec(e)
            raise ValidationError(f"actor.{error.field}", error.message) from e
        if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
            raise ValidationError(
                "occurred_at", "须带时区 (如 +08:00)", "must carry a timezone offset"
            )
        occurred_at = occurred_at.astimezone(UTC)
        now = now.astimezone(UTC)
        if occurred_at > now + FUTURE_TOLERANCE:
            raise ValidationError(
                "occurred_at",
                f"发生时间 {occurred_at.isoformat()} 晚于当前时间，不予记录",
                f"{occurred_at.isoformat()} is in the future",
            )
        return cls(actor=actor, occurred_at=occurred_at, recorded_at=now, new_id=new_id)


def _in_utc(value: Any) -> Any:
    """An aware datetime in UTC; anything else (a naive datetime included) unchanged."""
    if isinstance(value, datetime) and value.utcoffset() is not None:
        return value.astimezone(UTC)
    return value


def build_event(event_cls: type[E], act: Act, fields: dict[str, Any]) -> E:
    """Construct and validate an event Struct; bad input raises our ValidationError.

    Struct constructors do not check ``Meta`` constraints; ``msgspec.convert`` does,
    and reports the field's path, which we pass on to the clerk; text is checked as
    ``service.domain.text`` says. Timestamps given with any offset (``scheduled_for`` at
    +08:00) are stored in UTC, as ``UtcDatetime`` promises the schema's readers; naive ones
    are refused by the conversion.
    """
    data = {
        **{name: _in_utc(value) for name, value in fields.items()},
        "actor": act.actor,
        "occurred_at": act.occurred_at,
        "recorded_at": act.recorded_at,
        "backdated": act.backdated,
    }
    try:
        event = msgspec.convert(msgspec.to_builtins(data), event_cls)
    except msgspec.ValidationError as e:
        raise ValidationError.from_msgspec(e) from e
    check_texts(event, event_cls)  # here, not in the Structs: stored events still decode
    return event


class HslAggregate(BaseAggregate[UUID]):
    """Base of Room, Topic, Consultation and Outcome.

    Subclasses set ``family`` (the events' family, e.g. "room"), define
    ``_init_state`` and ``apply_event``, and use ``_start``/``_emit`` in commands.
    """

    family = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("family"):
            register_aggregate(cls.family, cls)

    @classmethod
    def from_first_event(cls, envelope: EventEnvelope) -> Self:
        """Construct from the first event (called by ``EventEnvelope.mutate``)."""
        aggregate = cls.__new__(cls)
        aggregate.__base_init__(
            originator_id=envelope.originator_id,
            originator_version=envelope.originator_version,
            timestamp=envelope.timestamp,
        )
        aggregate._init_state()
        aggregate.apply_event(envelope.payload)
        return aggregate

    @classmethod
    def _start(
        cls,
        event_cls: type[BaseEvent],
        act: Act,
        *,
        aggregate_id: UUID | None = None,
        **fields: Any,
    ) -> Self:
        payload = build_event(event_cls, act, fields)
        envelope = EventEnvelope(
            # Consultations derive their id from the topic; the others draw one.
            originator_id=aggregate_id or act.new_id(),
            originator_version=cls.INITIAL_VERSION,
            timestamp=payload.recorded_at,
            payload=payload,
        )
        aggregate = cls.from_first_event(envelope)
        aggregate.pending_events.append(envelope)
        return aggregate

    def _emit(self, event_cls: type[E], act: Act, **fields: Any) -> E:
        payload = build_event(event_cls, act, fields)
        self.trigger_event(EventEnvelope, payload=payload, timestamp=payload.recorded_at)
        return payload

    def _init_state(self) -> None:
        """Set every attribute to its value before the first event."""

    def apply_event(self, payload: BaseEvent) -> None:
        """Evolve the state by one event; the only place state changes."""
        raise NotImplementedError
