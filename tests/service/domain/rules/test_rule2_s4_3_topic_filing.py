"""Rule 2 (§四.3): the approved topic is filed with the body of its level.

Each violating command raises its named error and writes nothing (docs/domain.md, "The
rules"); the analytics view that shows the rule agrees with the events.
"""

from __future__ import annotations

from pathlib import Path

from service.domain.errors import (
    TopicFilingViolation,
)
from tests.support.rebuilt_views import fresh_rebuild, rows
from tests.support.scenario import (
    CLERK,
    CONVENER,
    Scenario,
    refused,
)


class TestRule2Filing:
    def test_filing_before_approval_is_refused(self, s: Scenario) -> None:
        """A topic is filed only after its approval."""
        topic = s.proposed_topic()
        with refused(s.app, TopicFilingViolation) as info:
            s.app.file_topic(topic, actor=CLERK, occurred_at=s.at(), filed_with="county_cppcc")
        assert info.value.rule == "§四.3"
        assert info.value.rule_number == 2

    def test_town_topic_with_members_group_is_refused(self, s: Scenario) -> None:
        """Town topics go to the county CPPCC, not the members' group."""
        topic = s.approved_topic(filed=False)
        with refused(s.app, TopicFilingViolation) as info:
            s.app.file_topic(
                topic, actor=CLERK, occurred_at=s.at(), filed_with="town_members_group"
            )
        assert "县区政协" in str(info.value)

    def test_village_topic_with_county_cppcc_is_refused(self, s: Scenario) -> None:
        """Village topics go to the town members' group, not the county CPPCC."""
        topic = s.approved_topic(s.village_room(), filed=False)
        with refused(s.app, TopicFilingViolation):
            s.app.file_topic(topic, actor=CLERK, occurred_at=s.at(), filed_with="county_cppcc")

    def test_holding_on_unfiled_topic_is_refused(self, s: Scenario) -> None:
        """The activity is held only once its approved topic is on file."""
        consultation = s.scheduled(s.approved_topic(filed=False))
        with refused(s.app, TopicFilingViolation):
            s.app.hold_consultation(
                consultation,
                actor=CONVENER,
                occurred_at=s.at(),
                form="meeting",
                venue="room",
                attendee_ids=["resident-0"],
            )


class TestRule2Views:
    def test_topics_show_the_body_each_was_filed_with(self, s: Scenario, tmp_path: Path) -> None:
        """``topics.filed_with`` is the body of the topic's level, and empty until it is filed
        (written for issue 12)."""
        town = s.approved_topic()
        village = s.approved_topic(s.village_room())
        unfiled = s.approved_topic(filed=False)
        fresh_rebuild(s.app, tmp_path / "v.duckdb")
        got = dict(rows(tmp_path / "v.duckdb", "SELECT topic_id, filed_with FROM topics"))
        assert got[str(town)] == "county_cppcc"
        assert got[str(village)] == "town_members_group"
        assert got[str(unfiled)] is None
