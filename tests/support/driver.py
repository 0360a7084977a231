"""A command driver for the property test: a seeded world and one function per command.

Each action takes the world, a target (0 = the newest aggregate of its kind) and a
variant (which role, value or time to use); it may well be refused, which is the point.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TypeVar

from events.common import Actor, Person
from events.outcome import AdoptedAs
from events.topic import FilingBody, TopicSource
from tests.support.scenario import (
    CLERK,
    CONVENER,
    OFFICIAL,
    PARTY,
    SUPERVISOR,
    UNIT,
    UPPER_PARTY,
    Scenario,
    participants,
)

T = TypeVar("T")


class World:
    """A scenario with aggregates at several stages, and the ids commands may pick from."""

    def __init__(self) -> None:
        self.s = s = Scenario()
        self.app = app = s.app
        town = s.town_room()
        self.rooms = [town, s.village_room(), s.village_room(with_county_member=False)]
        escalated = s.proposed_topic(self.rooms[1])
        app.escalate_topic_for_approval(
            escalated, actor=PARTY, occurred_at=s.at(), upper_org="镇党委"
        )
        self.topics = [
            s.proposed_topic(town),
            s.approved_topic(town, filed=False),
            s.approved_topic(town),
            escalated,
        ]
        held = s.held()
        self.motions = [
            (held, app.put_motion(held, actor=CONVENER, occurred_at=s.at(), text="动议"))
        ]
        dissent = app.record_dissent(
            held, actor=CLERK, occurred_at=s.at(), person_ids=["r"], position="反对"
        )
        withdrawn = s.approved_topic(town)
        self.consultations = [
            s.research(),
            s.scheduled(),
            # One step short of a rule: unfiled (2), withdrawn (1), no research yet (4).
            s.scheduled(s.approved_topic(town, filed=False)),
            s.scheduled(withdrawn),
            app.form_research_group(
                s.approved_topic(town),
                actor=CONVENER,
                occurred_at=s.at(),
                members=[Person(id="m", name="组长")],
                lead_id="m",
            ),
            held,
        ]
        app.withdraw_topic(withdrawn, actor=CLERK, occurred_at=s.at(), reason="撤回")
        self.topics += [app.get_consultation(c).topic_id for c in self.consultations]
        self.outcomes = [s.drafted(held), s.reported(held), s.adopted(held), s.publicised(held)]
        # One step short of closing against rules 4, 5 and 6 (and 7 for the last).
        verified, completed, assigned = s.verified(held), s.assigned(held), s.assigned(held)
        app.complete_implementation(completed, actor=UNIT, occurred_at=s.at(), summary="完成")
        for outcome in (verified, completed, assigned):
            app.explain_dissent(
                outcome, actor=CLERK, occurred_at=s.at(), dissent_id=dissent, explanation="说明"
            )
        for outcome in (completed, assigned):
            s.fed_back(outcome)
        unexplained = s.verified(held)
        s.fed_back(unexplained)
        self.outcomes += [verified, completed, assigned, unexplained]

    def when(self, k: int) -> datetime:
        """Mostly now; sometimes late (backdated) or in the future (must be refused)."""
        if k % 7 == 5:
            return self.s.clock.now - timedelta(days=10)
        if k % 11 == 9:
            return self.s.clock.now + timedelta(days=1)
        return self.s.at()


def pick(items: list[T], k: int) -> T | None:
    """The k-th newest item (k = 0: the newest), so shrinking favours recent aggregates."""
    return items[-1 - k % len(items)] if items else None


Action = Callable[[World, int, int], None]
ACTIONS: dict[str, Action] = {}


def action(fn: Action) -> Action:
    ACTIONS[fn.__name__] = fn
    return fn


SOURCES: list[TopicSource] = ["party_government", "member", "residents", "public_call"]


@action
def propose(w: World, t: int, v: int) -> None:
    room = pick(w.rooms, t)
    assert room is not None
    w.topics.append(
        w.app.propose_topic(
            room, actor=CLERK, occurred_at=w.when(v), title=f"议题{v}", source=SOURCES[v % 4]
        )
    )


@action
def link(w: World, t: int, v: int) -> None:
    if room := pick(w.rooms, t):
        w.app.link_member(
            room,
            actor=CLERK,
            occurred_at=w.when(v),
            member=Person(id=f"member-{v}", name="委员"),
            member_level=("county", "city")[v % 2],
        )


@action
def approve(w: World, t: int, v: int) -> None:
    actor = (PARTY, UPPER_PARTY, CLERK)[v % 3]
    topic = pick(w.topics, t)
    if topic:
        w.app.approve_topic(topic, actor=actor, occurred_at=w.when(v), approving_org="党委")


@action
def reject(w: World, t: int, v: int) -> None:
    if topic := pick(w.topics, t):
        w.app.reject_topic(
            topic, actor=PARTY, occurred_at=w.when(v), rejecting_org="党委", reason="否"
        )


@action
def escalate(w: World, t: int, v: int) -> None:
    if topic := pick(w.topics, t):
        w.app.escalate_topic_for_approval(
            topic, actor=PARTY, occurred_at=w.when(v), upper_org="镇党委"
        )


@action
def file(w: World, t: int, v: int) -> None:
    if topic := pick(w.topics, t):
        body: FilingBody = ("county_cppcc", "town_members_group")[v % 2]
        w.app.file_topic(topic, actor=CLERK, occurred_at=w.when(v), filed_with=body)


@action
def withdraw(w: World, t: int, v: int) -> None:
    if topic := pick(w.topics, t):
        w.app.withdraw_topic(topic, actor=CLERK, occurred_at=w.when(v), reason="撤回")


@action
def form_group(w: World, t: int, v: int) -> None:
    if topic := pick(w.topics, t):
        w.consultations.append(
            w.app.form_research_group(
                topic,
                actor=CONVENER,
                occurred_at=w.when(v),
                members=[Person(id="m", name="组长")],
                lead_id="m",
            )
        )


@action
def finding(w: World, t: int, v: int) -> None:
    if c := pick(w.consultations, t):
        w.app.record_research_finding(
            c, actor=CONVENER, occurred_at=w.when(v), method="survey", summary="调研"
        )


@action
def confirm(w: World, t: int, v: int) -> None:
    if c := pick(w.consultations, t):
        residents, others = ((6, 3), (3, 3), (3, 3))[v % 3]
        w.app.confirm_participants(
            c,
            actor=CONVENER,
            occurred_at=w.when(v),
            participants=participants(residents, others),
            quota_justification="专业议题" if v % 3 == 2 else "",
        )


@action
def schedule(w: World, t: int, v: int) -> None:
    if c := pick(w.consultations, t):
        w.app.schedule_consultation(
            c,
            actor=CONVENER,
            occurred_at=w.when(v),
            form="meeting",
            venue="square",
            scheduled_for=w.s.clock.now,
            host_id="convener-1",
        )


@action
def hold(w: World, t: int, v: int) -> None:
    if c := pick(w.consultations, t):
        people = [p.id for p in w.app.get_consultation(c).participants] or ["resident-0"]
        w.app.hold_consultation(
            c,
            actor=CONVENER,
            occurred_at=w.when(v),
            form="online",
            venue="other",
            attendee_ids=people,
        )


@action
def motion(w: World, t: int, v: int) -> None:
    if c := pick(w.consultations, t):
        w.motions.append(
            (c, w.app.put_motion(c, actor=CONVENER, occurred_at=w.when(v), text="动议"))
        )


@action
def vote(w: World, t: int, v: int) -> None:
    if m := pick(w.motions, t):
        voter = ("resident-0", "resident-1", "other-0", "stranger")[v % 4]
        w.app.cast_vote(
            m[0],
            actor=CONVENER,
            occurred_at=w.when(v),
            motion_id=m[1],
            voter_id=voter,
            choice="for",
        )


@action
def resolve(w: World, t: int, v: int) -> None:
    if m := pick(w.motions, t):
        w.app.resolve_motion(m[0], actor=CONVENER, occurred_at=w.when(v), motion_id=m[1])


@action
def opinion_consensus_dissent(w: World, t: int, v: int) -> None:
    if c := pick(w.consultations, t):
        when = w.when(v)
        if v % 3 == 0:
            w.app.record_opinion(
                c,
                actor=CLERK,
                occurred_at=when,
                speaker_id="r",
                speaker_role="resident_rep",
                stance="oppose",
                text="意见",
            )
        elif v % 3 == 1:
            w.app.reach_consensus(c, actor=CONVENER, occurred_at=when, summary="共识")
        else:
            w.app.record_dissent(
                c, actor=CLERK, occurred_at=when, person_ids=["r"], position="不同意"
            )


@action
def draft(w: World, t: int, v: int) -> None:
    if c := pick(w.consultations, t):
        w.outcomes.append(
            w.app.draft_outcome(
                c, actor=CONVENER, occurred_at=w.when(v), kind="opinion", title="成果", text="内容"
            )
        )


@action
def report(w: World, t: int, v: int) -> None:
    if o := pick(w.outcomes, t):
        w.app.report_outcome(o, actor=CONVENER, occurred_at=w.when(v), recipients=["government"])


@action
def decide(w: World, t: int, v: int) -> None:
    if o := pick(w.outcomes, t):
        when = w.when(v)
        if v % 3 == 2:
            w.app.decline_outcome(
                o, actor=PARTY, occurred_at=when, decided_by="党委", reason="不采纳"
            )
        else:
            adopted_as: AdoptedAs = ("decision", "consensus")[v % 2]
            w.app.adopt_outcome(
                o, actor=PARTY, occurred_at=when, adopted_as=adopted_as, decided_by="党委"
            )


@action
def publicise(w: World, t: int, v: int) -> None:
    if o := pick(w.outcomes, t):
        today = w.s.clock.now.date()
        w.app.publish_publicity(
            o, actor=CLERK, occurred_at=w.when(v), channel="wechat", starts_on=today, ends_on=today
        )


@action
def objection(w: World, t: int, v: int) -> None:
    if o := pick(w.outcomes, t):
        w.app.receive_objection(
            o,
            actor=Actor(id="r", role="resident"),
            occurred_at=w.when(v),
            objector_id="r",
            text="异议",
        )


@action
def assign(w: World, t: int, v: int) -> None:
    if o := pick(w.outcomes, t):
        w.app.assign_implementation(
            o,
            actor=OFFICIAL,
            occurred_at=w.when(v),
            unit=Person(id="u", name="单位"),
            deadline=date(2030, 1, 1),
        )


@action
def implement(w: World, t: int, v: int) -> None:
    if o := pick(w.outcomes, t):
        when = w.when(v)
        step = v % 4
        if step == 0:
            w.app.report_progress(o, actor=UNIT, occurred_at=when, percent=50)
        elif step == 1:
            w.app.complete_implementation(o, actor=UNIT, occurred_at=when, summary="完成")
        else:
            w.app.verify_implementation(o, actor=SUPERVISOR, occurred_at=when, effective=step == 2)


@action
def stall(w: World, t: int, v: int) -> None:
    if o := pick(w.outcomes, t):
        w.app.record_stall(
            o, actor=SUPERVISOR, occurred_at=w.when(v), cause=("资金未到位", " ")[v % 2]
        )


@action
def reconsult(w: World, t: int, v: int) -> None:
    if o := pick(w.outcomes, t):
        w.topics.append(
            w.app.open_reconsultation(
                o, actor=CONVENER, occurred_at=w.when(v), title="再协商", source="member"
            )
        )


@action
def feedback(w: World, t: int, v: int) -> None:
    if o := pick(w.outcomes, t):
        w.app.deliver_feedback(
            o, actor=CLERK, occurred_at=w.when(v), channel="meeting", summary="反馈"
        )


@action
def explain(w: World, t: int, v: int) -> None:
    if o := pick(w.outcomes, t):
        consultation = w.app.get_consultation(w.app.get_outcome(o).consultation_id)
        if dissent := pick(sorted(consultation.dissents, key=str), t):
            w.app.explain_dissent(
                o, actor=CLERK, occurred_at=w.when(v), dissent_id=dissent, explanation="解释"
            )


@action
def escalate_outcome(w: World, t: int, v: int) -> None:
    if o := pick(w.outcomes, t):
        w.app.escalate_outcome(
            o,
            actor=CONVENER,
            occurred_at=w.when(v),
            category="beyond_authority",
            to_level="county",
            summary="上报",
        )


@action
def close(w: World, t: int, v: int) -> None:
    if o := pick(w.outcomes, t):
        w.app.close_outcome(o, actor=CLERK, occurred_at=w.when(v))
