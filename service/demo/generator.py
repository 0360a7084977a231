"""Play the county's plan against the application, one command at a time, in time order.

Each room's set-up, each topic and each outcome is a *lifecycle*: a generator that sends
one command (or a few, for one meeting) and then yields how long to wait before its next
step. A timeline keeps every pending lifecycle in a heap by the simulated time of its next
step, so the commands of the whole county interleave as they would in a year of real work,
and the story's present (:class:`DemoClock`) only moves forward. Every ``occurred_at`` is
that present or earlier (earlier only for entries recorded late on purpose).

Two times, two clocks: ``occurred_at`` is the story's, ``recorded_at`` is the application's
own clock, the real time of writing, as for every other writer. The demo writes its years of
history now, so the record says so: its events verify against the server's storage time
(``replay.record_time``) like any other, and a second seed written to the same log later
never goes back in time. Being entered long after they occurred, its events are late entries
(``backdated``); those late on purpose also carry an ``occurred_at`` weeks before the story's
present.

Determinism: all choices come from the plan (``county.py``) and from per-lifecycle
``random.Random`` instances seeded by it; the story's clock is simulated; and the ids the
domain draws (aggregates, motions, dissents) come from :class:`DemoIds`, the application's
id source while the demo runs (``HaoshangliangApplication.ids``). The same seed and
scale therefore give the same commands and the same events, alike in every field but the
time of writing (``recorded_at``) and what follows from it (``backdated``).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Final
from uuid import UUID, uuid5

from events.common import Actor, Person
from events.consultation import Participant, ResearchMethod, Stance, VoteChoice
from events.outcome import FeedbackChannel, PublicityChannel, Recipient
from events.topic import FilingBody
from service.application import HaoshangliangApplication
from service.demo.county import (
    CST,
    END,
    START,
    ConsultationPlan,
    County,
    OutcomePlan,
    RoomSpec,
    TopicPlan,
    TownSpec,
)
from service.domain.rules import FILING_BODY

DEMO_NAMESPACE: Final = UUID("2f6c1e0a-9d4b-5c1e-8a47-1b3f5d7e9c20")

Life = Generator[timedelta, None, None]
"""A lifecycle: runs commands, yields the wait before its next step."""

COUNTY_CPPCC: Final = Actor(id="county-cppcc", role="county_cppcc")

RESEARCH: Final[tuple[tuple[ResearchMethod, str], ...]] = (
    ("site_visit", "实地察看现场，拍照记录问题点位"),
    ("survey", "发放问卷，收回有效问卷若干份"),
    ("interview", "入户走访群众，听取意见建议"),
    ("symposium", "召开座谈会，相关部门和群众代表参加"),
    ("document_review", "查阅政策文件和历年台账"),
)
OPINIONS: Final[tuple[tuple[Stance, str], ...]] = (
    ("support", "赞成方案，希望尽快实施"),
    ("support", "这是群众盼了多年的事，支持"),
    ("suggestion", "建议分期实施，先易后难"),
    ("suggestion", "建议公开资金使用情况，接受群众监督"),
    ("suggestion", "建议明确后期管护责任"),
    ("neutral", "方案可以，但要考虑后期维护费用"),
    ("oppose", "担心影响采光和通行，暂不同意"),
    ("oppose", "费用分摊方式不合理"),
)
REJECT_REASONS: Final = (
    "不属于本级事权范围，建议向有关部门反映",
    "已列入上级统一规划，暂不单独协商",
    "涉及法律诉讼，不宜协商",
)
WITHDRAW_REASONS: Final = ("问题已由职能部门解决", "提议人撤回，待条件成熟再议")
STALL_CAUSES: Final = (
    "配套资金未到位，工程停工",
    "部分群众不同意施工方案，协调未果",
    "涉及用地手续，审批时间超出预期",
)
FEEDBACK: Final[tuple[tuple[FeedbackChannel, str], ...]] = (
    ("meeting", "召开群众会通报协商成果运用情况"),
    ("notice_board", "在公开栏张贴办理结果"),
    ("wechat", "在村(社区)微信群通报办理情况"),
    ("door_to_door", "逐户上门反馈办理结果"),
    ("app", "通过掌上履职平台反馈"),
)
PUBLICITY: Final[tuple[PublicityChannel, ...]] = (
    "notice_board",
    "wechat",
    "website",
    "meeting",
    "app",
)


class DemoClock:
    """The story's present, moved only by the timeline: what ``occurred_at`` is (not the
    application's clock, which stamps ``recorded_at`` with the real time)."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class DemoIds:
    """The ids the domain would draw at random: uuid5 of the seed and a running count."""

    def __init__(self, seed: int) -> None:
        self.namespace = uuid5(DEMO_NAMESPACE, f"seed:{seed}")
        self.count = 0

    def nth(self, n: int) -> UUID:
        """The ``n``-th id handed out (1-based); the first is the first town's room."""
        return uuid5(self.namespace, str(n))

    def __call__(self) -> UUID:
        self.count += 1
        return self.nth(self.count)


