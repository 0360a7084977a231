"""A whole closed loop through the application on the JetStream log, then read back cold.

One application (opened through ``service.bootstrap``, as ``hsl`` does) runs every stage
from establishing a room to closing an outcome, including a re-consultation (a two-aggregate
atomic commit). Its aggregate cache keeps the very objects the commands built. A second,
new application on the same server then rebuilds every aggregate from the log alone; both
must agree on every attribute, and the notification log must hold exactly the expected
event types, in order, with gap-free ids.

Then each numbered rule (1-8) is broken through an application on JetStream: the command
raises the rule's named error, and the server's stream is exactly as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import nats
import pytest

from events.common import Actor, Person
from events.consultation import Participant, VoteChoice
from events.room import Region
from service.application import HaoshangliangApplication
from service.bootstrap import Opened, open_application
from service.domain.errors import (
    CauseAnalysisRequired,
    CountyMemberLinkRequired,
    DissentExplanationRequired,
    DomainError,
    PartyApprovalRequired,
    ProcedureOrderViolation,
    PublicityAndSupervisionRequired,
    ResidentQuotaShortfall,
    RuleViolation,
    TopicFilingViolation,
    ValidationError,
)
from service.settings import Settings
from tests.support.scenario import FakeClock, Scenario, participants, refused

CLERK = Actor(id="clerk-1", role="clerk")
PARTY = Actor(id="village-party", role="party_org")
TOWN_PARTY = Actor(id="town-party", role="upper_party_org")
MEMBERS_GROUP = Actor(id="members-group", role="members_group")
CONVENER = Actor(id="convener-1", role="convener")
OFFICIAL = Actor(id="official-1", role="official")
UNIT = Actor(id="unit-1", role="implementing_unit")
SUPERVISOR = Actor(id="supervisor-1", role="supervisor")
MEMBER = Actor(id="member-1", role="cppcc_member")

EXPECTED = [
    "room.established",  # town room
    "room.convener_assigned",
    "room.liaison_assigned",
    "room.annual_plan_filed",
    "room.established",  # village room
    "room.member_linked",
    "topic.proposed",
    "topic.approval_escalated",
    "topic.approved",
    "topic.filed",
    "consultation.research_group_formed",
    "consultation.research_finding_recorded",
    "consultation.participants_confirmed",
    "consultation.scheduled",
    "consultation.held",
    "consultation.opinion_recorded",
    "consultation.motion_put",
    "consultation.vote_cast",
    "consultation.vote_cast",
    "consultation.vote_cast",
    "consultation.motion_resolved",
    "consultation.consensus_reached",
    "consultation.dissent_recorded",
    "outcome.drafted",
    "outcome.reported",
    "outcome.adopted",
    "outcome.publicity_published",
    "outcome.objection_received",
    "outcome.implementation_assigned",
    "outcome.progress_reported",
    "outcome.implementation_stalled",
    "outcome.reconsultation_opened",  # one atomic commit: the outcome's event …
    "topic.proposed",  # … and the new topic's first event
    "outcome.progress_reported",
    "outcome.implementation_completed",
    "outcome.implementation_verified",
    "outcome.escalated",
    "outcome.feedback_delivered",
    "outcome.dissent_explained",
    "outcome.closed",
]


class Clock:
    """The server's clock, moved by the test: each act happens an hour after the last."""

    def __init__(self) -> None:
        self.now = datetime(2024, 3, 1, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self) -> datetime:
        self.now += timedelta(hours=1)
        return self.now


