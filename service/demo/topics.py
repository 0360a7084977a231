"""The topics' lifecycles: proposal, decision and filing (§四.3), then the consultation itself
(§四.2–§四.5): research, participants, the meeting, its motions, votes and dissent.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from uuid import UUID

from events.common import Actor, Person
from events.consultation import Participant, VoteChoice
from events.topic import FilingBody
from service.demo.plan import (
    CST,
    ConsultationPlan,
    RoomSpec,
    TopicPlan,
    TownSpec,
)
from service.demo.stage import MeetingRecord, Stage
from service.demo.timeline import Life, days_later, minutes_later
from service.demo.vocabulary import (
    OPINIONS,
    REJECT_REASONS,
    RESEARCH,
    WITHDRAW_REASONS,
)
from service.domain.rules import FILING_BODY


class TopicLives(Stage):
    """One topic from proposal to the outcomes its consultation drafts."""

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
            yield days_later(rng, 2, 10)
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
            yield days_later(rng, 3, 10)
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
        yield days_later(rng, 1, 5)
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
        yield days_later(rng, 2, 7)
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
            yield days_later(rng, 2, 8)
            app.record_research_finding(
                consultation_id,
                actor=convener,
                occurred_at=self.now,
                method=method,
                summary=summary,
            )
        yield days_later(rng, 2, 6)
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
        yield minutes_later(rng, 60, 24 * 60)
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
            yield days_later(rng, 2, 7) if index == 0 else minutes_later(rng, 30, 240)
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
            self.timeline.spawn(self.clock.now + days_later(rng, 2, 7), life)

    def _meeting(
        self, record: MeetingRecord, c: ConsultationPlan, rng: random.Random, lag: timedelta
    ) -> Life:
        """What is said and decided at the meeting: opinions, motions and votes, dissent."""
        app = self.app
        cid = record.consultation_id
        convener = self._convener(record.room)
        residents = [p for p in record.attendees if p.role == "resident_rep"]
        for _ in range(rng.randint(2, 5)):
            yield minutes_later(rng, 3, 15)
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
                yield minutes_later(rng, 5, 20)
                motion_id = app.put_motion(
                    cid, actor=convener, occurred_at=self.now - lag, text=text
                )
                choices = self._choices(record.attendees, residents, wanted, rng)
                for voter, choice in choices:
                    yield minutes_later(rng, 0, 2)
                    app.cast_vote(
                        cid,
                        actor=Actor(id=voter.id, role=voter.role),
                        occurred_at=self.now - lag,
                        motion_id=motion_id,
                        voter_id=voter.id,
                        choice=choice,
                    )
                yield minutes_later(rng, 1, 5)
                app.resolve_motion(
                    cid, actor=convener, occurred_at=self.now - lag, motion_id=motion_id
                )
                against = [voter for voter, choice in choices if choice == "against"]
        yield minutes_later(rng, 5, 20)
        app.reach_consensus(
            cid, actor=convener, occurred_at=self.now - lag, summary=f"就{record.title}形成共识"
        )
        if c.dissent:
            dissenters = [p for p in against if p.role == "resident_rep"] or residents[:1]
            yield minutes_later(rng, 1, 10)
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
