"""Events of a consultation outcome (协商成果) through adoption, implementation and feedback.

The closed loop of §四.6 (采纳、落实、反馈): reported to the same-level party committee
and government, adopted or not, publicised, implemented under supervision, fed back to
residents, re-consulted where it stalls, escalated through the CPPCC where it exceeds
this level's authority, and closed.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from msgspec import Meta

from events.common import BaseEvent, Name, OptionalText, Person, PersonId, Text

OutcomeKind = Literal["opinion", "suggestion"]
"""协商意见 / 建议 (§四.2)."""
Recipient = Literal["party_committee", "government"]
"""同级党委 / 政府 (§四.2: 报同级党政组织)."""
AdoptedAs = Literal["decision", "livelihood_project", "governance_measure", "consensus"]
"""党委政府决策 / 民生实事项目 / 社会治理方式 / 基层群众共识 (§四.6)."""
PublicityChannel = Literal["notice_board", "website", "wechat", "app", "meeting", "other"]
EscalationCategory = Literal[
    "overall_situation",  # 全局性情况
    "emerging_problem",  # 苗头性问题
    "constructive_opinion",  # 建设性意见
    "actionable_suggestion",  # 可操作建议
    "beyond_authority",  # 超过本级组织责权范围急需解决的事项
]
EscalationLevel = Literal["county", "city", "provincial", "national"]
FeedbackChannel = Literal["meeting", "notice_board", "wechat", "door_to_door", "app", "other"]
Percent = Annotated[int, Meta(ge=0, le=100)]


class OutcomeEvent(BaseEvent, frozen=True, kw_only=True):
    """Base of the outcome aggregate's events."""

    family: ClassVar[str] = "outcome"


class OutcomeDrafted(OutcomeEvent, frozen=True, kw_only=True, tag="outcome.drafted"):
    """An opinion or suggestion was drawn up from a held consultation (rule 4)."""

    seed: ClassVar[str] = "§四.2"
    consultation_id: UUID
    topic_id: UUID
    room_id: UUID
    kind: OutcomeKind
    title: Name
    text: Text


class OutcomeReported(OutcomeEvent, frozen=True, kw_only=True, tag="outcome.reported"):
    """The outcome was sent (报送) to the same-level party committee and/or government."""

    seed: ClassVar[str] = "§四.2"
    recipients: Annotated[list[Recipient], Meta(min_length=1)]


class OutcomeAdopted(OutcomeEvent, frozen=True, kw_only=True, tag="outcome.adopted"):
    """The outcome was adopted, as a decision, livelihood project, measure or consensus."""

    seed: ClassVar[str] = "§四.6"
    adopted_as: AdoptedAs
    decided_by: Name
    needs_implementation: Annotated[
        bool, Meta(description="whether it must be publicised and implemented (rule 5)")
    ]


class OutcomeNotAdopted(OutcomeEvent, frozen=True, kw_only=True, tag="outcome.not_adopted"):
    """The outcome was not adopted, with the reason given."""

    seed: ClassVar[str] = "§四.6"
    decided_by: Name
    reason: Text


class PublicityNoticePublished(
    OutcomeEvent, frozen=True, kw_only=True, tag="outcome.publicity_published"
):
    """The adopted matter was publicised (公示): channel and period."""

    seed: ClassVar[str] = "§四.6"
    channel: PublicityChannel
    starts_on: date
    ends_on: date
    notice_ref: Annotated[str, Meta(max_length=200)] = ""


class ObjectionReceived(OutcomeEvent, frozen=True, kw_only=True, tag="outcome.objection_received"):
    """Someone objected during the publicity period."""

    seed: ClassVar[str] = "§四.6"
    objector_id: PersonId
    text: Text


class ImplementationAssigned(
    OutcomeEvent, frozen=True, kw_only=True, tag="outcome.implementation_assigned"
):
    """A responsible unit (责任单位) was charged with implementing it, by a deadline."""

    seed: ClassVar[str] = "§四.6"
    unit: Person
    deadline: date


class ProgressReported(OutcomeEvent, frozen=True, kw_only=True, tag="outcome.progress_reported"):
    """The implementing unit reported progress (tracking, 跟踪)."""

    seed: ClassVar[str] = "§四.6"
    percent: Percent
    note: OptionalText = ""


class ImplementationCompleted(
    OutcomeEvent, frozen=True, kw_only=True, tag="outcome.implementation_completed"
):
    """The implementing unit reported the matter done."""

    seed: ClassVar[str] = "§四.6"
    summary: Text


class ImplementationVerified(
    OutcomeEvent, frozen=True, kw_only=True, tag="outcome.implementation_verified"
):
    """Supervision (监督落实成效) checked the result; not effective reopens the work."""

    seed: ClassVar[str] = "§四.6"
    effective: bool
    note: OptionalText = ""


class ImplementationStalled(
    OutcomeEvent, frozen=True, kw_only=True, tag="outcome.implementation_stalled"
):
    """Implementation fell short (落实不到位) and its cause was analysed (rule 6)."""

    seed: ClassVar[str] = "§四.6"
    cause: Text


class ReconsultationOpened(
    OutcomeEvent, frozen=True, kw_only=True, tag="outcome.reconsultation_opened"
):
    """A new topic was opened to consult again (再协商) on a stalled matter."""

    seed: ClassVar[str] = "§四.6"
    new_topic_id: UUID


class FeedbackDelivered(OutcomeEvent, frozen=True, kw_only=True, tag="outcome.feedback_delivered"):
    """Residents were told what became of the outcome (成果运用反馈)."""

    seed: ClassVar[str] = "§四.2, §四.6"
    channel: FeedbackChannel
    summary: Text


class DissentExplained(OutcomeEvent, frozen=True, kw_only=True, tag="outcome.dissent_explained"):
    """Residents who disagreed got an explanation (解释说明), answering one dissent."""

    seed: ClassVar[str] = "§四.6"
    dissent_id: UUID
    explanation: Text


class EscalatedViaCppcc(OutcomeEvent, frozen=True, kw_only=True, tag="outcome.escalated"):
    """A matter was raised with upper-level party committee/government via the CPPCC."""

    seed: ClassVar[str] = "§四.6"
    category: EscalationCategory
    to_level: EscalationLevel
    summary: Text


class OutcomeClosed(OutcomeEvent, frozen=True, kw_only=True, tag="outcome.closed"):
    """The closed loop finished for this outcome (rules 4–7 checked first)."""

    seed: ClassVar[str] = "§四.6"
    summary: OptionalText = ""


OutcomeEventType = (
    OutcomeDrafted
    | OutcomeReported
    | OutcomeAdopted
    | OutcomeNotAdopted
    | PublicityNoticePublished
    | ObjectionReceived
    | ImplementationAssigned
    | ProgressReported
    | ImplementationCompleted
    | ImplementationVerified
    | ImplementationStalled
    | ReconsultationOpened
    | FeedbackDelivered
    | DissentExplained
    | EscalatedViaCppcc
    | OutcomeClosed
)
OUTCOME_EVENTS: tuple[type[OutcomeEvent], ...] = (
    OutcomeDrafted,
    OutcomeReported,
    OutcomeAdopted,
    OutcomeNotAdopted,
    PublicityNoticePublished,
    ObjectionReceived,
    ImplementationAssigned,
    ProgressReported,
    ImplementationCompleted,
    ImplementationVerified,
    ImplementationStalled,
    ReconsultationOpened,
    FeedbackDelivered,
    DissentExplained,
    EscalatedViaCppcc,
    OutcomeClosed,
)