class Timeline:
    """Pending lifecycles by the simulated time of their next step (ties: first come)."""

    def __init__(self, clock: DemoClock, end: datetime = END) -> None:
        self.clock = clock
        self.end = end
        self._heap: list[tuple[datetime, int, Life]] = []
        self._seq = 0

    def spawn(self, at: datetime, life: Life) -> None:
        """Start ``life`` at ``at`` (not before the present)."""
        self._seq += 1
        heapq.heappush(self._heap, (max(at, self.clock.now), self._seq, life))

    def step(self) -> bool:
        """Run the earliest pending step; False when nothing is left before the end."""
        while self._heap:
            at, _, life = heapq.heappop(self._heap)
            if at > self.end:
                life.close()
                continue
            self.clock.now = max(self.clock.now, at)
            try:
                wait = next(life)
            except StopIteration:
                return True
            self.spawn(self.clock.now + wait, life)
            return True
        return False

    def __len__(self) -> int:
        return len(self._heap)


def _days(rng: random.Random, low: int, high: int) -> timedelta:
    """Some days later, at a random time of the working day (about 9:00–17:00)."""
    return timedelta(days=rng.randint(low, high), minutes=rng.randrange(0, 8 * 60))


def _minutes(rng: random.Random, low: int, high: int) -> timedelta:
    return timedelta(minutes=rng.randint(low, high))


def _until(now: datetime, day: date, at: time = time(9, 30)) -> timedelta:
    """The wait from ``now`` to ``at`` on ``day`` (zero if that is past)."""
    return max(datetime.combine(day, at, tzinfo=CST) - now, timedelta(0))


@dataclass
class MeetingRecord:
    """What the outcomes of a consultation need to know about it."""

    consultation_id: UUID
    title: str
    room: RoomSpec
    town: TownSpec
    attendees: list[Participant]
    dissent_ids: list[UUID] = field(default_factory=list)


@dataclass
class DemoStats:
    """What the demo did, as the generator counted it (the report reads the log instead)."""

    rooms: int = 0
    topics: int = 0
    consultations: int = 0
    outcomes: int = 0
    reconsultations: int = 0


