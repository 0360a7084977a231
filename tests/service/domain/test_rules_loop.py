"""Rules 5–9 of DOMAIN.md, the closed loop (§四.6) and the rooms (§五.3, §四.1).

Each violating command raises its named error and writes nothing. Rule 9 is analytics:
the tests show the log holds what a projection needs to check it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from events.codec import decode
from events.common import Person, RoomLevel
from events.consultation import ConsultationHeld
from events.room import RoomEstablished
from service.domain.errors import (
    CauseAnalysisRequired,
    CountyMemberLinkRequired,
    DissentExplanationRequired,
    PublicityAndSupervisionRequired,
    ValidationError,
)
from service.domain.rules import town_rooms_below_minimum, towns_without_room
from tests.support.scenario import (
    CLERK,
    CONVENER,
    OFFICIAL,
    PARTY,
    SUPERVISOR,
    UNIT,
    Scenario,
    refused,
    stored,
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


class TestRule9Analytics:
    @staticmethod
    def _facts(s: Scenario) -> tuple[dict[UUID, RoomLevel], list[tuple[UUID, datetime]]]:
        """What a projection reads: each room's level, and each held activity's room and time."""
        levels: dict[UUID, RoomLevel] = {}
        held: list[tuple[UUID, datetime]] = []
        for _, originator_id, _, _, state in stored(s.app):
            event = decode(state)
            if isinstance(event, RoomEstablished):
                levels[UUID(originator_id)] = event.level
            elif isinstance(event, ConsultationHeld):
                held.append((event.room_id, event.occurred_at))
        return levels, held

    def test_log_holds_what_the_two_a_year_check_needs(self, s: Scenario) -> None:
        """Held activities carry room, level and time, enough to count two a year per town."""
        room = s.town_room()
        s.held(s.approved_topic(room))
        levels, held = self._facts(s)
        assert town_rooms_below_minimum(levels, held, 2024) == [room]
        s.held(s.approved_topic(room))
        levels, held = self._facts(s)
        assert town_rooms_below_minimum(levels, held, 2024) == []
        assert town_rooms_below_minimum(levels, held, 2025) == [room]

    def test_the_year_is_chinas(self) -> None:
        """§四.1 每年: 1 January 01:00 in China (31 December 17:00 UTC) is the new year."""
        room = UUID(int=1)
        new_years_night = datetime(2025, 12, 31, 17, 0, tzinfo=UTC)
        held = [(room, new_years_night), (room, new_years_night + timedelta(days=30))]
        assert town_rooms_below_minimum({room: "town"}, held, 2026) == []
        assert town_rooms_below_minimum({room: "town"}, held, 2025) == [room]
        held = [(room, new_years_night - timedelta(hours=2))] * 2  # 23:00 on 31 December in China
        assert town_rooms_below_minimum({room: "town"}, held, 2025) == []

    def test_coverage_of_towns_is_computable(self, s: Scenario) -> None:
        """Towns without a room are found from room.established regions."""
        s.town_room()
        regions = [
            e.region
            for e in (decode(row[4]) for row in stored(s.app))
            if isinstance(e, RoomEstablished) and e.level == "town"
        ]
        towns = {("淮安区", "淮城镇"), ("淮安区", "车桥镇")}
        assert towns_without_room(towns, regions) == {("淮安区", "车桥镇")}

    def test_activities_are_never_refused_for_the_count(self, s: Scenario) -> None:
        """A third activity in a year, or one in a quiet year, is simply recorded."""
        room = s.town_room()
        for _ in range(3):
            s.held(s.approved_topic(room))
        s.clock.tick(timedelta(days=400))
        s.held(s.approved_topic(room))
