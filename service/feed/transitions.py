"""Status transitions: from an outcome's events (and the clock) to the feed's status changes.

Pure and in memory: :class:`FeedState` holds, per outcome, the little the feed needs (room,
topic, title, current status, implementation state, deadline, whether it was reported overdue)
and turns each log event into at most one :class:`OutcomeStatusChanged`. It is rebuilt from the
log on start (``service.feed.publisher``), so it is never stored.

Statuses, by event (a change is published only when the status differs, except ``escalated``,
which is published on every escalation, e.g. county then city):

- ``outcome.drafted``: ``drafted`` (the outcome is created; previous ``null``);
- ``outcome.reported``: ``reported``;
- ``outcome.adopted``: ``adopted`` (detail: adopted as …);
- ``outcome.not_adopted``: ``not_adopted`` (detail: the reason);
- ``outcome.publicity_published``: ``publicised``;
- ``outcome.implementation_assigned``: ``implementing``;
- ``outcome.progress_reported``: after a stall, ``implementing`` (or ``overdue``); else none;
- ``outcome.implementation_completed``: ``implemented``;
- ``outcome.implementation_verified``: ``verified``; not effective, ``implementing`` (or
  ``overdue``);
- ``outcome.implementation_stalled``: ``stalled`` (detail: the cause);
- ``outcome.reconsultation_opened``: ``reconsulted`` (detail: the new topic's id);
- ``outcome.feedback_delivered``: ``fed_back``;
- ``outcome.escalated``: ``escalated`` (detail: the level);
- ``outcome.closed``: ``closed``;
- an objection, an explained dissent: none.

**Overdue** is time, not an event: an outcome becomes ``overdue`` when the clock passes the end of
its deadline day (China Standard Time, UTC+8) while its implementation is assigned, in progress or
stalled (not completed, verified or closed). It is reported once per deadline (a new deadline,
assigned later, can be reported overdue again). The clock is the log's own: the greatest
``recorded_at`` of the events read so far, checked after each event has had its own effect (so
an outcome whose completion is the event that moves the clock past its deadline is not reported
overdue); the publisher also checks the wall clock whenever it has read the log's end, and what
that check reports is recorded in the public stream and re-read on restart (see
``service.feed.publisher``). When work resumes after a stall, or a verification finds it not
effective, the status is ``overdue`` again if that deadline was already reported overdue.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal
from uuid import UUID

from events import outcome as o
from events.common import CHINA_STANDARD_TIME, BaseEvent
from service.feed.integration import OutcomeStatusChanged, Status

OVERDUE_SOURCE: Final = "clock.deadline_passed"
"""The ``source_type`` of an ``overdue`` change: the clock, not an event, caused it."""

Implementation = Literal["none", "assigned", "in_progress", "completed", "verified", "stalled"]
_WORKING: Final[frozenset[str]] = frozenset({"assigned", "in_progress", "stalled"})
_REPEATABLE: Final[frozenset[str]] = frozenset({"escalated"})


def deadline_passes_at(deadline: date) -> datetime:
    """The moment (UTC) a deadline day is over: the next day's 00:00 in China (deadlines
    are calendar days in China)."""
    return datetime.combine(deadline + timedelta(days=1), time(0), CHINA_STANDARD_TIME).astimezone(
        UTC
    )


@dataclass
class WatchedOutcome:
    """What the feed keeps of one outcome."""

    room_id: UUID
    topic_id: UUID
    title: str
    kind: str
    status: Status = "drafted"
    implementation: Implementation = "none"
    deadline: date | None = None
    unit_id: str | None = None
    overdue_for: date | None = None
    """The deadline that was reported overdue (by the clock), if any."""

    def may_become_overdue(self) -> bool:
        return (
            self.deadline is not None
            and self.implementation in _WORKING
            and self.status != "closed"
            and self.overdue_for != self.deadline
        )

    def working_status(self) -> Status:
        """Where resumed work stands: overdue if its deadline was reported overdue."""
        return "overdue" if self.overdue_for == self.deadline else "implementing"


@dataclass
class FeedState:
    """Every outcome's state and the deadlines still to watch; rebuilt from the log."""

    outcomes: dict[UUID, WatchedOutcome] = field(default_factory=dict)
    clock: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=UTC))
    """The log's clock: the greatest ``recorded_at`` read so far."""
    _deadlines: list[tuple[datetime, str, date]] = field(default_factory=list)

    def apply(self, seq: int, outcome_id: UUID, event: BaseEvent) -> OutcomeStatusChanged | None:
        """One outcome event's own effect: its status change, if it makes one."""
        if isinstance(event, o.OutcomeDrafted):
            self.outcomes[outcome_id] = WatchedOutcome(
                room_id=event.room_id, topic_id=event.topic_id, title=event.title, kind=event.kind
            )
            return self._change(seq, outcome_id, event, "drafted", previous=None)
        state = self.outcomes.get(outcome_id)
        if state is None:  # only a message someone stored by hand (events.jetstream.quarantine)
            msg = f"event {seq} ({type(event).__name__}) of outcome {outcome_id} before its draft"
            raise LookupError(msg)
        new, detail = self._evolve(state, outcome_id, event)
        if new is None or (new == state.status and new not in _REPEATABLE):
            return None
        previous = state.status
        state.status = new
        return self._change(seq, outcome_id, event, new, previous=previous, detail=detail)

    def _evolve(  # noqa: PLR0911, PLR0912 - one case per event
        self, state: WatchedOutcome, outcome_id: UUID, event: BaseEvent
    ) -> tuple[Status | None, str]:
        match event:
            case o.OutcomeReported():
                return "reported", ""
            case o.OutcomeAdopted():
                return "adopted", event.adopted_as
            case o.OutcomeNotAdopted():
                return "not_adopted", event.reason
            case o.PublicityNoticePublished():
                return "publicised", ""
            case o.ImplementationAssigned():
                state.implementation = "assigned"
                state.deadline = event.deadline
                state.unit_id = event.unit.id
                self._watch(outcome_id, state)
                return state.working_status(), ""
            case o.ProgressReported():
                was = state.implementation
                state.implementation = "in_progress"
                return (state.working_status(), "") if was == "stalled" else (None, "")
            case o.ImplementationCompleted():
                state.implementation = "completed"
                return "implemented", ""
            case o.ImplementationVerified():
                if event.effective:
                    state.implementation = "verified"
                    return "verified", ""
                state.implementation = "in_progress"
                self._watch(outcome_id, state)
                return state.working_status(), "not effective"
            case o.ImplementationStalled():
                state.implementation = "stalled"
                return "stalled", event.cause
            case o.ReconsultationOpened():
                return "reconsulted", str(event.new_topic_id)
            case o.FeedbackDelivered():
                return "fed_back", ""
            case o.EscalatedViaCppcc():
                return "escalated", event.to_level
            case o.OutcomeClosed():
                return "closed", ""
        return None, ""  # objections, dissents explained: no status of their own

    def _watch(self, outcome_id: UUID, state: WatchedOutcome) -> None:
        if state.deadline is not None:
            entry = (deadline_passes_at(state.deadline), str(outcome_id), state.deadline)
            heapq.heappush(self._deadlines, entry)

    def advance(self, recorded_at: datetime) -> None:
        """Move the log's clock on to an event's ``recorded_at`` (it never goes back)."""
        self.clock = max(self.clock, recorded_at)

    def overdue(self, now: datetime, seq: int, observed_at: datetime) -> list[OutcomeStatusChanged]:
        """Report every outcome whose deadline passed by ``now``, once; oldest deadline first."""
        found = []
        while self._deadlines and self._deadlines[0][0] <= now:
            passed_at, key, deadline = heapq.heappop(self._deadlines)
            outcome_id = UUID(key)
            state = self.outcomes[outcome_id]
            if state.deadline != deadline or not state.may_become_overdue():
                continue  # reassigned, finished or already reported: a stale entry
            state.overdue_for = deadline
            previous, state.status = state.status, "overdue"
            found.append(
                OutcomeStatusChanged(
                    outcome_id=outcome_id,
                    room_id=state.room_id,
                    topic_id=state.topic_id,
                    status="overdue",
                    previous_status=previous,
                    source_sequence=max(seq, 1),
                    source_type=OVERDUE_SOURCE,
                    occurred_at=passed_at,
                    recorded_at=observed_at,
                    title=state.title,
                    kind=state.kind,
                    deadline=deadline,
                    implementing_unit_id=state.unit_id,
                    detail=f"deadline {deadline.isoformat()} passed",
                )
            )
        return found

    def mark_overdue(self, outcome_id: UUID, deadline: date) -> None:
        """Take in an overdue report read back from the public stream (a wall-clock one)."""
        state = self.outcomes[outcome_id]
        state.overdue_for = deadline
        state.status = "overdue"

    def _change(
        self,
        seq: int,
        outcome_id: UUID,
        event: BaseEvent,
        status: Status,
        *,
        previous: Status | None,
        detail: str = "",
    ) -> OutcomeStatusChanged:
        state = self.outcomes[outcome_id]
        tag = type(event).__struct_config__.tag
        return OutcomeStatusChanged(
            outcome_id=outcome_id,
            room_id=state.room_id,
            topic_id=state.topic_id,
            status=status,
            previous_status=previous,
            source_sequence=seq,
            source_type=str(tag),
            occurred_at=event.occurred_at,
            recorded_at=event.recorded_at,
            actor=event.actor,
            title=state.title,
            kind=state.kind,
            deadline=state.deadline,
            implementing_unit_id=state.unit_id,
            detail=detail,
        )
