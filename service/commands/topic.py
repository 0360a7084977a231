"""Topic commands: propose, decide on, file and withdraw topics (§二.1, §四.3)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from events.common import Actor, OptionalText, Text
from events.topic import FilingBody, TopicSource
from service.commands.base import CommandsBase
from service.domain.errors import ProcedureOrderViolation
from service.domain.topic import Topic


class TopicCommands(CommandsBase):
    """Commands on topics."""

    def propose_topic(
        self,
        room_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        title: str,
        source: TopicSource,
        description: OptionalText = "",
    ) -> UUID:
        """Propose a topic to a room; rule 8 (§五.3) needs a lower room's county member."""
        act = self._act(actor, occurred_at)
        room = self.get_room(room_id)
        room.require_county_member()
        topic = Topic.propose(
            act,
            room_id=room.id,
            room_level=room.level,
            title=title,
            source=source,
            description=description,
        )
        self.save(topic)
        return topic.id

    def approve_topic(
        self,
        topic_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        approving_org: str,
        note: OptionalText = "",
    ) -> None:
        """The party organisation approves the topic (rule 1, §二.1, §四.3)."""
        act = self._act(actor, occurred_at)
        topic = self.get_topic(topic_id)
        topic.approve(act, approving_org=approving_org, note=note)
        self.save(topic)

    def reject_topic(
        self,
        topic_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        rejecting_org: str,
        reason: Text,
    ) -> None:
        """The party organisation declines the topic."""
        act = self._act(actor, occurred_at)
        topic = self.get_topic(topic_id)
        topic.reject(act, rejecting_org=rejecting_org, reason=reason)
        self.save(topic)

    def escalate_topic_for_approval(
        self,
        topic_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        upper_org: str,
        reason: OptionalText = "",
    ) -> None:
        """Send a lower room's topic to the upper party organisation (§四.3)."""
        act = self._act(actor, occurred_at)
        topic = self.get_topic(topic_id)
        topic.escalate_for_approval(act, upper_org=upper_org, reason=reason)
        self.save(topic)

    def file_topic(
        self,
        topic_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        filed_with: FilingBody,
        filing_ref: str = "",
    ) -> None:
        """File the approved topic with the body its level requires (rule 2, §四.3)."""
        act = self._act(actor, occurred_at)
        topic = self.get_topic(topic_id)
        topic.file(act, filed_with=filed_with, filing_ref=filing_ref)
        self.save(topic)

    def withdraw_topic(
        self, topic_id: UUID, *, actor: Actor, occurred_at: datetime, reason: Text
    ) -> None:
        """Withdraw a topic whose consultation has not been held.

        §四.2: once the activity is held (举办协商活动) its outcome must be reported and fed
        back, so a consulted topic can no longer be withdrawn.
        """
        act = self._act(actor, occurred_at)
        topic = self.get_topic(topic_id)
        consultation = self.consultation_of_topic(topic_id)
        if consultation is not None and consultation.stage == "held":
            raise ProcedureOrderViolation(
                "该议题已举办协商活动，不能撤回", "the topic was already consulted on"
            )
        topic.withdraw(act, reason=reason)
        self.save(topic)
