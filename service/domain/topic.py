"""The consultation topic (协商议题): proposed, approved by the party, filed, or dropped."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from events.common import BaseEvent, RoomLevel
from events.topic import (
    FilingBody,
    TopicApprovalEscalated,
    TopicApproved,
    TopicFiled,
    TopicProposed,
    TopicRejected,
    TopicSource,
    TopicWithdrawn,
)
from service.domain.base import Act, HslAggregate
from service.domain.errors import (
    PartyApprovalRequired,
    ProcedureOrderViolation,
    TopicFilingViolation,
)
from service.domain.rules import FILING_BODY, FILING_BODY_ZH, LEVEL_ZH

TopicStatus = Literal["proposed", "escalated", "approved", "rejected", "withdrawn"]

_STATUS_ZH: dict[TopicStatus, str] = {
    "proposed": "待审定",
    "escalated": "已报上级审批",
    "approved": "已审定",
    "rejected": "未通过审定",
    "withdrawn": "已撤回",
}


class Topic(HslAggregate):
    """A topic of one room; consulted on only once its party organisation approved it."""

    family = "topic"

    def _init_state(self) -> None:
        self.room_id = UUID(int=0)
        self.room_level: RoomLevel = "town"
        self.title = ""
        self.source: TopicSource = "residents"
        self.reconsultation_of: UUID | None = None
        self.status: TopicStatus = "proposed"
        self.filed_with: FilingBody | None = None

    @classmethod
    def propose(
        cls,
        act: Act,
        *,
        room_id: UUID,
        room_level: RoomLevel,
        title: str,
        source: TopicSource,
        description: str = "",
        reconsultation_of: UUID | None = None,
    ) -> Topic:
        """Put a topic forward from one of the four sources (§四.3)."""
        return cls._start(
            TopicProposed,
            act,
            room_id=room_id,
            room_level=room_level,
            title=title,
            description=description,
            source=source,
            reconsultation_of=reconsultation_of,
        )

    def _require_status(self, *allowed: TopicStatus, doing: str, doing_en: str) -> None:
        # Rule 4 (§四.2, §四.3): a topic is decided once, and only while it stands.
        if self.status not in allowed:
            raise ProcedureOrderViolation(
                f"议题“{self.title}”{_STATUS_ZH[self.status]}，不能{doing}",
                f"topic is {self.status}; cannot {doing_en}",
            )

    def _require_party_role(self, act: Act) -> None:
        """§二.1, §四.3: only the same-level party organisation, or the upper one after
        escalation, decides on a topic."""
        needed = "upper_party_org" if self.status == "escalated" else "party_org"
        if act.actor.role != needed:
            who = "上一级党组织" if needed == "upper_party_org" else "同级党组织"
            raise PartyApprovalRequired(
                f"审定议题须由{who}作出，{act.actor.id} 的身份为 {act.actor.role}",
                f"the decision must come from the {needed}, not a {act.actor.role}",
            )

    def approve(self, act: Act, *, approving_org: str, note: str = "") -> None:
        """The party organisation approves (审定), or the upper one after escalation (审批)."""
        self._require_status("proposed", "escalated", doing="审定", doing_en="approve it")
        self._require_party_role(act)
        self._emit(
            TopicApproved,
            act,
            approving_org=approving_org,
            by_upper_level=self.status == "escalated",
            note=note,
        )

    def reject(self, act: Act, *, rejecting_org: str, reason: str) -> None:
        """The party organisation declines the topic, giving its reason."""
        self._require_status("proposed", "escalated", doing="否决", doing_en="reject it")
        self._require_party_role(act)
        self._emit(TopicRejected, act, rejecting_org=rejecting_org, reason=reason)

    def escalate_for_approval(self, act: Act, *, upper_org: str, reason: str = "") -> None:
        """A village/community/enterprise topic goes to the upper party org (必要时, §四.3)."""
        self._require_status("proposed", doing="报上级审批", doing_en="escalate it")
        if self.room_level == "town":
            raise ProcedureOrderViolation(
                "镇级议题由同级党(工)委审定，无需报上一级审批",
                "town topics are approved at town level, not escalated",
            )
        self._require_party_role(act)
        self._emit(TopicApprovalEscalated, act, upper_org=upper_org, reason=reason)

    def file(self, act: Act, *, filed_with: FilingBody, filing_ref: str = "") -> None:
        """Rule 2 (§四.3): file the approved topic with the body its room's level requires."""
        if self.status != "approved":
            raise TopicFilingViolation(
                f"议题{_STATUS_ZH[self.status]}，须审定后再备案",
                f"the topic is {self.status}; file it only after approval",
            )
        if self.filed_with is not None:
            raise ProcedureOrderViolation("议题已备案", "the topic is already filed")
        required = FILING_BODY[self.room_level]
        if filed_with != required:
            raise TopicFilingViolation(
                f"{LEVEL_ZH[self.room_level]}议题应报{FILING_BODY_ZH[required]}备案，"
                f"而非{FILING_BODY_ZH[filed_with]}",
                f"a {self.room_level} topic is filed with {required}, not {filed_with}",
            )
        self._emit(TopicFiled, act, filed_with=filed_with, filing_ref=filing_ref)

    def withdraw(self, act: Act, *, reason: str) -> None:
        """Withdraw a topic not yet consulted on (the application checks the consultation)."""
        self._require_status(
            "proposed", "escalated", "approved", doing="撤回", doing_en="withdraw it"
        )
        self._emit(TopicWithdrawn, act, reason=reason)

    def require_approved(self) -> None:
        """Rule 1 (§二.1, §四.3): a consultation needs an approved, standing topic."""
        if self.status != "approved":
            raise PartyApprovalRequired(
                f"议题“{self.title}”{_STATUS_ZH[self.status]}，未经党组织审定",
                f"topic {self.title!r} is {self.status}, not approved",
            )

    def require_filed(self) -> None:
        """Rule 2 (§四.3): the approved topic is on file before the activity is held."""
        if self.filed_with is None:
            body = FILING_BODY[self.room_level]
            raise TopicFilingViolation(
                f"议题“{self.title}”尚未报{FILING_BODY_ZH[body]}备案",
                f"topic {self.title!r} is not yet filed with {body}",
            )

    def apply_event(self, payload: BaseEvent) -> None:
        """Evolve the topic by one of its events."""
        match payload:
            case TopicProposed():
                self.room_id = payload.room_id
                self.room_level = payload.room_level
                self.title = payload.title
                self.source = payload.source
                self.reconsultation_of = payload.reconsultation_of
            case TopicApprovalEscalated():
                self.status = "escalated"
            case TopicApproved():
                self.status = "approved"
            case TopicRejected():
                self.status = "rejected"
            case TopicFiled():
                self.filed_with = payload.filed_with
            case TopicWithdrawn():
                self.status = "withdrawn"
            case _:  # pragma: no cover - the mapper only hands topic events to a topic
                raise TypeError(payload)
