"""Drive the application through the procedure, step by step, for the tests.

``Scenario`` knows a valid argument set for every command; tests take it to the
state they need, then try the command under test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar
from uuid import UUID

import pytest

from events.common import Actor, ParticipantRole, Person
from events.consultation import Participant, VoteChoice
from events.room import Region
from service.application import HaoshangliangApplication
from service.domain.errors import DomainError

POPO_ENV = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
START = datetime(2024, 3, 1, 1, 0, tzinfo=UTC)

CLERK = Actor(id="clerk-1", role="clerk")
PARTY = Actor(id="party-1", role="party_org")
UPPER_PARTY = Actor(id="party-upper", role="upper_party_org")
COUNTY_CPPCC = Actor(id="cppcc-county", role="county_cppcc")
CONVENER = Actor(id="convener-1", role="convener")
OFFICIAL = Actor(id="official-1", role="official")
UNIT = Actor(id="unit-1", role="implementing_unit")
SUPERVISOR = Actor(id="supervisor-1", role="supervisor")
RESIDENT = Actor(id="resident-9", role="resident")

StoredRow = tuple[int, str, int, str, bytes]
E = TypeVar("E", bound=DomainError)


class FakeClock:
    """A server clock the tests move by hand; every call returns the current time."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, delta: timedelta = timedelta(hours=1)) -> datetime:
        """Move on and return the new time (also a fine ``occurred_at``)."""
        self.now += delta
        return self.now


def participants(residents: int, others: int) -> list[Participant]:
    """``residents`` resident representatives and ``others`` officials and members."""
    people = [
        Participant(id=f"resident-{i}", name=f"群众代表{i}", role="resident_rep")
        for i in range(residents)
    ]
    roles: tuple[ParticipantRole, ...] = ("cppcc_member", "official", "expert")
    people += [
        Participant(id=f"other-{i}", name=f"其他{i}", role=roles[i % len(roles)])
        for i in range(others)
    ]
    return people


