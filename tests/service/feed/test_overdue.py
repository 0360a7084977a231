"""Overdue: observed once per deadline, by the log's clock or the wall clock, across restarts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from events.common import Person
from service.feed.integration import OutcomeStatusChanged
from service.feed.publisher import catch_up
from service.feed.transitions import OVERDUE_SOURCE, deadline_passes_at
from tests.support.feed_stream import STREAM, public_changes, with_client
from tests.support.jetstream_scenario import JetStreamScenario
from tests.support.scenario import OFFICIAL, SUPERVISOR, UNIT

DEADLINE = date(2024, 12, 31)  # Scenario.assigned's
PASSES = datetime(2024, 12, 31, 16, 0, tzinfo=UTC)  # 2025-01-01 00:00 in China


@pytest.fixture
def scenario(nats_url: str) -> Iterator[JetStreamScenario]:
    s = JetStreamScenario(nats_url)
    try:
        yield s
    finally:
        s.app.close()


def _catch_up(url: str, now: datetime | None = None) -> int:
    clock = None if now is None else (lambda: now)
    return with_client(url, lambda nc: catch_up(nc, STREAM, clock=clock))


def _changes(url: str) -> list[OutcomeStatusChanged]:
    return with_client(url, public_changes)


def _statuses(url: str) -> list[tuple[str, str | None, str]]:
    rows: list[tuple[str, str | None, str]] = [
        (c.status, c.previous_status, c.source_type) for c in _changes(url)
    ]
    return rows[4:]


def test_a_deadline_ends_at_midnight_china_time() -> None:
    assert deadline_passes_at(DEADLINE) == PASSES


def test_the_logs_clock_reports_overdue_once_after_the_deadline_day(
    scenario: JetStreamScenario, nats_url: str
) -> None:
    s = scenario
    outcome = s.assigned()
    s.clock.now = PASSES - timedelta(minutes=61)
    s.town_room()  # recorded a minute before the deadline day ends (at() ticks an hour): not yet
    _catch_up(nats_url)
    assert _statuses(nats_url) == [
        ("implementing", "publicised", "outcome.implementation_assigned")
    ]
    s.clock.now = PASSES - timedelta(hours=1)
    s.town_room()  # the log's clock reaches the end of the day
    observer = s.app.recorder.max_notification_id()
    s.town_room()
    _catch_up(nats_url)
    _catch_up(nats_url)
    changes = _changes(nats_url)
    overdue = changes[-1]
    assert (overdue.status, overdue.previous_status, overdue.source_type) == (
        "overdue",
        "implementing",
        OVERDUE_SOURCE,
    )
    assert overdue.source_sequence == observer
    assert (overdue.occurred_at, overdue.recorded_at, overdue.deadline) == (
        PASSES,
        PASSES,
        DEADLINE,
    )
    assert overdue.actor is None
    s.clock.now += timedelta(days=2)
    s.app.complete_implementation(outcome, actor=UNIT, occurred_at=s.at(), summary="完成")
    _catch_up(nats_url)
    assert _statuses(nats_url)[-2:] == [
        ("overdue", "implementing", OVERDUE_SOURCE),
        ("implemented", "overdue", "outcome.implementation_completed"),
    ]


def test_a_completion_that_moves_the_clock_past_the_deadline_is_not_overdue(
    scenario: JetStreamScenario, nats_url: str
) -> None:
    s = scenario
    outcome = s.assigned()
    s.clock.now = PASSES + timedelta(days=1)
    s.app.complete_implementation(outcome, actor=UNIT, occurred_at=PASSES, summary="完成")
    _catch_up(nats_url)
    assert [c.status for c in _changes(nats_url)][-2:] == ["implementing", "implemented"]


def test_the_wall_clock_reports_overdue_once_and_a_restart_remembers_it(
    scenario: JetStreamScenario, nats_url: str
) -> None:
    s = scenario
    outcome = s.assigned()
    _catch_up(nats_url, now=s.clock.now)  # the wall clock before the deadline: nothing
    assert _statuses(nats_url)[-1][0] == "implementing"
    later = PASSES + timedelta(days=4)
    assert _catch_up(nats_url, now=later) == 1
    assert _catch_up(nats_url, now=later) == 0
    wall = _changes(nats_url)[-1]
    assert (wall.status, wall.recorded_at) == ("overdue", later)
    assert wall.source_sequence == s.app.recorder.max_notification_id()
    # The log's clock passes the deadline too, later: it must not report it again.
    s.clock.now = later + timedelta(days=1)
    s.town_room()
    assert _catch_up(nats_url) == 0
    # A restarted publisher rebuilds the state with the wall clock's report in it.
    s.app.record_stall(outcome, actor=SUPERVISOR, occurred_at=s.at(), cause="资金未到位")
    s.app.report_progress(outcome, actor=UNIT, occurred_at=s.at(), percent=50)
    assert _catch_up(nats_url) == 2
    assert _statuses(nats_url)[-3:] == [
        ("overdue", "implementing", OVERDUE_SOURCE),
        ("stalled", "overdue", "outcome.implementation_stalled"),
        ("overdue", "stalled", "outcome.progress_reported"),  # resumed, still late
    ]


def test_a_new_deadline_can_be_overdue_again(scenario: JetStreamScenario, nats_url: str) -> None:
    s = scenario
    outcome = s.assigned()
    s.clock.now = PASSES
    s.town_room()  # the first deadline passes
    s.app.assign_implementation(
        outcome,
        actor=OFFICIAL,
        occurred_at=s.at(),
        unit=Person(id="unit-2", name="镇城管局"),
        deadline=date(2025, 3, 31),
    )
    s.clock.now = datetime(2025, 4, 1, tzinfo=UTC)
    s.town_room()
    _catch_up(nats_url)
    _catch_up(nats_url, now=datetime(2025, 5, 1, tzinfo=UTC))
    rows = [(c.status, c.deadline, c.implementing_unit_id) for c in _changes(nats_url)][4:]
    assert rows == [
        ("implementing", DEADLINE, "unit-1"),
        ("overdue", DEADLINE, "unit-1"),
        ("implementing", date(2025, 3, 31), "unit-2"),
        ("overdue", date(2025, 3, 31), "unit-2"),
    ]
