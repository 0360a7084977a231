"""Rule 7 (§四.6): residents who disagreed get an explanation.

Each violating command raises its named error and writes nothing (docs/domain.md, "The
rules"); the analytics view that shows the rule agrees with the events.
"""

from __future__ import annotations

from pathlib import Path

from service.domain.errors import (
    DissentExplanationRequired,
    ValidationError,
)
from tests.support.rebuilt_views import fresh_rebuild, rows
from tests.support.scenario import (
    CLERK,
    PARTY,
    Scenario,
    refused,
)


class TestRule7DissentExplained:
    def test_closing_with_unexplained_dissent_is_refused(self, s: Scenario) -> None:
        """Residents who disagreed get an explanation before the loop closes."""
        consultation = s.held()
        dissent = s.app.record_dissent(
            consultation, actor=CLERK, occurred_at=s.at(), person_ids=["r-1"], position="反对"
        )
        outcome = s.reported(consultation)
        s.app.decline_outcome(
            outcome, actor=PARTY, occurred_at=s.at(), decided_by="镇政府", reason="资金不足"
        )
        s.fed_back(outcome)
        with refused(s.app, DissentExplanationRequired) as info:
            s.app.close_outcome(outcome, actor=CLERK, occurred_at=s.at())
        assert info.value.rule == "§四.6"
        assert info.value.rule_number == 7
        s.app.explain_dissent(
            outcome, actor=CLERK, occurred_at=s.at(), dissent_id=dissent, explanation="已说明"
        )
        s.app.close_outcome(outcome, actor=CLERK, occurred_at=s.at())

    def test_explaining_an_unknown_dissent_is_refused(self, s: Scenario) -> None:
        """An explanation answers a dissent recorded in the outcome's consultation."""
        outcome = s.drafted()
        with refused(s.app, ValidationError) as info:
            s.app.explain_dissent(
                outcome,
                actor=CLERK,
                occurred_at=s.at(),
                dissent_id=s.app.get_outcome(outcome).topic_id,
                explanation="说明",
            )
        assert info.value.field == "dissent_id"


class TestRule7Views:
    def test_outcome_status_counts_dissents_and_explanations(
        self, s: Scenario, tmp_path: Path
    ) -> None:
        """``outcome_status.dissent_count``, ``dissents_explained`` and ``dissent_explained``
        follow the dissents recorded and the explanations given (written for issue 12)."""
        consultation = s.held()
        dissent = s.app.record_dissent(
            consultation, actor=CLERK, occurred_at=s.at(), person_ids=["r-1"], position="反对"
        )
        outcome = s.reported(consultation)
        path = tmp_path / "v.duckdb"
        sql = "SELECT dissent_count, dissents_explained, dissent_explained FROM outcome_status"
        fresh_rebuild(s.app, path)
        assert rows(path, sql) == [(1, 0, False)]
        s.app.explain_dissent(
            outcome, actor=CLERK, occurred_at=s.at(), dissent_id=dissent, explanation="已说明"
        )
        fresh_rebuild(s.app, path)
        assert rows(path, sql) == [(1, 1, True)]