@pytest.fixture
def settings(nats_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env({"NATS_URL": nats_url, "HSL_DATA_DIR": str(tmp_path / "data")})


def run_lifecycle(app: HaoshangliangApplication, clock: Clock) -> list[UUID]:
    """Every stage of the procedure once; returns the ids of the aggregates it created."""
    at = clock.tick
    town = app.establish_room(
        actor=CLERK,
        occurred_at=at(),
        name="柳溪镇协商议事室",
        level="town",
        region=Region(county="清河县", town="柳溪镇"),
    )
    app.assign_convener(
        town,
        actor=CLERK,
        occurred_at=at(),
        convener=Person(id="convener-0", name="赵副书记"),
        position="deputy_secretary",
    )
    app.assign_liaison(
        town, actor=CLERK, occurred_at=at(), liaison=Person(id="liaison-1", name="钱联络员")
    )
    app.file_annual_plan(town, actor=CLERK, occurred_at=at(), year=2024, planned_consultations=3)
    village = app.establish_room(
        actor=CLERK,
        occurred_at=at(),
        name="河下村协商议事室",
        level="village",
        region=Region(county="清河县", town="柳溪镇", locality="河下村"),
        parent_room_id=town,
    )
    app.link_member(
        village,
        actor=CLERK,
        occurred_at=at(),
        member=Person(id="member-1", name="王委员"),
        member_level="county",
        members_group="柳溪镇政协委员履职小组",
    )
    topic = app.propose_topic(
        village, actor=MEMBER, occurred_at=at(), title="灌溉水渠修缮", source="member"
    )
    app.escalate_topic_for_approval(topic, actor=PARTY, occurred_at=at(), upper_org="柳溪镇党委")
    app.approve_topic(topic, actor=TOWN_PARTY, occurred_at=at(), approving_org="柳溪镇党委")
    app.file_topic(topic, actor=MEMBERS_GROUP, occurred_at=at(), filed_with="town_members_group")

    consultation = app.form_research_group(
        topic,
        actor=CONVENER,
        occurred_at=at(),
        members=[Person(id="convener-1", name="李书记"), Person(id="member-1", name="王委员")],
        lead_id="convener-1",
    )
    app.record_research_finding(
        consultation, actor=CONVENER, occurred_at=at(), method="site_visit", summary="水渠渗漏 3 处"
    )
    people = [Participant(id=f"r{i}", name=f"群众{i}", role="resident_rep") for i in range(4)]
    people.append(Participant(id="member-1", name="王委员", role="cppcc_member"))
    people.append(Participant(id="official-1", name="孙站长", role="official"))
    app.confirm_participants(consultation, actor=CONVENER, occurred_at=at(), participants=people)
    app.schedule_consultation(
        consultation,
        actor=CONVENER,
        occurred_at=at(),
        form="meeting",
        venue="field",
        venue_detail="东片田头",
        scheduled_for=clock.now + timedelta(days=2),
        host_id="convener-1",
    )
    app.hold_consultation(
        consultation,
        actor=CONVENER,
        occurred_at=at(),
        form="meeting",
        venue="field",
        attendee_ids=["r0", "r1", "r2", "member-1", "official-1"],
    )
    app.record_opinion(
        consultation,
        actor=CLERK,
        occurred_at=at(),
        speaker_id="r0",
        speaker_role="resident_rep",
        stance="support",
        text="尽快修",
    )
    motion = app.put_motion(consultation, actor=CONVENER, occurred_at=at(), text="分两段修缮")
    votes: list[tuple[str, VoteChoice]] = [("r0", "for"), ("r1", "for"), ("r2", "against")]
    for voter, choice in votes:
        app.cast_vote(
            consultation,
            actor=Actor(id=voter, role="resident_rep"),
            occurred_at=at(),
            motion_id=motion,
            voter_id=voter,
            choice=choice,
        )
    assert (
        app.resolve_motion(consultation, actor=CONVENER, occurred_at=at(), motion_id=motion)
        == "defeated"  # 2 of 5 present: not more than half
    )
    app.reach_consensus(consultation, actor=CONVENER, occurred_at=at(), summary="先修上游一段")
    dissent = app.record_dissent(
        consultation, actor=CLERK, occurred_at=at(), person_ids=["r2"], position="下游先修"
    )

    outcome = app.draft_outcome(
        consultation,
        actor=CONVENER,
        occurred_at=at(),
        kind="suggestion",
        title="关于水渠修缮的建议",
        text="先修上游",
    )
    app.report_outcome(outcome, actor=CONVENER, occurred_at=at(), recipients=["party_committee"])
    app.adopt_outcome(
        outcome,
        actor=PARTY,
        occurred_at=at(),
        adopted_as="livelihood_project",
        decided_by="河下村党支部",
    )
    today = clock.now.date()
    app.publish_publicity(
        outcome,
        actor=CLERK,
        occurred_at=at(),
        channel="notice_board",
        starts_on=today,
        ends_on=today + timedelta(days=6),
    )
    app.receive_objection(
        outcome,
        actor=Actor(id="r3", role="resident"),
        occurred_at=at(),
        objector_id="r3",
        text="费用偏高",
    )
    app.assign_implementation(
        outcome,
        actor=OFFICIAL,
        occurred_at=at(),
        unit=Person(id="unit-1", name="镇水利站"),
        deadline=date(2024, 9, 30),
    )
    app.report_progress(outcome, actor=UNIT, occurred_at=at(), percent=30)
    app.record_stall(outcome, actor=SUPERVISOR, occurred_at=at(), cause="资金未到位")
    new_topic = app.open_reconsultation(
        outcome, actor=CONVENER, occurred_at=at(), title="水渠修缮资金筹措", source="member"
    )
    app.report_progress(outcome, actor=UNIT, occurred_at=at(), percent=90, note="资金已落实")
    app.complete_implementation(outcome, actor=UNIT, occurred_at=at(), summary="已修缮完成")
    app.verify_implementation(outcome, actor=SUPERVISOR, occurred_at=at(), effective=True)
    app.escalate_outcome(
        outcome,
        actor=MEMBER,
        occurred_at=at(),
        category="actionable_suggestion",
        to_level="county",
        summary="建议全县推广",
    )
    app.deliver_feedback(
        outcome, actor=CLERK, occurred_at=at(), channel="meeting", summary="群众会通报"
    )
    app.explain_dissent(
        outcome, actor=CONVENER, occurred_at=at(), dissent_id=dissent, explanation="下游明年修"
    )
    app.close_outcome(outcome, actor=CLERK, occurred_at=at(), summary="闭环")
    return [town, village, topic, consultation, outcome, new_topic]


def state(aggregate: Any) -> dict[str, Any]:
    """Everything an aggregate holds, with its class."""
    return {"class": type(aggregate), **vars(aggregate)}


def test_full_lifecycle_reloads_identically_from_the_log(settings: Settings) -> None:
    clock = Clock()
    # The cache keeps the objects the commands built (no re-read after each save), so
    # ``original`` below is the state as the commands left it, not a reload.
    cache = {"AGGREGATE_CACHE_MAXSIZE": "100", "AGGREGATE_CACHE_FASTFORWARD": "n"}
    first: Opened = open_application(settings, clock=clock, env_overrides=cache)
    second: Opened | None = None
    try:
        ids = run_lifecycle(first.app, clock)
        original = {i: state(first.app.repository.get(i)) for i in ids}

        second = open_application(settings)
        assert second.stream == first.stream == "hsl"
        notifications = second.app.recorder.select_notifications(start=1, limit=1000)
        assert [n.topic for n in notifications] == EXPECTED
        assert [n.id for n in notifications] == list(range(1, len(EXPECTED) + 1))
        assert {n.originator_id for n in notifications} == set(ids)
        for aggregate_id in ids:
            versions = [
                n.originator_version for n in notifications if n.originator_id == aggregate_id
            ]
            assert versions == list(range(1, len(versions) + 1))
            reloaded = state(second.app.repository.get(aggregate_id))
            assert reloaded == original[aggregate_id], aggregate_id
            assert reloaded["_version"] == len(versions)

        outcome = second.app.get_outcome(ids[4])
        assert outcome.status == "closed"
        assert outcome.reconsultation_topic_ids == [ids[5]]
        assert second.app.get_topic(ids[5]).reconsultation_of == ids[4]
    finally:
        first.close()
        if second is not None:
            second.close()


# --- refused commands on the JetStream log --------------------------------------------------


def _rule_1(s: Scenario) -> Callable[[], object]:
    topic = s.proposed_topic()
    return lambda: s.research(topic)


def _rule_2(s: Scenario) -> Callable[[], object]:
    topic = s.approved_topic(filed=False)
    return lambda: s.app.file_topic(
        topic, actor=CLERK, occurred_at=s.at(), filed_with="town_members_group"
    )


def _rule_3(s: Scenario) -> Callable[[], object]:
    consultation = s.research()
    return lambda: s.app.confirm_participants(
        consultation,
        actor=CONVENER,
        occurred_at=s.at(),
        participants=participants(residents=3, others=3),
    )


def _rule_4(s: Scenario) -> Callable[[], object]:
    outcome = s.drafted()
    return lambda: s.app.adopt_outcome(
        outcome, actor=PARTY, occurred_at=s.at(), adopted_as="decision", decided_by="镇党委"
    )


def _rule_5(s: Scenario) -> Callable[[], object]:
    outcome = s.adopted()
    return lambda: s.app.assign_implementation(
        outcome,
        actor=OFFICIAL,
        occurred_at=s.at(),
        unit=Person(id="unit-1", name="镇建设局"),
        deadline=date(2024, 12, 31),
    )


def _rule_6(s: Scenario) -> Callable[[], object]:
    outcome = s.assigned()  # no stall recorded: the two-aggregate command writes neither
    return lambda: s.app.open_reconsultation(
        outcome, actor=CONVENER, occurred_at=s.at(), title="再议", source="member"
    )


def _rule_7(s: Scenario) -> Callable[[], object]:
    consultation = s.held()
    s.app.record_dissent(
        consultation, actor=CLERK, occurred_at=s.at(), person_ids=["r-1"], position="反对"
    )
    outcome = s.reported(consultation)
    s.app.decline_outcome(
        outcome, actor=PARTY, occurred_at=s.at(), decided_by="镇政府", reason="资金不足"
    )
    s.fed_back(outcome)
    return lambda: s.app.close_outcome(outcome, actor=CLERK, occurred_at=s.at())


def _rule_8(s: Scenario) -> Callable[[], object]:
    room = s.village_room(with_county_member=False)
    return lambda: s.proposed_topic(room)


def _future(s: Scenario) -> Callable[[], object]:
    room = s.town_room()
    return lambda: s.app.file_annual_plan(
        room,
        actor=CLERK,
        occurred_at=s.clock.now + timedelta(hours=1),
        year=2024,
        planned_consultations=2,
    )


VIOLATIONS: list[tuple[str, type[DomainError], Callable[[Scenario], Callable[[], object]]]] = [
    ("rule 1", PartyApprovalRequired, _rule_1),
    ("rule 2", TopicFilingViolation, _rule_2),
    ("rule 3", ResidentQuotaShortfall, _rule_3),
    ("rule 4", ProcedureOrderViolation, _rule_4),
    ("rule 5", PublicityAndSupervisionRequired, _rule_5),
    ("rule 6", CauseAnalysisRequired, _rule_6),
    ("rule 7", DissentExplanationRequired, _rule_7),
    ("rule 8", CountyMemberLinkRequired, _rule_8),
    ("future occurred_at", ValidationError, _future),
]


async def _stream_state(url: str, stream: str) -> tuple[int, int, int]:
    """(messages, last sequence, bytes) of the stream, as the server reports them."""
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(stream)
        assert info.state.messages is not None
        assert info.state.bytes is not None
        return info.state.messages, info.state.last_seq, info.state.bytes
    finally:
        await nc.close()


def test_each_rule_refused_leaves_the_stream_unchanged(settings: Settings) -> None:
    """Every numbered rule broken through the application on JetStream: its named error,
    and the server's stream (count, last sequence, bytes) and every event are as before."""
    clock = FakeClock()
    opened = open_application(settings, clock=clock)
    try:
        s = Scenario(opened.app, clock)
        for name, error, prepare in VIOLATIONS:
            command = prepare(s)
            before = asyncio.run(_stream_state(opened.url, opened.stream))
            assert before[0] > 0, name
            with refused(opened.app, error) as info:
                command()
            if name.startswith("rule"):
                assert isinstance(info.value, RuleViolation)
                assert f"rule {info.value.rule_number}" == name
            assert asyncio.run(_stream_state(opened.url, opened.stream)) == before, name
    finally:
        opened.close()
