"""Rule 6 (§四.6): a shortfall has its cause analysed, and may be consulted again.

Each violating command raises its named error and writes nothing (docs/domain.md, "The
rules"); the analytics view that shows the rule agrees with the events.
"""

from __future__ import annotations

from pathlib import Path

from service.domain.errors import (
    CauseAnalysisRequired,
)
from tests.support.rebuilt_views import fresh_rebuild, project, rows
from tests.support.scenario import (
    CLERK,
    CONVENER,
    SUPERVISOR,
    Scenario,
    full_lifecycle,
    refused,
    stored,
)


class TestRule6CauseAnalysis:
    def test_closing_unfinished_implementation_is_refused(self, s: Scenario) -> None:
        """An unimplemented matter cannot be closed without its cause analysed."""
        outcome = s.assigned()
        s.fed_back(outcome)
        with refused(s.app, CauseAnalysisRequired) as info:
            s.app.close_outcome(outcome, actor=CLERK, occurred_at=s.at())
        assert info.value.rule == "§四.6"
        assert info.value.rule_number == 6

    def test_stall_without_cause_is_refused(self, s: Scenario) -> None:
        """A stall is recorded with its analysed cause, not a blank."""
        outcome = s.assigned()
        with refused(s.app, CauseAnalysisRequired):
            s.app.record_stall(outcome, actor=SUPERVISOR, occurred_at=s.at(), cause="  ")

    def test_reconsultation_without_stall_is_refused(self, s: Scenario) -> None:
        """Re-consultation follows a recorded shortfall with its cause."""
        outcome = s.assigned()
        with refused(s.app, CauseAnalysisRequired):
            s.app.open_reconsultation(
                outcome, actor=CONVENER, occurred_at=s.at(), title="再议", source="member"
            )

    def test_stalled_matter_is_consulted_again_atomically(self, s: Scenario) -> None:
        """A stall with its cause opens a linked topic and the outcome's event in one commit."""
        outcome = s.assigned()
        s.app.record_stall(outcome, actor=SUPERVISOR, occurred_at=s.at(), cause="资金未到位")
        before = len(stored(s.app))
        topic = s.app.open_reconsultation(
            outcome, actor=CONVENER, occurred_at=s.at(), title="资金筹措", source="member"
        )
        rows = stored(s.app)[before:]
        assert [r[3] for r in rows] == ["outcome.reconsultation_opened", "topic.proposed"]
        assert s.app.get_topic(topic).reconsultation_of == outcome
        assert s.app.get_outcome(outcome).reconsultation_topic_ids == [topic]
        s.fed_back(outcome)
        s.app.close_outcome(outcome, actor=CLERK, occurred_at=s.at())


class TestRule6Views:
    def test_a_stall_is_flagged_with_its_cause(self, s: Scenario, tmp_path: Path) -> None:
        """``outcome_status.stalled``/``stall_cause`` and ``stalled_implementations`` show the
        recorded stall, ``reconsulted`` its new consultation (written for issue 12)."""
        outcome = s.assigned()
        s.app.record_stall(outcome, actor=SUPERVISOR, occurred_at=s.at(), cause="资金未到位")
        working = s.assigned()
        fresh_rebuild(s.app, tmp_path / "v.duckdb")
        path = tmp_path / "v.duckdb"
        status = {
            oid: (stalled, cause, reconsulted)
            for oid, stalled, cause, reconsulted in rows(
                path, "SELECT outcome_id, stalled, stall_cause, reconsulted FROM outcome_status"
            )
        }
        assert status[str(outcome)] == (True, "资金未到位", False)
        assert status[str(working)] == (False, None, False)
        listed = rows(path, "SELECT outcome_id, stall_cause FROM stalled_implementations")
        assert listed == [(str(outcome), "资金未到位")]
        s.app.open_reconsultation(
            outcome, actor=CONVENER, occurred_at=s.at(), title="资金筹措", source="member"
        )
        fresh_rebuild(s.app, path)
        sql = f"SELECT reconsulted FROM outcome_status WHERE outcome_id = '{outcome}'"
        assert rows(path, sql) == [(True,)]

    def test_reconsultation_links_both_ways(self, tmp_path: Path) -> None:
        """The outcome names its new topic and the new topic names the outcome (§四.6)."""
        s = Scenario()
        full_lifecycle(s)
        con = project(s, tmp_path / "v.duckdb")
        links = con.execute(
            "SELECT o.outcome_id, o.reconsultation_topic_id, t.topic_id, t.reconsultation_of "
            "FROM outcomes o JOIN topics t ON t.topic_id = o.reconsultation_topic_id"
        ).fetchall()
        assert len(links) == 1
        outcome_id, new_topic, topic_id, of = links[0]
        assert new_topic == topic_id
        assert of == outcome_id
