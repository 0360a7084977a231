"""What every command shares: the clock and id source, the msgspec mapper, loading aggregates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import BaseAggregate
from eventsourcing.persistence import Mapper, Recording, StoredEvent
from eventsourcing.utils import EnvType

from events.common import Actor
from events.consultation import consultation_id_for
from events.mapper import MsgspecMapper, MsgspecTranscoder
from service.domain.base import Act, HslAggregate, IdSource
from service.domain.consultation import Consultation
from service.domain.errors import NotFoundError
from service.domain.outcome import Outcome
from service.domain.room import Room
from service.domain.topic import Topic

A = TypeVar("A", bound=HslAggregate)

Clock = Callable[[], datetime]
"""Returns the server's current time, timezone-aware; ``recorded_at`` comes from it."""


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


_DEFERRED: ContextVar[list[Any] | None] = ContextVar("hsl_deferred_saves", default=None)


@contextmanager
def deferred_saves() -> Iterator[list[Any]]:
    """Within it, a command's ``save`` collects what it would store instead of storing it.

    For a caller that must record something before the command's events are committed (an
    ``Idempotency-Key``'s claim, which names the events): it runs the command here, then
    saves what was collected itself. Every command saves once, as its last step.
    """
    collected: list[Any] = []
    token = _DEFERRED.set(collected)
    try:
        yield collected
    finally:
        _DEFERRED.reset(token)


_IDS: ContextVar[IdSource | None] = ContextVar("hsl_ids", default=None)


@contextmanager
def ids_from(source: IdSource) -> Iterator[None]:
    """Within it, the new ids a command draws come from ``source``, not the application's.

    For a caller that must draw the same ids each time it runs one request (an
    ``Idempotency-Key``): a retry that runs again creates the same aggregates, so if both
    runs commit, the log refuses the second instead of storing two.
    """
    token = _IDS.set(source)
    try:
        yield
    finally:
        _IDS.reset(token)


class CommandsBase(Application[UUID]):
    """An eventsourcing Application storing msgspec JSON; works with any persistence module.

    The persistence module is eventsourcing's ``PERSISTENCE_MODULE`` (default
    ``eventsourcing.popo``; ``events.jetstream`` in production). The mapper is always
    :class:`events.mapper.MsgspecMapper`.
    """

    name = "hsl"

    def __init__(
        self, env: EnvType | None = None, *, clock: Clock | None = None, ids: IdSource | None = None
    ) -> None:
        self.clock: Clock = clock or utc_now
        self.ids: IdSource = ids or uuid4
        """Where new aggregate, motion and dissent ids come from (``uuid4`` unless given)."""
        super().__init__(env)

    def construct_mapper(self) -> Mapper[UUID]:
        """Store events as plain msgspec JSON with their tag as topic (not the default)."""
        return MsgspecMapper(
            transcoder=MsgspecTranscoder(),
            compressor=self.factory.compressor(),
            cipher=self.factory.cipher(),
        )

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """Store the aggregates' new events, or collect them (:func:`deferred_saves`)."""
        collected = _DEFERRED.get()
        if collected is not None:
            collected.extend(objs)
            return []
        return super().save(*objs, **kwargs)

    def stored_events_of(self, objs: list[Any]) -> list[StoredEvent]:
        """The stored form of the events that saving ``objs`` would commit, unsaved."""
        return [
            self.mapper.to_stored_event(event)
            for obj in objs
            if isinstance(obj, BaseAggregate)
            for event in obj.pending_events
        ]

    def _act(self, actor: Actor, occurred_at: datetime) -> Act:
        """Validate who and when; ``recorded_at`` is now, by our clock, in UTC."""
        return Act.at(actor, occurred_at, self.clock(), _IDS.get() or self.ids)

    def _load(self, cls: type[A], kind: str, aggregate_id: UUID) -> A:
        try:
            aggregate: Any = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFoundError(kind, aggregate_id) from None
        if not isinstance(aggregate, cls):
            raise NotFoundError(kind, aggregate_id)
        return aggregate

    def get_room(self, room_id: UUID) -> Room:
        """The room as it stands now."""
        return self._load(Room, "room", room_id)

    def get_topic(self, topic_id: UUID) -> Topic:
        """The topic as it stands now."""
        return self._load(Topic, "topic", topic_id)

    def get_consultation(self, consultation_id: UUID) -> Consultation:
        """The consultation activity as it stands now."""
        return self._load(Consultation, "consultation", consultation_id)

    def get_outcome(self, outcome_id: UUID) -> Outcome:
        """The outcome as it stands now."""
        return self._load(Outcome, "outcome", outcome_id)

    def consultation_of_topic(self, topic_id: UUID) -> Consultation | None:
        """The topic's consultation activity, if one was opened."""
        try:
            return self.get_consultation(consultation_id_for(topic_id))
        except NotFoundError:
            return None
