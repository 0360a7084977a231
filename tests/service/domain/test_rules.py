"""Rules 1–4 of DOMAIN.md: each violating command raises its named error and writes nothing.

Rules 5–9 are in ``test_rules_loop.py``.
"""

from __future__ import annotations

import ast
from datetime import date, timedelta

from events.codec import decode
from events.common import Person
from events.consultation import ParticipantsConfirmed
from service.domain.errors import (
    RULE_ERRORS,
    PartyApprovalRequired,
    ProcedureOrderViolation,
    ResidentQuotaShortfall,
    RuleViolation,
    TopicFilingViolation,
)
from tests.support.paths import REPO_ROOT
from tests.support.scenario import (
    CLERK,
    CONVENER,
    OFFICIAL,
    PARTY,
    UPPER_PARTY,
    Scenario,
    participants,
    refused,
    stored,
)

ROOT = REPO_ROOT


class TestRuleErrors:
    def test_each_rule_has_its_error(self) -> None:
        """Rules 1–8 each have one RuleViolation subclass carrying its number and section."""
        assert [e.rule_number for e in RULE_ERRORS] == list(range(1, 9))
        for error in RULE_ERRORS:
            assert issubclass(error, RuleViolation)
            assert error.rule.startswith("§")
            assert error.remedy
            assert error.remedy_en

    def test_each_refusal_cites_the_seed_where_it_is_decided(self) -> None:
        """Every ``raise`` of a rule's error in the aggregates and the application's commands
        sits in a function whose docstring or comments cite the seed section (§…) it enforces."""
        rule_errors = {error.__name__ for error in RULE_ERRORS}
        uncited: list[str] = []
        raises = 0
        paths = [
            *(ROOT / "service" / "domain").glob("*.py"),
            *(ROOT / "service" / "commands").glob("*.py"),
        ]
        for path in sorted(paths):
            lines = path.read_text(encoding="utf-8").splitlines()
            for fn in ast.walk(ast.parse("\n".join(lines))):
                if not isinstance(fn, ast.FunctionDef):
                    continue
                body = "\n".join(lines[fn.lineno - 1 : fn.end_lineno])
                for node in ast.walk(fn):
                    if (
                        isinstance(node, ast.Raise)
                        and isinstance(node.exc, ast.Call)
                        and isinstance(node.exc.func, ast.Name)
                        and node.exc.func.id in rule_errors
                    ):
                        raises += 1
                        if "§" not in body:
                            uncited.append(f"{path.name}:{node.lineno} {fn.name}")
        assert raises > 20  # the walk found the checks
        assert uncited == []

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
