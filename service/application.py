"""The eventsourcing Application of 有事好商量: one method per command of the procedure.

Construct with ``HaoshangliangApplication(env=..., clock=..., ids=...)``. Persistence follows
eventsourcing's ``PERSISTENCE_MODULE`` (``eventsourcing.popo`` in unit tests,
``events.jetstream`` in production); events are always stored as msgspec JSON through
``events.mapper.MsgspecMapper``. Every command takes ``actor`` and ``occurred_at``
(timezone-aware, not in the future); ``recorded_at`` is ``clock()`` in UTC, and new ids
(aggregates, motions, dissents) come from ``ids()`` (``uuid4`` unless given).

A refused command raises a ``service.domain.errors.DomainError`` (a ``RuleViolation``
naming the seed's rule, a ``ValidationError`` naming the field, or ``NotFoundError``) and
writes nothing: rules are checked before anything is saved, and a command touching two
aggregates saves both in one atomic ``save()``.
"""

from __future__ import annotations

from service.commands.base import Clock, utc_now
from service.commands.consultation import ConsultationCommands
from service.commands.outcome import OutcomeCommands
from service.commands.room import RoomCommands
from service.commands.topic import TopicCommands

__all__ = ["Clock", "HaoshangliangApplication", "utc_now"]


class HaoshangliangApplication(RoomCommands, TopicCommands, ConsultationCommands, OutcomeCommands):
    """Every command on rooms, topics, consultations and outcomes."""

    name = "hsl"
