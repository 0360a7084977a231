"""Rule 1 (§二.1, §四.3): consult only on a topic its party organisation approved.

Each violating command raises its named error and writes nothing (docs/domain.md, "The
rules"); the analytics view that shows the rule agrees with the events.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from service.domain.errors import (
    PartyApprovalRequired,
)
from tests.support.rebuilt_views import fresh_rebuild, rows
from tests.support.scenario import (
    CLERK,
    CONVENER,
    PARTY,
    UPPER_PARTY,
    Scenario,
    participants,
    refused,
)


class TestRule1PartyApproval:
    def test_research_on_unapproved_topic_is_refused(self, s: Scenario) -> None:
        """No research group (the activity's start) on a topic still awaiting approval."""
        topic = s.proposed_topic()
        with refused(s.app, PartyApprovalRequired) as info:
            s.research(topic)
        assert info.value.rule == "§二.1, §四.3"
        assert info.value.rule_number == 1

    def test_research_on_rejected_topic_is_refused(self, s: Scenario) -> None:
        """A rejected topic cannot be consulted on."""
        topic = s.proposed_topic()
        s.app.reject_topic(
            topic, actor=PARTY, occurred_at=s.at(), rejecting_org="镇党委", reason="不属本级"
        )
        with refused(s.app, PartyApprovalRequired):
            s.research(topic)

    def test_holding_on_withdrawn_topic_is_refused(self, s: Scenario) -> None:
        """A topic withdrawn after research began stops the activity from being held."""
        topic = s.approved_topic()
        consultation = s.scheduled(topic)
        s.app.withdraw_topic(topic, actor=CLERK, occurred_at=s.at(), reason="已解决")
        with refused(s.app, PartyApprovalRequired):
            s.app.hold_consultation(
                consultation,
                actor=CONVENER,
                occurred_at=s.at(),
                form="meeting",
                venue="room",
                attendee_ids=["resident-0"],
            )

    def test_preparing_a_withdrawn_topic_is_refused(self, s: Scenario) -> None:
        """Research, participants and scheduling stop too once the topic is withdrawn."""
        topic = s.approved_topic()
        consultation = s.research(topic)
        s.app.withdraw_topic(topic, actor=CLERK, occurred_at=s.at(), reason="已解决")
        with refused(s.app, PartyApprovalRequired):
            s.app.record_research_finding(
                consultation, actor=CONVENER, occurred_at=s.at(), method="survey", summary="问卷"
            )
        with refused(s.app, PartyApprovalRequired):
            s.app.confirm_participants(
                consultation,
                actor=CONVENER,
                occurred_at=s.at(),
                participants=participants(residents=6, others=3),
            )
        with refused(s.app, PartyApprovalRequired):
            s.app.schedule_consultation(
                consultation,
                actor=CONVENER,
                occurred_at=s.at(),
                form="meeting",
                venue="room",
                scheduled_for=s.clock.now + timedelta(days=3),
                host_id="convener-1",
            )

    def test_approval_by_someone_else_is_refused(self, s: Scenario) -> None:
        """Only the party organisation approves; a clerk's approval is refused."""
        topic = s.proposed_topic()
        with refused(s.app, PartyApprovalRequired):
            s.app.approve_topic(topic, actor=CLERK, occurred_at=s.at(), approving_org="镇党委")

    def test_escalated_topic_needs_the_upper_level(self, s: Scenario) -> None:
        """After escalation the same-level organisation cannot approve; the upper one can."""
        topic = s.proposed_topic(s.village_room())
        s.app.escalate_topic_for_approval(
            topic, actor=PARTY, occurred_at=s.at(), upper_org="镇党委"
        )
        with refused(s.app, PartyApprovalRequired):
            s.app.approve_topic(topic, actor=PARTY, occurred_at=s.at(), approving_org="村党支部")
        s.app.approve_topic(topic, actor=UPPER_PARTY, occurred_at=s.at(), approving_org="镇党委")
        assert s.app.get_topic(topic).status == "approved"


class TestRule1Views:
    def test_topics_show_who_approved_and_what_was_not(self, s: Scenario, tmp_path: Path) -> None:
        """``topics.approved_at``/``approving_org`` are set only for an approved topic, and
        ``approved_by_upper_level`` for one decided by the upper level (written for issue 12)."""
        waiting = s.proposed_topic()
        approved = s.approved_topic()
        escalated = s.proposed_topic(s.village_room())
        s.app.escalate_topic_for_approval(
            escalated, actor=PARTY, occurred_at=s.at(), upper_org="镇党委"
        )
        s.app.approve_topic(
            escalated, actor=UPPER_PARTY, occurred_at=s.at(), approving_org="镇党委"
        )
        fresh_rebuild(s.app, tmp_path / "v.duckdb")
        got = {
            topic_id: (at is not None, org, upper)
            for topic_id, at, org, upper in rows(
                tmp_path / "v.duckdb",
                "SELECT topic_id, approved_at, approving_org, approved_by_upper_level FROM topics",
            )
        }
        assert got[str(waiting)] == (False, None, None)
        assert got[str(approved)][:2] == (True, "淮城镇党委")  # tests.support.scenario's
        assert not got[str(approved)][2]
        assert got[str(escalated)] == (True, "镇党委", True)
