"""Rule 5 (§四.6): adopted matters to implement are publicised, tracked and supervised.

Each violating command raises its named error and writes nothing (docs/domain.md, "The
rules"); the analytics view that shows the rule agrees with the events.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from events.common import Person
from service.domain.errors import (
    PublicityAndSupervisionRequired,
)
from tests.support.rebuilt_views import project
from tests.support.scenario import (
    CLERK,
    OFFICIAL,
    PARTY,
    UNIT,
    Scenario,
    refused,
)


class TestRule5PublicityAndSupervision:
    def test_implementation_without_publicity_is_refused(self, s: Scenario) -> None:
        """An adopted matter is publicised before a unit is charged with it."""
        outcome = s.adopted()
        with refused(s.app, PublicityAndSupervisionRequired) as info:
            s.app.assign_implementation(
                outcome,
                actor=OFFICIAL,
                occurred_at=s.at(),
                unit=Person(id="unit-1", name="镇建设局"),
                deadline=date(2024, 12, 31),
            )
        assert info.value.rule == "§四.6"
        assert info.value.rule_number == 5

    def test_closing_unverified_implementation_is_refused(self, s: Scenario) -> None:
        """A completed implementation is verified by supervision before closing."""
        outcome = s.assigned()
        s.app.complete_implementation(outcome, actor=UNIT, occurred_at=s.at(), summary="完成")
        s.fed_back(outcome)
        with refused(s.app, PublicityAndSupervisionRequired):
            s.app.close_outcome(outcome, actor=CLERK, occurred_at=s.at())

    def test_closing_a_matter_never_publicised_is_refused(self, s: Scenario) -> None:
        """An adopted matter needing implementation cannot close without publicity."""
        outcome = s.adopted()
        s.fed_back(outcome)
        with refused(s.app, PublicityAndSupervisionRequired):
            s.app.close_outcome(outcome, actor=CLERK, occurred_at=s.at())

    def test_consensus_needing_nothing_closes_after_feedback(self, s: Scenario) -> None:
        """A consensus adopted as needing no implementation closes without publicity."""
        outcome = s.reported()
        s.app.adopt_outcome(
            outcome, actor=PARTY, occurred_at=s.at(), adopted_as="consensus", decided_by="镇党委"
        )
        s.fed_back(outcome)
        s.app.close_outcome(outcome, actor=CLERK, occurred_at=s.at())
        assert s.app.get_outcome(outcome).status == "closed"


class TestRule5Views:
    def test_overdue_depends_on_the_reference_date(self, tmp_path: Path) -> None:
        """An implementation not done by its deadline is overdue only after the deadline."""
        s = Scenario()
        s.assigned()  # deadline 2024-12-31, not completed
        con = project(s, tmp_path / "v.duckdb")

        def overdue(as_of: str) -> list[tuple[str, bool]]:
            sql = f"SELECT stage, overdue FROM outcome_status_as_of(DATE '{as_of}')"
            return [(str(a), bool(b)) for a, b in con.execute(sql).fetchall()]

        assert overdue("2024-12-31") == [("implementing", False)]
        assert overdue("2025-01-01") == [("implementing", True)]

    def test_completed_is_never_overdue(self, tmp_path: Path) -> None:
        """Once the unit reports it done, the deadline no longer matters."""
        s = Scenario()
        s.verified()
        con = project(s, tmp_path / "v.duckdb")
        row = con.execute(
            "SELECT stage, overdue FROM outcome_status_as_of(DATE '2030-01-01')"
        ).fetchall()
        assert row == [("verified", False)]
