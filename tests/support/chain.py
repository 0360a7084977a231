"""A chain of consultation events on a real JetStream log, shared by the replay tests."""

from __future__ import annotations

from uuid import UUID

from tests.support.jetstream_scenario import JetStreamScenario
from tests.support.scenario import CONVENER, SUPERVISOR, UNIT


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
