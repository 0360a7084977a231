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
    consultation_id: Annotated[UUID, Meta(description="the held consultation it comes from")]
    topic_id: Annotated[UUID, Meta(description="that consultation's topic")]
    room_id: Annotated[UUID, Meta(description="the room")]
    kind: Annotated[OutcomeKind, Meta(description="协商意见 opinion or 建议 suggestion")]
    title: Annotated[Name, Meta(description="the outcome's title")]
    text: Annotated[Text, Meta(description="the opinion or suggestion itself")]


class OutcomeReported(OutcomeEvent, frozen=True, kw_only=True, tag="outcome.reported"):
    """The outcome was sent (报送) to the same-level party committee and/or government."""

    seed: ClassVar[str] = "§四.2"
    recipients: Annotated[
        list[Recipient],
        Meta(min_length=1, description="the same-level party committee and/or government"),
    ]


class OutcomeAdopted(OutcomeEvent, frozen=True, kw_only=True, tag="outcome.adopted"):
    """The outcome was adopted, as a decision, livelihood project, measure or consensus."""

    seed: ClassVar[str] = "§四.6"
    adopted_as: Annotated[
        AdoptedAs,
        Meta(
            description="决策 decision, 民生实事 livelihood_project, 治理方式 "
            "governance_measure or 群众共识 consensus"
        ),
    ]
    decided_by: Annotated[Name, Meta(description="the body that adopted it")]
    needs_implementation: Annotated[
        bool, Meta(description="whether it must be publicised and implemented (rule 5)")
    ]


class OutcomeNotAdopted(OutcomeEvent, frozen=True, kw_only=True, tag="outcome.not_adopted"):
    """The outcome was not adopted, with the reason given."""

    seed: ClassVar[str] = "§四.6"
    decided_by: Annotated[Name, Meta(description="the body that declined it")]
    reason: Annotated[Text, Meta(description="why it was not adopted")]


class PublicityNoticePublished(
    OutcomeEvent, frozen=True, kw_only=True, tag="outcome.publicity_published"
):
    """The adopted matter was publicised (公示): channel and period."""

    seed: ClassVar[str] = "§四.6"
    channel: Annotated[PublicityChannel, Meta(description="where the notice was put up")]
    starts_on: Annotated[date, Meta(description="first day of the publicity period")]
    ends_on: Annotated[date, Meta(description="last day of the publicity period")]
    notice_ref: Annotated[
        str, Meta(max_length=200, description="the notice's reference, if any")
    ] = ""


class ObjectionReceived(OutcomeEvent, frozen=True, kw_only=True, tag="outcome.objection_received"):
    """Someone objected during the publicity period."""

    seed: ClassVar[str] = "§四.6"
    objector_id: Annotated[PersonId, Meta(description="who objected")]
    text: Annotated[Text, Meta(description="the objection")]


class ImplementationAssigned(
    OutcomeEvent, frozen=True, kw_only=True, tag="outcome.implementation_assigned"
):
    """A responsible unit (责任单位) was charged with implementing it, by a deadline."""

    seed: ClassVar[str] = "§四.6"
    unit: Annotated[Person, Meta(description="the responsible unit (责任单位)")]
    deadline: Annotated[date, Meta(description="to be done by; after it, overdue")]


class ProgressReported(OutcomeEvent, frozen=True, kw_only=True, tag="outcome.progress_reported"):
    """The implementing unit reported progress (tracking, 跟踪)."""

    seed: ClassVar[str] = "§四.6"
    percent: Annotated[Percent, Meta(description="share done, 0 to 100")]
    note: Annotated[OptionalText, Meta(description="what was done")] = ""


class ImplementationCompleted(
    OutcomeEvent, frozen=True, kw_only=True, tag="outcome.implementation_completed"
):
    """The implementing unit reported the matter done."""

    seed: ClassVar[str] = "§四.6"
    summary: Annotated[Text, Meta(description="what was done")]


class ImplementationVerified(
    OutcomeEvent, frozen=True, kw_only=True, tag="outcome.implementation_verified"
):
    """Supervision (监督落实成效) checked the result; not effective reopens the work."""

    seed: ClassVar[str] = "§四.6"
    effective: Annotated[bool, Meta(description="false: not effective, the implementation goes on")]
    note: Annotated[OptionalText, Meta(description="supervision's findings")] = ""


class ImplementationStalled(
    OutcomeEvent, frozen=True, kw_only=True, tag="outcome.implementation_stalled"
):
    """Implementation fell short (落实不到位) and its cause was analysed (rule 6)."""

    seed: ClassVar[str] = "§四.6"
    cause: Annotated[Text, Meta(description="the analysed cause of the shortfall (rule 6)")]


class ReconsultationOpened(
    OutcomeEvent, frozen=True, kw_only=True, tag="outcome.reconsultation_opened"
):
    """A new topic was opened to consult again (再协商) on a stalled matter."""

    seed: ClassVar[str] = "§四.6"
    new_topic_id: Annotated[
        UUID, Meta(description="the topic proposed to consult again; stored in the same commit")
    ]


class FeedbackDelivered(OutcomeEvent, frozen=True, kw_only=True, tag="outcome.feedback_delivered"):
    """Residents were told what became of the outcome (成果运用反馈)."""

    seed: ClassVar[str] = "§四.2, §四.6"
    channel: Annotated[FeedbackChannel, Meta(description="how residents were told")]
    summary: Annotated[Text, Meta(description="what they were told")]


class DissentExplained(OutcomeEvent, frozen=True, kw_only=True, tag="outcome.dissent_explained"):
    """Residents who disagreed got an explanation (解释说明), answering one dissent."""

    seed: ClassVar[str] = "§四.6"
    dissent_id: Annotated[UUID, Meta(description="the dissent recorded at the consultation")]
    explanation: Annotated[Text, Meta(description="the explanation given (解释说明)")]


class EscalatedViaCppcc(OutcomeEvent, frozen=True, kw_only=True, tag="outcome.escalated"):
    """A matter was raised with upper-level party committee/government via the CPPCC."""

    seed: ClassVar[str] = "§四.6"
    category: Annotated[
        EscalationCategory,
        Meta(description="全局性情况, 苗头性问题, 建设性意见, 可操作建议 or beyond this level"),
    ]
    to_level: Annotated[EscalationLevel, Meta(description="the CPPCC level it goes to")]
    summary: Annotated[Text, Meta(description="what is raised")]


class OutcomeClosed(OutcomeEvent, frozen=True, kw_only=True, tag="outcome.closed"):
    """The closed loop finished for this outcome (rules 4–7 checked first)."""

    seed: ClassVar[str] = "§四.6"
    summary: Annotated[OptionalText, Meta(description="how the loop ended")] = ""


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
