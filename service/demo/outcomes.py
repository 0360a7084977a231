"""The outcomes' lifecycles: the closed loop of §四.6, from report and decision through
publicity, implementation and verification to feedback and closing (rules 5–7).
"""

from __future__ import annotations

import random
from datetime import timedelta
from uuid import UUID

from events.common import Actor
from events.outcome import Recipient
from service.demo.plan import (
    ConsultationPlan,
    OutcomePlan,
    TopicPlan,
)
from service.demo.stage import MeetingRecord, Stage
from service.demo.timeline import Life, days_later, wait_until
from service.demo.vocabulary import (
    FEEDBACK,
    OPINIONS,
    PUBLICITY,
    STALL_CAUSES,
)


class OutcomeLives(Stage):
    """One outcome, as far as its planned fate takes it."""

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
        yield days_later(rng, 7, 30)
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
                yield days_later(rng, 3, 15)
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
            yield days_later(rng, 3, 15)
            app.escalate_outcome(
                outcome_id,
                actor=self._member(room),
                occurred_at=self.now,
                category="actionable_suggestion",
                to_level="county",
                summary="本级已采纳实施，建议在全县推广",
            )
        yield days_later(rng, 1, 5)
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
            yield wait_until(self.clock.now, starts) + days_later(rng, 0, 4)
            objector = rng.choice(room.residents)
            app.receive_objection(
                outcome_id,
                actor=Actor(id=objector.id, role="resident"),
                occurred_at=self.now,
                objector_id=objector.id,
                text=rng.choice(OPINIONS[6:])[1],
            )
        yield wait_until(self.clock.now, ends + timedelta(days=1)) + days_later(rng, 0, 5)
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
        yield days_later(rng, 10, 25)
        app.report_progress(
            outcome_id, actor=unit_actor, occurred_at=self.now, percent=rng.randint(10, 40)
        )
        if fate == "overdue":
            return  # the deadline passes; nobody reports completion
        if fate in ("stalled_reconsulted", "stalled_closed"):
            yield days_later(rng, 20, 40)
            app.record_stall(
                outcome_id,
                actor=self._supervisor(room),
                occurred_at=self.now,
                cause=rng.choice(STALL_CAUSES),
            )
            yield days_later(rng, 5, 20)
            if fate == "stalled_closed":
                yield from self._close(record, outcome_id, rng)
                return
            yield from self._reconsult(record, outcome_id, rng)
        for percent in sorted(rng.sample(range(50, 100, 10), rng.randint(0, 2))):
            yield days_later(rng, 15, 40)
            app.report_progress(outcome_id, actor=unit_actor, occurred_at=self.now, percent=percent)
        for attempt in range(2 if fate == "reverified" else 1):
            yield days_later(rng, 10, 30)
            app.complete_implementation(
                outcome_id, actor=unit_actor, occurred_at=self.now, summary="已按方案实施完成"
            )
            yield days_later(rng, 3, 15)
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
        self.timeline.spawn(self.clock.now + days_later(rng, 1, 5), self._topic(plan, topic_id))
        yield days_later(rng, 60, 90)

    def _close(self, record: MeetingRecord, outcome_id: UUID, rng: random.Random) -> Life:
        """Feedback to residents, an explanation for each dissent (rule 7), then closing."""
        app = self.app
        room = record.room
        yield days_later(rng, 3, 20)
        channel, summary = rng.choice(FEEDBACK)
        app.deliver_feedback(
            outcome_id,
            actor=self._clerk(room),
            occurred_at=self.now,
            channel=channel,
            summary=summary,
        )
        for dissent_id in record.dissent_ids:
            yield days_later(rng, 0, 5)
            app.explain_dissent(
                outcome_id,
                actor=self._convener(room),
                occurred_at=self.now,
                dissent_id=dissent_id,
                explanation="上门说明方案依据和对低层住户的补偿措施",
            )
        yield days_later(rng, 1, 10)
        app.close_outcome(
            outcome_id, actor=self._clerk(room), occurred_at=self.now, summary="闭环办结"
        )