def stored(app: HaoshangliangApplication) -> list[StoredRow]:
    """Everything in the application's recorder, in notification order."""
    return [
        (n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
        for n in app.recorder.select_notifications(start=1, limit=1_000_000)
    ]


@contextmanager
def refused(app: HaoshangliangApplication, error: type[E]) -> Iterator[pytest.ExceptionInfo[E]]:
    """Expect ``error`` from the block and the recorder to be exactly as before."""
    before = stored(app)
    with pytest.raises(error) as info:
        yield info
    assert stored(app) == before


class Scenario:
    """A fresh application on the POPO store with a clock the test controls.

    Pass ``app`` and the ``clock`` it was built with to drive another store (JetStream).
    """

    def __init__(
        self, app: HaoshangliangApplication | None = None, clock: FakeClock | None = None
    ) -> None:
        self.clock = clock or FakeClock()
        self.app = app or HaoshangliangApplication(env=POPO_ENV, clock=self.clock)

    def at(self) -> datetime:
        """A fresh ``occurred_at``: the clock moves on an hour and that is when it happens."""
        return self.clock.tick()

    # Rooms ---------------------------------------------------------------------------
    def town_room(self) -> UUID:
        return self.app.establish_room(
            actor=CLERK,
            occurred_at=self.at(),
            name="淮城镇协商议事室",
            level="town",
            region=Region(county="淮安区", town="淮城镇"),
        )

    def village_room(self, *, with_county_member: bool = True) -> UUID:
        room_id = self.app.establish_room(
            actor=CLERK,
            occurred_at=self.at(),
            name="河下村协商议事室",
            level="village",
            region=Region(county="淮安区", town="淮城镇", locality="河下村"),
        )
        if with_county_member:
            self.app.link_member(
                room_id,
                actor=CLERK,
                occurred_at=self.at(),
                member=Person(id="member-1", name="王委员"),
                member_level="county",
            )
        return room_id

    # Topics --------------------------------------------------------------------------
    def proposed_topic(self, room_id: UUID | None = None) -> UUID:
        room_id = room_id or self.town_room()
        return self.app.propose_topic(
            room_id,
            actor=CLERK,
            occurred_at=self.at(),
            title="老旧小区加装电梯",
            source="residents",
            description="居民反映上下楼困难",
        )

    def approved_topic(self, room_id: UUID | None = None, *, filed: bool = True) -> UUID:
        topic_id = self.proposed_topic(room_id)
        self.app.approve_topic(
            topic_id, actor=PARTY, occurred_at=self.at(), approving_org="淮城镇党委"
        )
        if filed:
            body = self.app.get_topic(topic_id).room_level
            self.app.file_topic(
                topic_id,
                actor=CLERK,
                occurred_at=self.at(),
                filed_with="county_cppcc" if body == "town" else "town_members_group",
            )
        return topic_id

    # Consultations -------------------------------------------------------------------
    def research(self, topic_id: UUID | None = None) -> UUID:
        topic_id = topic_id or self.approved_topic()
        consultation_id = self.app.form_research_group(
            topic_id,
            actor=CONVENER,
            occurred_at=self.at(),
            members=[Person(id="member-1", name="王委员"), Person(id="staff-1", name="李干事")],
            lead_id="member-1",
        )
        self.app.record_research_finding(
            consultation_id,
            actor=CONVENER,
            occurred_at=self.at(),
            method="site_visit",
            summary="走访 3 个小区 12 栋楼",
        )
        return consultation_id

    def scheduled(self, topic_id: UUID | None = None) -> UUID:
        consultation_id = self.research(topic_id)
        self.app.confirm_participants(
            consultation_id,
            actor=CONVENER,
            occurred_at=self.at(),
            participants=participants(residents=6, others=3),
        )
        self.app.schedule_consultation(
            consultation_id,
            actor=CONVENER,
            occurred_at=self.at(),
            form="meeting",
            venue="courtyard",
            scheduled_for=self.clock.now + timedelta(days=3),
            host_id="convener-1",
        )
        return consultation_id

    def held(self, topic_id: UUID | None = None) -> UUID:
        consultation_id = self.scheduled(topic_id)
        self.app.hold_consultation(
            consultation_id,
            actor=CONVENER,
            occurred_at=self.at(),
            form="meeting",
            venue="courtyard",
            attendee_ids=[p.id for p in participants(residents=6, others=3)],
        )
        return consultation_id

    # Outcomes ------------------------------------------------------------------------
    def drafted(self, consultation_id: UUID | None = None) -> UUID:
        consultation_id = consultation_id or self.held()
        return self.app.draft_outcome(
            consultation_id,
            actor=CONVENER,
            occurred_at=self.at(),
            kind="suggestion",
            title="分批加装电梯",
            text="先在 2 栋楼试点，费用按楼层分摊",
        )

    def reported(self, consultation_id: UUID | None = None) -> UUID:
        outcome_id = self.drafted(consultation_id)
        self.app.report_outcome(
            outcome_id,
            actor=CONVENER,
            occurred_at=self.at(),
            recipients=["party_committee", "government"],
        )
        return outcome_id

    def adopted(self, consultation_id: UUID | None = None) -> UUID:
        outcome_id = self.reported(consultation_id)
        self.app.adopt_outcome(
            outcome_id,
            actor=PARTY,
            occurred_at=self.at(),
            adopted_as="livelihood_project",
            decided_by="淮城镇党委",
        )
        return outcome_id

    def publicised(self, consultation_id: UUID | None = None) -> UUID:
        outcome_id = self.adopted(consultation_id)
        today = self.clock.now.date()
        self.app.publish_publicity(
            outcome_id,
            actor=CLERK,
            occurred_at=self.at(),
            channel="notice_board",
            starts_on=today,
            ends_on=today + timedelta(days=7),
        )
        return outcome_id

    def assigned(self, consultation_id: UUID | None = None) -> UUID:
        outcome_id = self.publicised(consultation_id)
        self.app.assign_implementation(
            outcome_id,
            actor=OFFICIAL,
            occurred_at=self.at(),
            unit=Person(id="unit-1", name="镇建设局"),
            deadline=date(2024, 12, 31),
        )
        return outcome_id

    def verified(self, consultation_id: UUID | None = None) -> UUID:
        outcome_id = self.assigned(consultation_id)
        self.app.complete_implementation(
            outcome_id, actor=UNIT, occurred_at=self.at(), summary="两部电梯已投用"
        )
        self.app.verify_implementation(
            outcome_id, actor=SUPERVISOR, occurred_at=self.at(), effective=True
        )
        return outcome_id

    def fed_back(self, outcome_id: UUID) -> None:
        self.app.deliver_feedback(
            outcome_id,
            actor=CLERK,
            occurred_at=self.at(),
            channel="meeting",
            summary="向居民通报加装进展",
        )


def full_lifecycle(s: Scenario) -> None:
    """Run every command at least once, so the log holds every kind of event."""
    app = s.app
    town = s.town_room()
    app.assign_convener(
        town,
        actor=CLERK,
        occurred_at=s.at(),
        convener=Person(id="convener-1", name="赵副书记"),
        position="deputy_secretary",
    )
    app.assign_liaison(
        town, actor=CLERK, occurred_at=s.at(), liaison=Person(id="liaison-1", name="钱联络员")
    )
    app.link_member(
        town,
        actor=CLERK,
        occurred_at=s.at(),
        member=Person(id="member-2", name="孙委员"),
        member_level="city",
    )
    app.file_annual_plan(town, actor=CLERK, occurred_at=s.at(), year=2024, planned_consultations=2)

    village = s.village_room()
    village_topic = s.proposed_topic(village)
    app.escalate_topic_for_approval(
        village_topic, actor=PARTY, occurred_at=s.at(), upper_org="淮城镇党委"
    )
    app.approve_topic(
        village_topic, actor=UPPER_PARTY, occurred_at=s.at(), approving_org="淮城镇党委"
    )
    app.file_topic(village_topic, actor=CLERK, occurred_at=s.at(), filed_with="town_members_group")
    rejected = s.proposed_topic(town)
    app.reject_topic(
        rejected, actor=PARTY, occurred_at=s.at(), rejecting_org="淮城镇党委", reason="不属本级事权"
    )
    withdrawn = s.proposed_topic(town)
    app.withdraw_topic(withdrawn, actor=CLERK, occurred_at=s.at(), reason="已由部门解决")

    consultation = s.held(s.approved_topic(town))
    app.record_opinion(
        consultation,
        actor=CLERK,
        occurred_at=s.at(),
        speaker_id="resident-0",
        speaker_role="resident_rep",
        stance="support",
        text="赞成加装",
    )
    motion = app.put_motion(consultation, actor=CONVENER, occurred_at=s.at(), text="试点两栋楼")
    votes: list[tuple[str, VoteChoice]] = [
        ("resident-0", "for"),
        ("resident-1", "for"),
        ("other-0", "against"),
    ]
    for voter, choice in votes:
        app.cast_vote(
            consultation,
            actor=Actor(id=voter, role="resident_rep"),
            occurred_at=s.at(),
            motion_id=motion,
            voter_id=voter,
            choice=choice,
        )
    app.resolve_motion(consultation, actor=CONVENER, occurred_at=s.at(), motion_id=motion)
    app.reach_consensus(consultation, actor=CONVENER, occurred_at=s.at(), summary="分批试点")
    dissent = app.record_dissent(
        consultation,
        actor=CLERK,
        occurred_at=s.at(),
        person_ids=["resident-5"],
        position="一楼住户担心采光",
    )

    outcome = s.assigned(consultation)
    app.receive_objection(
        outcome, actor=RESIDENT, occurred_at=s.at(), objector_id="resident-9", text="费用偏高"
    )
    app.report_progress(outcome, actor=UNIT, occurred_at=s.at(), percent=30)
    app.record_stall(outcome, actor=SUPERVISOR, occurred_at=s.at(), cause="资金未到位")
    app.open_reconsultation(
        outcome, actor=CONVENER, occurred_at=s.at(), title="电梯资金筹措", source="member"
    )
    app.report_progress(outcome, actor=UNIT, occurred_at=s.at(), percent=80, note="资金已落实")
    app.complete_implementation(outcome, actor=UNIT, occurred_at=s.at(), summary="电梯投用")
    app.verify_implementation(outcome, actor=SUPERVISOR, occurred_at=s.at(), effective=True)
    s.fed_back(outcome)
    app.explain_dissent(
        outcome, actor=CLERK, occurred_at=s.at(), dissent_id=dissent, explanation="已调整井道位置"
    )
    app.escalate_outcome(
        outcome,
        actor=CONVENER,
        occurred_at=s.at(),
        category="actionable_suggestion",
        to_level="county",
        summary="建议全区推广",
    )
    app.close_outcome(outcome, actor=CLERK, occurred_at=s.at(), summary="闭环")

    declined = s.reported(consultation)
    app.decline_outcome(
        declined, actor=PARTY, occurred_at=s.at(), decided_by="淮城镇政府", reason="资金不足"
    )
    s.fed_back(declined)
    app.explain_dissent(
        declined, actor=CLERK, occurred_at=s.at(), dissent_id=dissent, explanation="已说明"
    )
    app.close_outcome(declined, actor=CLERK, occurred_at=s.at())