class Demo:
    """Drives one application through the county's plan."""

    def __init__(self, app: HaoshangliangApplication, county: County, clock: DemoClock) -> None:
        self.app = app
        self.county = county
        self.clock = clock
        self.ids = DemoIds(county.seed)
        self.timeline = Timeline(clock)
        self.room_ids: dict[str, UUID] = {}
        self.towns = {town.key: town for town in county.towns}
        self.stats = DemoStats()
        self._filings = 0

    # --- running ---------------------------------------------------------------------------

    def first_id(self) -> UUID:
        """The id of the first aggregate the demo creates (the first town's room)."""
        return self.ids.nth(1)

    def run(
        self, progress: Callable[[datetime], None] | None = None, every: int = 200
    ) -> DemoStats:
        """Run the whole plan; ``progress(simulated_now)`` is called every ``every`` steps."""
        for index, town in enumerate(self.county.towns):
            self.timeline.spawn(START + timedelta(seconds=30 * index), self._set_up_town(town))
        for plan in self.county.plans:
            self.timeline.spawn(plan.start, self._topic(plan))
        steps = 0
        own_ids, self.app.ids = self.app.ids, self.ids
        try:
            while self.timeline.step():
                steps += 1
                if progress is not None and steps % every == 0:
                    progress(self.clock.now)
        finally:
            self.app.ids = own_ids
        if progress is not None:
            progress(self.clock.now)
        return self.stats

    @property
    def now(self) -> datetime:
        """The present; what every ``occurred_at`` is, unless an entry is late on purpose."""
        return self.clock.now

    # --- who acts ----------------------------------------------------------------------------

    @staticmethod
    def _clerk(room: RoomSpec) -> Actor:
        return Actor(id=f"{room.key}-clerk", role="clerk")

    @staticmethod
    def _party(room: RoomSpec) -> Actor:
        return Actor(id=f"{room.key}-party", role="party_org")

    @staticmethod
    def _upper_party(room: RoomSpec) -> Actor:
        return Actor(id=f"{room.town_key}-party", role="upper_party_org")

    @staticmethod
    def _convener(room: RoomSpec) -> Actor:
        return Actor(id=room.convener.id, role="convener")

    @staticmethod
    def _member(room: RoomSpec) -> Actor:
        return Actor(id=room.members[0][0].id, role="cppcc_member")

    def _filer(self, room: RoomSpec) -> Actor:
        if FILING_BODY[room.level] == "county_cppcc":
            return COUNTY_CPPCC
        return Actor(id=f"{room.town_key}-mg", role="members_group")

    def _official(self, room: RoomSpec) -> Actor:
        return Actor(id=self.towns[room.town_key].officials[0].id, role="official")

    @staticmethod
    def _supervisor(room: RoomSpec) -> Actor:
        return Actor(id=f"{room.town_key}-supervisor", role="supervisor")

    def _proposer(self, room: RoomSpec, plan: TopicPlan, rng: random.Random) -> Actor:
        match plan.source:
            case "party_government":
                return self._official(room)
            case "member":
                return self._member(room)
            case "residents":
                return Actor(id=rng.choice(room.residents).id, role="resident")
            case _:
                return self._clerk(room)

    # --- rooms -------------------------------------------------------------------------------

    def _set_up_town(self, town: TownSpec) -> Life:
        """Establish the town's room and the rooms below it, with their people and plans."""
        rng = random.Random(f"{self.county.seed}:{town.key}")
        yield from self._set_up_room(town.room, rng)
        for room in town.lower:
            yield _days(rng, 1, 4)
            yield from self._set_up_room(room, rng)
        yield _until(self.clock.now, date(2025, 1, 6)) + _days(rng, 0, 10)
        for room in (town.room, *town.lower):
            self._file_plan(room, 2025)
            yield _minutes(rng, 10, 90)

    def _set_up_room(self, room: RoomSpec, rng: random.Random) -> Life:
        app = self.app
        parent = self.room_ids[room.parent_key] if room.parent_key else None
        self.room_ids[room.key] = room_id = app.establish_room(
            actor=self._clerk(room),
            occurred_at=self.now,
            name=room.name,
            level=room.level,
            region=room.region,
            parent_room_id=parent,
        )
        self.stats.rooms += 1
        yield _minutes(rng, 30, 240)
        app.assign_convener(
            room_id,
            actor=self._party(room),
            occurred_at=self.now,
            convener=room.convener,
            position=room.position,
        )
        if room.liaison is not None:
            yield _minutes(rng, 30, 240)
            app.assign_liaison(
                room_id, actor=self._party(room), occurred_at=self.now, liaison=room.liaison
            )
        for member, level in room.members:
            yield _days(rng, 0, 2)
            app.link_member(
                room_id,
                actor=self._clerk(room),
                occurred_at=self.now,
                member=member,
                member_level=level,
                members_group=room.members_group,
            )
        yield _days(rng, 1, 3)
        self._file_plan(room, 2024)

    def _file_plan(self, room: RoomSpec, year: int) -> None:
        planned = dict(room.planned)[year]
        self.app.file_annual_plan(
            self.room_ids[room.key],
            actor=self._clerk(room),
            occurred_at=self.now,
            year=year,
            planned_consultations=planned,
            summary=f"{year}年度计划开展协商议事活动{planned}次",
        )

    # --- topics ------------------------------------------------------------------------------

    def _topic(self, plan: TopicPlan, topic_id: UUID | None = None) -> Life:
        """One topic: proposed (unless a re-consultation opened it), decided, filed, consulted."""
        app = self.app
        rng = random.Random(plan.seed)
        room = self.county.rooms[plan.room_key]
        town = self.towns[room.town_key]
        if topic_id is None:
            topic_id = app.propose_topic(
                self.room_ids[room.key],
                actor=self._proposer(room, plan, rng),
                occurred_at=self.now,
                title=plan.title,
                source=plan.source,
                description=plan.description,
            )
            yield _days(rng, 2, 10)
        self.stats.topics += 1
        decider, org = self._party(room), room.party_org
        if plan.escalate_approval:
            app.escalate_topic_for_approval(
                topic_id,
                actor=decider,
                occurred_at=self.now,
                upper_org=town.room.party_org,
                reason="涉及跨村(社区)资源调配，报上一级党组织审批",
            )
            decider, org = self._upper_party(room), town.room.party_org
            yield _days(rng, 3, 10)
        if plan.fate == "rejected":
            app.reject_topic(
                topic_id,
                actor=decider,
                occurred_at=self.now,
                rejecting_org=org,
                reason=rng.choice(REJECT_REASONS),
            )
            return
        app.approve_topic(topic_id, actor=decider, occurred_at=self.now, approving_org=org)
        yield _days(rng, 1, 5)
        if plan.fate == "withdrawn":
            app.withdraw_topic(
                topic_id,
                actor=self._clerk(room),
                occurred_at=self.now,
                reason=rng.choice(WITHDRAW_REASONS),
            )
            return
        self._filings += 1
        body: FilingBody = FILING_BODY[room.level]
        app.file_topic(
            topic_id,
            actor=self._filer(room),
            occurred_at=self.now,
            filed_with=body,
            filing_ref=f"{self.clock.now.year}-备{self._filings:06d}",
        )
        yield _days(rng, 2, 7)
        yield from self._consultation(plan, topic_id, room, town, rng)

    def _participants(
        self, room: RoomSpec, town: TownSpec, plan: ConsultationPlan, rng: random.Random
    ) -> list[Participant]:
        residents = rng.sample(room.residents, plan.residents)
        people = [Participant(id=p.id, name=p.name, role="resident_rep") for p in residents]
        member = room.members[0][0]
        guests = [(member, "cppcc_member"), *town.guests]
        people += [
            Participant(id=person.id, name=person.name, role=role)
            for person, role in guests[: plan.others]
        ]
        return people

    def _consultation(
        self, plan: TopicPlan, topic_id: UUID, room: RoomSpec, town: TownSpec, rng: random.Random
    ) -> Life:
        """Research, participants, scheduling and the meeting itself (§四.2–§四.5)."""
        app = self.app
        c = plan.consultation
        convener = self._convener(room)
        member = room.members[0][0]
        clerk = Person(id=f"{room.key}-clerk", name="党群办工作人员")
        consultation_id = app.form_research_group(
            topic_id,
            actor=convener,
            occurred_at=self.now,
            members=[room.convener, member, clerk],
            lead_id=room.convener.id,
        )
        self.stats.consultations += 1
        for method, summary in rng.sample(RESEARCH, rng.randint(1, 3)):
            yield _days(rng, 2, 8)
            app.record_research_finding(
                consultation_id,
                actor=convener,
                occurred_at=self.now,
                method=method,
                summary=summary,
            )
        yield _days(rng, 2, 6)
        participants = self._participants(room, town, c, rng)
        app.confirm_participants(
            consultation_id,
            actor=convener,
            occurred_at=self.now,
            participants=participants,
            quota_justification=(
                "议题专业性强，邀请专家学者和相关部门负责同志参加，群众代表不足三分之二"
                if c.quota_shortfall
                else ""
            ),
        )
        yield _minutes(rng, 60, 24 * 60)
        meeting = datetime.combine(
            self.clock.now.date() + timedelta(days=rng.randint(5, 12)), time(14, 30), tzinfo=CST
        )
        app.schedule_consultation(
            consultation_id,
            actor=convener,
            occurred_at=self.now,
            form=c.form,
            venue=c.venue,
            venue_detail=c.venue_detail,
            scheduled_for=meeting,
            host_id=room.convener.id,
        )
        lag = timedelta(0)
        if c.backdated_hold:  # the record of the meeting is entered weeks later
            lag = timedelta(days=rng.randint(30, 45))
        yield meeting - self.clock.now + lag
        absent = rng.randint(0, 1) if len(participants) > 4 else 0
        attendees = participants[: len(participants) - absent]
        app.hold_consultation(
            consultation_id,
            actor=convener,
            occurred_at=self.now - lag,
            form=c.form,
            venue=c.venue,
            venue_detail=c.venue_detail,
            attendee_ids=[p.id for p in attendees],
        )
        record = MeetingRecord(consultation_id, plan.title, room, town, attendees)
        yield from self._meeting(record, c, rng, lag)
        for index, outcome in enumerate(plan.outcomes):
            yield _days(rng, 2, 7) if index == 0 else _minutes(rng, 30, 240)
            word = "意见" if outcome.kind == "opinion" else "建议"
            outcome_id = app.draft_outcome(
                consultation_id,
                actor=convener,
                occurred_at=self.now,
                kind=outcome.kind,
                title=f"关于{plan.title}的协商{word}",
                text=f"经协商，就{plan.title}提出如下{word}：{rng.choice(OPINIONS[2:5])[1]}。",
            )
            self.stats.outcomes += 1
            life = self._outcome(record, outcome, outcome_id, random.Random(rng.getrandbits(64)))
            self.timeline.spawn(self.clock.now + _days(rng, 2, 7), life)

    def _meeting(
        self, record: MeetingRecord, c: ConsultationPlan, rng: random.Random, lag: timedelta
    ) -> Life:
        """What is said and decided at the meeting: opinions, motions and votes, dissent."""
        app = self.app
        cid = record.consultation_id
        convener = self._convener(record.room)
        residents = [p for p in record.attendees if p.role == "resident_rep"]
        for _ in range(rng.randint(2, 5)):
            yield _minutes(rng, 3, 15)
            speaker = rng.choice(record.attendees)
            stance, text = rng.choice(OPINIONS)
            app.record_opinion(
                cid,
                actor=self._clerk(record.room),
                occurred_at=self.now - lag,
                speaker_id=speaker.id,
                speaker_role=speaker.role,
                stance=stance,
                text=text,
            )
        against: list[Participant] = []
        if c.motion:
            motions = [("defeated", "按原方案一次性实施")] if c.defeated_first else []
            motions.append(("carried", f"同意{record.title}方案"))
            for wanted, text in motions:
                yield _minutes(rng, 5, 20)
                motion_id = app.put_motion(
                    cid, actor=convener, occurred_at=self.now - lag, text=text
                )
                choices = self._choices(record.attendees, residents, wanted, rng)
                for voter, choice in choices:
                    yield _minutes(rng, 0, 2)
                    app.cast_vote(
                        cid,
                        actor=Actor(id=voter.id, role=voter.role),
                        occurred_at=self.now - lag,
                        motion_id=motion_id,
                        voter_id=voter.id,
                        choice=choice,
                    )
                yield _minutes(rng, 1, 5)
                app.resolve_motion(
                    cid, actor=convener, occurred_at=self.now - lag, motion_id=motion_id
                )
                against = [voter for voter, choice in choices if choice == "against"]
        yield _minutes(rng, 5, 20)
        app.reach_consensus(
            cid, actor=convener, occurred_at=self.now - lag, summary=f"就{record.title}形成共识"
        )
        if c.dissent:
            dissenters = [p for p in against if p.role == "resident_rep"] or residents[:1]
            yield _minutes(rng, 1, 10)
            record.dissent_ids.append(
                app.record_dissent(
                    cid,
                    actor=self._clerk(record.room),
                    occurred_at=self.now - lag,
                    person_ids=[p.id for p in dissenters],
                    position=rng.choice(OPINIONS[6:])[1],
                )
            )

    @staticmethod
    def _choices(
        attendees: list[Participant],
        residents: list[Participant],
        wanted: str,
        rng: random.Random,
    ) -> list[tuple[Participant, VoteChoice]]:
        """Votes that carry (more than half for) or defeat the motion, with some dissent."""
        present = len(attendees)
        if wanted == "carried":
            n_against = rng.randint(1, 2) if residents else 0
            n_abstain = rng.randint(0, 1)
            n_for = present - n_against - n_abstain
        else:
            n_for = present // 2
            n_against = present - n_for - 1
            n_abstain = 1
        dissenters = residents[-n_against:] if n_against else []
        rest = [p for p in attendees if p not in dissenters]
        choices: list[tuple[Participant, VoteChoice]] = [(p, "against") for p in dissenters]
        choices += [(p, "for") for p in rest[:n_for]]
        choices += [(p, "abstain") for p in rest[n_for : n_for + n_abstain]]
        rng.shuffle(choices)
        return choices

    # --- outcomes ----------------------------------------------------------------------------

    def _outcome(
        self, record: MeetingRecord, plan: OutcomePlan, outcome_id: UUID, rng: random.Random
    ) -> Life:
        """The closed loop of one outcome (§四.6), as far as its fate takes it."""
        app = self.app
        room = record.room
        convener = self._convener(room)
        recipients: list[Recipient] = rng.choice(
            [["party_committee", "government"], ["party_committee"], ["government"]]
        )
        app.report_outcome(outcome_id, actor=convener, occurred_at=self.now, recipients=recipients)
        yield _days(rng, 7, 30)
        fate = plan.fate
        if fate == "pending":
            return
        category, level, summary = plan.escalation
        if fate in ("declined", "escalated_declined"):
            app.decline_outcome(
                outcome_id,
                actor=self._party(room),
                occurred_at=self.now,
                decided_by=room.government,
                reason=(
                    summary if fate == "escalated_declined" else "资金安排已满，列入下年度计划"
                ),
            )
            if fate == "escalated_declined":
                yield _days(rng, 3, 15)
                app.escalate_outcome(
                    outcome_id,
                    actor=self._member(room),
                    occurred_at=self.now,
                    category=category,
                    to_level=level,
                    summary=summary,
                )
            yield from self._close(record, outcome_id, rng)
            return
        app.adopt_outcome(
            outcome_id,
            actor=self._party(room),
            occurred_at=self.now,
            adopted_as=plan.adopted_as,
            decided_by=room.party_org,
        )
        if fate == "consensus":
            yield from self._close(record, outcome_id, rng)
            return
        if fate == "escalated_adopted":
            yield _days(rng, 3, 15)
            app.escalate_outcome(
                outcome_id,
                actor=self._member(room),
                occurred_at=self.now,
                category="actionable_suggestion",
                to_level="county",
                summary="本级已采纳实施，建议在全县推广",
            )
        yield _days(rng, 1, 5)
        starts = self.clock.now.date() + timedelta(days=1)
        ends = starts + timedelta(days=6)
        app.publish_publicity(
            outcome_id,
            actor=self._clerk(room),
            occurred_at=self.now,
            channel=rng.choice(PUBLICITY),
            starts_on=starts,
            ends_on=ends,
            notice_ref=f"公示{outcome_id.hex[:8]}",
        )
        for _ in range(plan.objections):
            yield _until(self.clock.now, starts) + _days(rng, 0, 4)
            objector = rng.choice(room.residents)
            app.receive_objection(
                outcome_id,
                actor=Actor(id=objector.id, role="resident"),
                occurred_at=self.now,
                objector_id=objector.id,
                text=rng.choice(OPINIONS[6:])[1],
            )
        yield _until(self.clock.now, ends + timedelta(days=1)) + _days(rng, 0, 5)
        yield from self._implement(record, plan, outcome_id, rng)

    def _implement(
        self, record: MeetingRecord, plan: OutcomePlan, outcome_id: UUID, rng: random.Random
    ) -> Life:
        """Assign, track, complete, verify (rule 5); stall and re-consult (rule 6)."""
        app = self.app
        room = record.room
        unit = rng.choice(record.town.units)
        unit_actor = Actor(id=unit.id, role="implementing_unit")
        fate = plan.fate
        days = rng.randint(30, 45) if fate == "overdue" else rng.randint(90, 200)
        app.assign_implementation(
            outcome_id,
            actor=self._official(room),
            occurred_at=self.now,
            unit=unit,
            deadline=self.clock.now.date() + timedelta(days=days),
        )
        yield _days(rng, 10, 25)
        app.report_progress(
            outcome_id, actor=unit_actor, occurred_at=self.now, percent=rng.randint(10, 40)
        )
        if fate == "overdue":
            return  # the deadline passes; nobody reports completion
        if fate in ("stalled_reconsulted", "stalled_closed"):
            yield _days(rng, 20, 40)
            app.record_stall(
                outcome_id,
                actor=self._supervisor(room),
                occurred_at=self.now,
                cause=rng.choice(STALL_CAUSES),
            )
            yield _days(rng, 5, 20)
            if fate == "stalled_closed":
                yield from self._close(record, outcome_id, rng)
                return
            yield from self._reconsult(record, outcome_id, rng)
        for percent in sorted(rng.sample(range(50, 100, 10), rng.randint(0, 2))):
            yield _days(rng, 15, 40)
            app.report_progress(outcome_id, actor=unit_actor, occurred_at=self.now, percent=percent)
        for attempt in range(2 if fate == "reverified" else 1):
            yield _days(rng, 10, 30)
            app.complete_implementation(
                outcome_id, actor=unit_actor, occurred_at=self.now, summary="已按方案实施完成"
            )
            yield _days(rng, 3, 15)
            effective = not (fate == "reverified" and attempt == 0)
            app.verify_implementation(
                outcome_id,
                actor=self._supervisor(room),
                occurred_at=self.now,
                effective=effective,
                note="群众满意，成效明显" if effective else "部分点位未达标，责成整改",
            )
        yield from self._close(record, outcome_id, rng)

    def _reconsult(self, record: MeetingRecord, outcome_id: UUID, rng: random.Random) -> Life:
        """Consult again (再协商) on the stalled matter: a new topic, run to its own end."""
        plan = TopicPlan(
            room_key=record.room.key,
            start=self.clock.now,
            title=f"{record.title}(再协商)",
            description="落实不到位，分析原因后再协商",
            source="party_government",
            fate="consult",
            escalate_approval=False,
            consultation=ConsultationPlan(
                form="meeting",
                venue="room",
                venue_detail="协商议事室",
                residents=rng.randint(6, 10),
                others=2,
                quota_shortfall=False,
                backdated_hold=False,
                motion=record.room.level == "village",
                defeated_first=False,
                dissent=False,
            ),
            outcomes=(
                OutcomePlan(
                    kind="suggestion",
                    fate="verified",
                    adopted_as="decision",
                    objections=0,
                    escalation=("actionable_suggestion", "county", "再协商形成的解决办法"),
                ),
            ),
            seed=rng.getrandbits(64),
        )
        topic_id = self.app.open_reconsultation(
            outcome_id,
            actor=self._convener(record.room),
            occurred_at=self.now,
            title=plan.title,
            source=plan.source,
            description=plan.description,
        )
        self.stats.reconsultations += 1
        self.timeline.spawn(self.clock.now + _days(rng, 1, 5), self._topic(plan, topic_id))
        yield _days(rng, 60, 90)

    def _close(self, record: MeetingRecord, outcome_id: UUID, rng: random.Random) -> Life:
        """Feedback to residents, an explanation for each dissent (rule 7), then closing."""
        app = self.app
        room = record.room
        yield _days(rng, 3, 20)
        channel, summary = rng.choice(FEEDBACK)
        app.deliver_feedback(
            outcome_id,
            actor=self._clerk(room),
            occurred_at=self.now,
            channel=channel,
            summary=summary,
        )
        for dissent_id in record.dissent_ids:
            yield _days(rng, 0, 5)
            app.explain_dissent(
                outcome_id,
                actor=self._convener(room),
                occurred_at=self.now,
                dissent_id=dissent_id,
                explanation="上门说明方案依据和对低层住户的补偿措施",
            )
        yield _days(rng, 1, 10)
        app.close_outcome(
            outcome_id, actor=self._clerk(room), occurred_at=self.now, summary="闭环办结"
        )
