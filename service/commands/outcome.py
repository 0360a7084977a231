"""Outcome commands: the closed loop of adoption, implementation and feedback (§四.2, §四.6)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from uuid import UUID

from events.common import Actor, OptionalText, Person, Text
from events.outcome import (
    AdoptedAs,
    EscalationCategory,
    EscalationLevel,
    FeedbackChannel,
    OutcomeKind,
    PublicityChannel,
    Recipient,
)
from events.topic import TopicSource
from service.commands.base import CommandsBase
from service.domain.outcome import Outcome
from service.domain.topic import Topic


class OutcomeCommands(CommandsBase):
    """Commands on outcomes."""

    def draft_outcome(
        self,
        consultation_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        kind: OutcomeKind,
        title: str,
        text: Text,
    ) -> UUID:
        """Draw up an opinion or suggestion from a held consultation (rule 4); returns its id."""
        act = self._act(actor, occurred_at)
        consultation = self.get_consultation(consultation_id)
        consultation.require_held()
        outcome = Outcome.draft(
            act,
            consultation_id=consultation.id,
            topic_id=consultation.topic_id,
            room_id=consultation.room_id,
            kind=kind,
            title=title,
            text=text,
        )
        self.save(outcome)
        return outcome.id

    def report_outcome(
        self,
        outcome_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        recipients: Sequence[Recipient],
    ) -> None:
        """Report to the same-level party committee and/or government (§四.2)."""
        act = self._act(actor, occurred_at)
        outcome = self.get_outcome(outcome_id)
        outcome.report(act, recipients=recipients)
        self.save(outcome)

    def adopt_outcome(
        self,
        outcome_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        adopted_as: AdoptedAs,
        decided_by: str,
        needs_implementation: bool | None = None,
    ) -> None:
        """Adopt a reported outcome (rule 4) as decision, project, measure or consensus."""
        act = self._act(actor, occurred_at)
        outcome = self.get_outcome(outcome_id)
        outcome.adopt(
            act,
            adopted_as=adopted_as,
            decided_by=decided_by,
            needs_implementation=needs_implementation,
        )
        self.save(outcome)

    def decline_outcome(
        self,
        outcome_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        decided_by: str,
        reason: Text,
    ) -> None:
        """Record that a reported outcome was not adopted, with the reason."""
        act = self._act(actor, occurred_at)
        outcome = self.get_outcome(outcome_id)
        outcome.decline(act, decided_by=decided_by, reason=reason)
        self.save(outcome)

    def publish_publicity(
        self,
        outcome_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        channel: PublicityChannel,
        starts_on: date,
        ends_on: date,
        notice_ref: str = "",
    ) -> None:
        """Publicise the adopted matter (公示, rule 5)."""
        act = self._act(actor, occurred_at)
        outcome = self.get_outcome(outcome_id)
        outcome.publish_publicity(
            act, channel=channel, starts_on=starts_on, ends_on=ends_on, notice_ref=notice_ref
        )
        self.save(outcome)

    def receive_objection(
        self, outcome_id: UUID, *, actor: Actor, occurred_at: datetime, objector_id: str, text: Text
    ) -> None:
        """Record an objection to the publicised matter."""
        act = self._act(actor, occurred_at)
        outcome = self.get_outcome(outcome_id)
        outcome.receive_objection(act, objector_id=objector_id, text=text)
        self.save(outcome)

    def assign_implementation(
        self,
        outcome_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        unit: Person,
        deadline: date,
    ) -> None:
        """Charge a responsible unit with implementing it by a deadline (rules 4, 5)."""
        act = self._act(actor, occurred_at)
        outcome = self.get_outcome(outcome_id)
        outcome.assign_implementation(act, unit=unit, deadline=deadline)
        self.save(outcome)

    def report_progress(
        self,
        outcome_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        percent: int,
        note: OptionalText = "",
    ) -> None:
        """Record implementation progress (tracking)."""
        act = self._act(actor, occurred_at)
        outcome = self.get_outcome(outcome_id)
        outcome.report_progress(act, percent=percent, note=note)
        self.save(outcome)

    def complete_implementation(
        self, outcome_id: UUID, *, actor: Actor, occurred_at: datetime, summary: Text
    ) -> None:
        """Record the implementation done; supervision verifies it next."""
        act = self._act(actor, occurred_at)
        outcome = self.get_outcome(outcome_id)
        outcome.complete_implementation(act, summary=summary)
        self.save(outcome)

    def verify_implementation(
        self,
        outcome_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        effective: bool,
        note: OptionalText = "",
    ) -> None:
        """Record supervision's verdict on the completed implementation (rule 5)."""
        act = self._act(actor, occurred_at)
        outcome = self.get_outcome(outcome_id)
        outcome.verify_implementation(act, effective=effective, note=note)
        self.save(outcome)

    def record_stall(
        self, outcome_id: UUID, *, actor: Actor, occurred_at: datetime, cause: Text
    ) -> None:
        """Record that implementation fell short, with its analysed cause (rule 6)."""
        act = self._act(actor, occurred_at)
        outcome = self.get_outcome(outcome_id)
        outcome.record_stall(act, cause=cause)
        self.save(outcome)

    def open_reconsultation(
        self,
        outcome_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        title: str,
        source: TopicSource,
        description: OptionalText = "",
    ) -> UUID:
        """Consult again on a stalled matter (rule 6): a new linked topic, saved atomically
        with the outcome's event; returns the new topic's id."""
        act = self._act(actor, occurred_at)
        outcome = self.get_outcome(outcome_id)
        room = self.get_room(outcome.room_id)
        room.require_county_member()
        topic = Topic.propose(
            act,
            room_id=room.id,
            room_level=room.level,
            title=title,
            source=source,
            description=description,
            reconsultation_of=outcome.id,
        )
        outcome.open_reconsultation(act, new_topic_id=topic.id)
        self.save(outcome, topic)
        return topic.id

    def deliver_feedback(
        self,
        outcome_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        channel: FeedbackChannel,
        summary: Text,
    ) -> None:
        """Tell residents what became of the outcome (成果运用反馈)."""
        act = self._act(actor, occurred_at)
        outcome = self.get_outcome(outcome_id)
        outcome.deliver_feedback(act, channel=channel, summary=summary)
        self.save(outcome)

    def explain_dissent(
        self,
        outcome_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        dissent_id: UUID,
        explanation: Text,
    ) -> None:
        """Explain the outcome to residents of one recorded dissent (rule 7)."""
        act = self._act(actor, occurred_at)
        outcome = self.get_outcome(outcome_id)
        consultation = self.get_consultation(outcome.consultation_id)
        outcome.explain_dissent(
            act,
            dissent_id=dissent_id,
            explanation=explanation,
            known_dissent_ids=consultation.dissents.keys(),
        )
        self.save(outcome)

    def escalate_outcome(
        self,
        outcome_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        category: EscalationCategory,
        to_level: EscalationLevel,
        summary: Text,
    ) -> None:
        """Raise the matter with upper levels through the CPPCC channel (§四.6)."""
        act = self._act(actor, occurred_at)
        outcome = self.get_outcome(outcome_id)
        outcome.escalate(act, category=category, to_level=to_level, summary=summary)
        self.save(outcome)

    def close_outcome(
        self, outcome_id: UUID, *, actor: Actor, occurred_at: datetime, summary: OptionalText = ""
    ) -> None:
        """Close the loop once rules 4–7 are satisfied."""
        act = self._act(actor, occurred_at)
        outcome = self.get_outcome(outcome_id)
        consultation = self.get_consultation(outcome.consultation_id)
        outcome.close(act, summary=summary, dissent_ids=consultation.dissents.keys())
        self.save(outcome)
