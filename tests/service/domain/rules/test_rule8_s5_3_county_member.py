"""Rule 8 (§五.3): every lower room has a linked county-level CPPCC member.

Each violating command raises its named error and writes nothing (docs/domain.md, "The
rules"); the analytics view that shows the rule agrees with the events.
"""

from __future__ import annotations

from pathlib import Path

from events.common import Person
from service.domain.errors import (
    CountyMemberLinkRequired,
)
from tests.support.rebuilt_views import fresh_rebuild, rows
from tests.support.scenario import (
    CLERK,
    Scenario,
    refused,
)


class TestRule8CountyMember:
    def test_village_topic_without_county_member_is_refused(self, s: Scenario) -> None:
        """A village room links a county-level member before it takes up topics."""
        room = s.village_room(with_county_member=False)
        with refused(s.app, CountyMemberLinkRequired) as info:
            s.proposed_topic(room)
        assert info.value.rule == "§五.3"
        assert info.value.rule_number == 8

    def test_a_city_member_does_not_count(self, s: Scenario) -> None:
        """Only a county/district CPPCC member satisfies the rule."""
        room = s.village_room(with_county_member=False)
        s.app.link_member(
            room,
            actor=CLERK,
            occurred_at=s.at(),
            member=Person(id="m-city", name="市委员"),
            member_level="city",
        )
        with refused(s.app, CountyMemberLinkRequired):
            s.proposed_topic(room)
        s.app.link_member(
            room,
            actor=CLERK,
            occurred_at=s.at(),
            member=Person(id="m-county", name="县委员"),
            member_level="county",
        )
        s.proposed_topic(room)

    def test_town_rooms_need_no_link(self, s: Scenario) -> None:
        """The rule is about village, community and enterprise rooms only."""
        s.proposed_topic(s.town_room())


class TestRule8Views:
    def test_rooms_count_only_county_level_members(self, s: Scenario, tmp_path: Path) -> None:
        """``rooms.county_member_count`` counts the county-level members linked, not a city
        member: the room the rule refuses shows 0 (written for issue 12)."""
        room = s.village_room(with_county_member=False)
        s.app.link_member(
            room,
            actor=CLERK,
            occurred_at=s.at(),
            member=Person(id="m-city", name="市委员"),
            member_level="city",
        )
        path = tmp_path / "v.duckdb"
        sql = f"SELECT county_member_count FROM rooms WHERE room_id = '{room}'"
        fresh_rebuild(s.app, path)
        assert rows(path, sql) == [(0,)]
        with refused(s.app, CountyMemberLinkRequired):
            s.proposed_topic(room)
        s.app.link_member(
            room,
            actor=CLERK,
            occurred_at=s.at(),
            member=Person(id="m-county", name="县委员"),
            member_level="county",
        )
        fresh_rebuild(s.app, path)
        assert rows(path, sql) == [(1,)]
