"""Rules 1–8 of DOMAIN.md: each violating command raises its named error and writes nothing.

Rule 9 is analytics: the test shows the log holds what a projection needs to check it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID

from events.codec import decode
from events.common import Person, RoomLevel
from events.consultation import ConsultationHeld, ParticipantsConfirmed
from events.room import RoomEstablished
from service.domain.errors import (
    RULE_ERRORS,
    CauseAnalysisRequired,
    CountyMemberLinkRequired,
    DissentExplanationRequired,
    PartyApprovalRequired,
    ProcedureOrderViolation,
    PublicityAndSupervisionRequired,
    ResidentQuotaShortfall,
    RuleViolation,
    TopicFilingViolation,
    ValidationError,
)
from service.domain.rules import town_rooms_below_minimum, towns_without_room
from tests.domain.scenario import (
    CLERK,
    CONVENER,
    OFFICIAL,
    PARTY,
    SUPERVISOR,
    UNIT,
    UPPER_PARTY,
    Scenario,
    participants,
    refused,
    stored,
)


class TestRuleErrors:
    def test_each_rule_has_its_error(self) -> None:
        """Rules 1–8 each have one RuleViolation subclass carrying its number and section."""
        assert [e.rule_number for e in RULE_ERRORS] == list(range(1, 9))
        for error in RULE_ERRORS:
            assert issubclass(error, RuleViolation)
            assert error.rule.startswith("§")
            assert error.remedy
            assert error.remedy_en

    def test_message_names_rule_and_remedy(self) -> None:
        """The message says what is wrong, the seed section, and what to do, in both languages."""
        error = ResidentQuotaShortfall("群众代表 3/6 < 2/3", "resident representatives 3/6 < 2/3")
        assert str(error).startswith("群众代表 3/6 < 2/3 (§四.4)：请增加群众代表")
        assert "add resident representatives or record a justification" in str(error)
        assert error.status == 409


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


class TestRule3ResidentQuota:
    def test_shortfall_without_justification_is_refused(self, s: Scenario) -> None:
        """3 residents of 6 is under two-thirds: refused, with the count in the message."""
        consultation = s.research()
        with refused(s.app, ResidentQuotaShortfall) as info:
            s.app.confirm_participants(
                consultation,
                actor=CONVENER,
                occurred_at=s.at(),
                participants=participants(residents=3, others=3),
            )
        assert str(info.value).startswith("群众代表 3/6 < 2/3 (§四.4)")
        assert "add resident representatives or record a justification" in str(info.value)

    def test_blank_justification_is_refused(self, s: Scenario) -> None:
        """Whitespace is not a justification."""
        consultation = s.research()
        with refused(s.app, ResidentQuotaShortfall):
            s.app.confirm_participants(
                consultation,
                actor=CONVENER,
                occurred_at=s.at(),
                participants=participants(residents=1, others=2),
                quota_justification="   ",
            )

    def test_justified_shortfall_is_recorded_and_flagged(self, s: Scenario) -> None:
        """ "In principle": with a justification the shortfall is accepted and flagged."""
        consultation = s.research()
        s.app.confirm_participants(
            consultation,
            actor=CONVENER,
            occurred_at=s.at(),
            participants=participants(residents=3, others=3),
            quota_justification="涉及企业，需多名部门负责人到场",
        )
        event = decode(stored(s.app)[-1][4])
        assert isinstance(event, ParticipantsConfirmed)
        assert (event.resident_count, event.participant_count, event.quota_met) == (3, 6, False)
        assert event.quota_justification == "涉及企业，需多名部门负责人到场"

    def test_exactly_two_thirds_is_enough(self, s: Scenario) -> None:
        """4 of 6 meets the quota without any justification."""
        consultation = s.research()
        s.app.confirm_participants(
            consultation,
            actor=CONVENER,
            occurred_at=s.at(),
            participants=participants(residents=4, others=2),
        )
        assert s.app.get_consultation(consultation).quota_met


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
