"""A chain of consultation events on a real JetStream log, shared by the replay tests."""

from __future__ import annotations

from uuid import UUID

from service.application import HaoshangliangApplication
from service.bootstrap import application_env
from tests.domain.scenario import CONVENER, SUPERVISOR, UNIT, FakeClock, Scenario


class JetStreamScenario(Scenario):
    """The domain tests' scenario, on the JetStream log instead of the in-memory store.

    By default the application's clock is the scenario's, so ``recorded_at`` is the story's
    time (what the as-of tests need). ``wall_clock``: the application keeps the real clock, as
    a served log does, so the log verifies against the server's storage times
    (``replay.record_time``); its events, entered now about the story's past, are late entries.
    """

    def __init__(self, url: str, *, wall_clock: bool = False) -> None:
        self.clock = FakeClock()
        clock = None if wall_clock else self.clock
        self.app = HaoshangliangApplication(env=application_env(url), clock=clock)


class Chain:
    """An outcome stalled and consulted again, escalated; plus the re-consultation's outcome."""

    def __init__(self, s: JetStreamScenario) -> None:
        app = s.app
        self.consultation = s.held()
        self.topic = UUID(str(app.get_consultation(self.consultation).topic_id))
        self.outcome = s.assigned(self.consultation)
        app.record_stall(self.outcome, actor=SUPERVISOR, occurred_at=s.at(), cause="资金未到位")
        self.new_topic = app.open_reconsultation(
            self.outcome, actor=CONVENER, occurred_at=s.at(), title="电梯资金筹措", source="member"
        )
        app.escalate_outcome(
            self.outcome,
            actor=CONVENER,
            occurred_at=s.at(),
            category="actionable_suggestion",
            to_level="county",
            summary="建议全区推广",
        )
        self.before_completion = s.clock.now
        app.complete_implementation(self.outcome, actor=UNIT, occurred_at=s.at(), summary="投用")
        self.room = UUID(str(app.get_topic(self.topic).room_id))
