"""Consultation commands: research, participants, the activity and its record (§四.2–§四.6)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from events.common import Actor, OptionalText, Person, Role, Text
from events.consultation import (
    ConsultationForm,
    MotionResult,
    Participant,
    ResearchMethod,
    Stance,
    Venue,
    VoteChoice,
)
from service.commands.base import CommandsBase
from service.domain.consultation import Consultation
from service.domain.errors import ProcedureOrderViolation


class ConsultationCommands(CommandsBase):
    """Commands on consultation activities; one activity per topic."""

    def form_research_group(
        self,
        topic_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        members: Sequence[Person],
        lead_id: str,
    ) -> UUID:
        """Open the topic's consultation with its research group; rule 1 needs approval.

        §四.2: the procedure runs once per topic, 明确协商议题 → 开展协商调研 → … → 成果运用反馈,
        so a topic that already has its consultation cannot open a second one.
        """
        act = self._act(actor, occurred_at)
        topic = self.get_topic(topic_id)
        topic.require_approved()
        if self.consultation_of_topic(topic_id) is not None:
            raise ProcedureOrderViolation(
                "该议题已成立调研组、开展协商活动", "this topic already has its consultation"
            )
        consultation = Consultation.form_research_group(
            act,
            topic_id=topic.id,
            room_id=topic.room_id,
            room_level=topic.room_level,
            members=members,
            lead_id=lead_id,
        )
        self.save(consultation)
        return consultation.id

    def record_research_finding(
        self,
        consultation_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        method: ResearchMethod,
        summary: Text,
    ) -> None:
        """Record a research finding (site visit, survey, interview …); rule 1 (§二.1, §四.3):
        only while the topic stands approved, not once it is withdrawn."""
        act = self._act(actor, occurred_at)
        consultation = self.get_consultation(consultation_id)
        self.get_topic(consultation.topic_id).require_approved()
        consultation.record_finding(act, method=method, summary=summary)
        self.save(consultation)

    def confirm_participants(
        self,
        consultation_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        participants: Sequence[Participant],
        quota_justification: OptionalText = "",
    ) -> None:
        """Confirm participants; under two-thirds residents needs a justification (rule 3).

        Rule 1 (§二.1, §四.3): only while the topic stands approved.
        """
        act = self._act(actor, occurred_at)
        consultation = self.get_consultation(consultation_id)
        self.get_topic(consultation.topic_id).require_approved()
        consultation.confirm_participants(
            act, participants=participants, quota_justification=quota_justification
        )
        self.save(consultation)

    def schedule_consultation(
        self,
        consultation_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        form: ConsultationForm,
        venue: Venue,
        scheduled_for: datetime,
        host_id: str,
        venue_detail: str = "",
    ) -> None:
        """Schedule the activity: form, venue, time, host (§四.5); rule 1 (§二.1, §四.3): only
        while the topic stands approved."""
        act = self._act(actor, occurred_at)
        consultation = self.get_consultation(consultation_id)
        self.get_topic(consultation.topic_id).require_approved()
        consultation.schedule(
            act,
            form=form,
            venue=venue,
            scheduled_for=scheduled_for,
            host_id=host_id,
            venue_detail=venue_detail,
        )
        self.save(consultation)

    def hold_consultation(
        self,
        consultation_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        form: ConsultationForm,
        venue: Venue,
        attendee_ids: Sequence[str],
        venue_detail: str = "",
    ) -> None:
        """Record the activity held; its topic must be approved (rule 1) and filed (rule 2)."""
        act = self._act(actor, occurred_at)
        consultation = self.get_consultation(consultation_id)
        topic = self.get_topic(consultation.topic_id)
        topic.require_approved()
        topic.require_filed()
        consultation.hold(
            act, form=form, venue=venue, attendee_ids=attendee_ids, venue_detail=venue_detail
        )
        self.save(consultation)

    def record_opinion(
        self,
        consultation_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        speaker_id: str,
        speaker_role: Role,
        stance: Stance,
        text: Text,
    ) -> None:
        """Record an opinion voiced at the activity."""
        act = self._act(actor, occurred_at)
        consultation = self.get_consultation(consultation_id)
        consultation.record_opinion(
            act, speaker_id=speaker_id, speaker_role=speaker_role, stance=stance, text=text
        )
        self.save(consultation)

    def put_motion(
        self, consultation_id: UUID, *, actor: Actor, occurred_at: datetime, text: Text
    ) -> UUID:
        """Put a motion to the attendees; returns the motion id."""
        act = self._act(actor, occurred_at)
        consultation = self.get_consultation(consultation_id)
        motion_id = consultation.put_motion(act, text=text)
        self.save(consultation)
        return motion_id

    def cast_vote(
        self,
        consultation_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        motion_id: UUID,
        voter_id: str,
        choice: VoteChoice,
    ) -> None:
        """Record one attendee's vote on an open motion."""
        act = self._act(actor, occurred_at)
        consultation = self.get_consultation(consultation_id)
        consultation.cast_vote(act, motion_id=motion_id, voter_id=voter_id, choice=choice)
        self.save(consultation)

    def resolve_motion(
        self, consultation_id: UUID, *, actor: Actor, occurred_at: datetime, motion_id: UUID
    ) -> MotionResult:
        """Close voting on a motion; returns "carried" or "defeated"."""
        act = self._act(actor, occurred_at)
        consultation = self.get_consultation(consultation_id)
        result = consultation.resolve_motion(act, motion_id=motion_id)
        self.save(consultation)
        return result

    def reach_consensus(
        self, consultation_id: UUID, *, actor: Actor, occurred_at: datetime, summary: Text
    ) -> None:
        """Record the consensus reached at the activity."""
        act = self._act(actor, occurred_at)
        consultation = self.get_consultation(consultation_id)
        consultation.reach_consensus(act, summary=summary)
        self.save(consultation)

    def record_dissent(
        self,
        consultation_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        person_ids: Sequence[str],
        position: Text,
    ) -> UUID:
        """Record residents who disagreed (rule 7 follows on the outcome); returns its id."""
        act = self._act(actor, occurred_at)
        consultation = self.get_consultation(consultation_id)
        dissent_id = consultation.record_dissent(act, person_ids=person_ids, position=position)
        self.save(consultation)
        return dissent_id
