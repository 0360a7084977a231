"""Rule 4 (§四.2): the procedure runs in its order.

Each violating command raises its named error and writes nothing (docs/domain.md, "The
rules"); the analytics view that shows the rule agrees with the events.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from events.common import Person
from service.domain.errors import (
    ProcedureOrderViolation,
)
from tests.support.rebuilt_views import fresh_rebuild, rows
from tests.support.scenario import (
    CLERK,
    CONVENER,
    OFFICIAL,
    PARTY,
    Scenario,
    participants,
    refused,
)


class TestRule4ProcedureOrder:
    def test_outcome_before_activity_held_is_refused(self, s: Scenario) -> None:
        """No outcome from a consultation that has not been held."""
        consultation = s.scheduled()
        with refused(s.app, ProcedureOrderViolation) as info:
            s.drafted(consultation)
        assert info.value.rule == "§四.2"
        assert info.value.rule_number == 4

    def test_adoption_before_report_is_refused(self, s: Scenario) -> None:
        """An outcome is adopted only after it was reported."""
        outcome = s.drafted()
        with refused(s.app, ProcedureOrderViolation):
            s.app.adopt_outcome(
                outcome, actor=PARTY, occurred_at=s.at(), adopted_as="decision", decided_by="镇党委"
            )

    def test_implementation_before_adoption_is_refused(self, s: Scenario) -> None:
        """No responsible unit is charged before the outcome is adopted."""
        outcome = s.reported()
        with refused(s.app, ProcedureOrderViolation):
            s.app.assign_implementation(
                outcome,
                actor=OFFICIAL,
                occurred_at=s.at(),
                unit=Person(id="unit-1", name="镇建设局"),
                deadline=date(2024, 12, 31),
            )

    def test_closing_before_feedback_is_refused(self, s: Scenario) -> None:
        """The loop closes only after residents got feedback."""
        outcome = s.verified()
        with refused(s.app, ProcedureOrderViolation):
            s.app.close_outcome(outcome, actor=CLERK, occurred_at=s.at())

    def test_participants_before_research_is_refused(self, s: Scenario) -> None:
        """Research (a finding) comes before choosing participants (§四.2's order)."""
        consultation = s.app.form_research_group(
            s.approved_topic(),
            actor=CONVENER,
            occurred_at=s.at(),
            members=[Person(id="m", name="组长")],
            lead_id="m",
        )
        with refused(s.app, ProcedureOrderViolation):
            s.app.confirm_participants(
                consultation,
                actor=CONVENER,
                occurred_at=s.at(),
                participants=participants(residents=2, others=1),
            )

    def test_holding_before_scheduling_is_refused(self, s: Scenario) -> None:
        """The activity is scheduled (form, venue) before it is recorded as held."""
        consultation = s.research()
        with refused(s.app, ProcedureOrderViolation):
            s.app.hold_consultation(
                consultation,
                actor=CONVENER,
                occurred_at=s.at(),
                form="meeting",
                venue="room",
                attendee_ids=["resident-0"],
            )


class TestRule4Views:
    def test_outcome_status_shows_the_step_each_outcome_reached(
        self, s: Scenario, tmp_path: Path
    ) -> None:
        """Each outcome's ``stage`` in ``outcome_status`` is the last step it took in order, and
        a refused step out of order leaves it there (written for issue 12)."""
        drafted = s.drafted()
        reported = s.reported()
        with refused(s.app, ProcedureOrderViolation):
            s.app.close_outcome(reported, actor=CLERK, occurred_at=s.at())
        adopted = s.adopted()
        fresh_rebuild(s.app, tmp_path / "v.duckdb")
        got = dict(rows(tmp_path / "v.duckdb", "SELECT outcome_id, stage FROM outcome_status"))
        assert got == {str(drafted): "drafted", str(reported): "reported", str(adopted): "adopted"}
