"""The status transitions alone, on the in-memory store: which events change what, and overdue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from events import codec
from service.feed.integration import OutcomeStatusChanged
from service.feed.transitions import FeedState, deadline_passes_at
from tests.support.scenario import CLERK, CONVENER, RESIDENT, SUPERVISOR, UNIT, Scenario


def _feed(s: Scenario, now: datetime | None = None) -> list[OutcomeStatusChanged]:
    """Every change the feed derives from the scenario's log (and the wall clock ``now``)."""
    state, changes = FeedState(), []
    notifications = s.app.recorder.select_notifications(start=1, limit=100_000)
    for n in notifications:
        event = codec.decode(n.state)
        if n.topic.startswith("outcome."):
            change = state.apply(n.id, UUID(str(n.originator_id)), event)
            changes += [change] if change else []
        state.advance(event.recorded_at)
        changes += state.overdue(state.clock, n.id, state.clock)
    if now is not None:
        changes += state.overdue(now, notifications[-1].id, now)
    return changes


def _statuses(changes: list[OutcomeStatusChanged]) -> list[str]:
    return [c.status for c in changes]


def test_objections_dissents_and_a_second_feedback_change_nothing() -> None:
    s = Scenario()
    outcome = s.publicised()
    s.app.receive_objection(
        outcome, actor=RESIDENT, occurred_at=s.at(), objector_id="resident-9", text="费用偏高"
    )
    s.fed_back(outcome)
    s.fed_back(outcome)
    assert _statuses(_feed(s)) == ["drafted", "reported", "adopted", "publicised", "fed_back"]


def test_every_escalation_is_published() -> None:
    s = Scenario()
    outcome = s.reported()
    for level in ("county", "city"):
        s.app.escalate_outcome(
            outcome,
            actor=CONVENER,
            occurred_at=s.at(),
            category="beyond_authority",
            to_level=level,
            summary="超出本级事权",
        )
    changes = _feed(s)[-2:]
    assert [(c.status, c.previous_status, c.detail) for c in changes] == [
        ("escalated", "reported", "county"),
        ("escalated", "escalated", "city"),
    ]


def test_a_verification_found_not_effective_reopens_the_work() -> None:
    s = Scenario()
    outcome = s.assigned()
    s.app.complete_implementation(outcome, actor=UNIT, occurred_at=s.at(), summary="完成")
    s.app.verify_implementation(outcome, actor=SUPERVISOR, occurred_at=s.at(), effective=False)
    last = _feed(s)[-1]
    assert (last.status, last.previous_status, last.detail) == (
        "implementing",
        "implemented",
        "not effective",
    )


def test_a_deadline_passed_while_completed_is_overdue_once_the_work_reopens() -> None:
    s = Scenario()
    outcome = s.assigned()  # deadline 2024-12-31
    s.app.complete_implementation(outcome, actor=UNIT, occurred_at=s.at(), summary="完成")
    s.clock.now = datetime(2025, 2, 1, tzinfo=UTC)
    s.town_room()  # the log's clock passes the deadline: completed, so not overdue
    s.app.verify_implementation(outcome, actor=SUPERVISOR, occurred_at=s.at(), effective=False)
    rows = [(c.status, c.source_type) for c in _feed(s)][-3:]
    assert rows == [
        ("implemented", "outcome.implementation_completed"),
        ("implementing", "outcome.implementation_verified"),
        ("overdue", "clock.deadline_passed"),
    ]


def test_the_wall_clock_reports_only_what_is_due_and_only_once() -> None:
    s = Scenario()
    outcome = s.assigned()
    deadline = s.app.get_outcome(outcome).deadline
    assert deadline is not None
    passes = deadline_passes_at(deadline)
    assert _statuses(_feed(s, passes - timedelta(seconds=1)))[-1] == "implementing"
    changes = _feed(s, passes)
    assert _statuses(changes)[-1] == "overdue"
    assert changes[-1].occurred_at == passes
    assert changes[-1].actor is None


def test_a_closed_outcome_is_never_overdue() -> None:
    s = Scenario()
    outcome = s.verified()
    s.fed_back(outcome)
    s.app.close_outcome(outcome, actor=CLERK, occurred_at=s.at(), summary="闭环")
    assert "overdue" not in _statuses(_feed(s, datetime(2030, 1, 1, tzinfo=UTC)))
