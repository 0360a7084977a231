"""Events of a consultation topic (协商议题), §二.1, §四.3."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal
from uuid import UUID

from msgspec import Meta

from events.common import BaseEvent, Name, OptionalText, RoomLevel, Text

TopicSource = Literal[
    "party_government",  # 党委政府点题
    "member",  # 委员荐题
    "residents",  # 群众出题
    "public_call",  # 向社会公开征集
]
"""The four ways a topic may be chosen (§四.3)."""

FilingBody = Literal[
    "county_cppcc",  # 县区政协: town topics (§四.3)
    "town_members_group",  # 镇政协委员履职小组: village/community/enterprise topics (§四.3)
]


class TopicEvent(BaseEvent, frozen=True, kw_only=True):
    """Base of the topic aggregate's events."""

    family: ClassVar[str] = "topic"


class TopicProposed(TopicEvent, frozen=True, kw_only=True, tag="topic.proposed"):
    """A topic was put forward for a room, from one of the four sources.

    Schema v2 (current): ``source`` is an English code. v1 stored the Chinese label
    (点题/荐题/出题/公开征集); ``events.codec`` upcasts it. v1 is the project's worked
    example of an upcaster, not a format that was ever deployed.
    """

    seed: ClassVar[str] = "§四.3"
    schema_version: Annotated[int, Meta(ge=1)] = 2
    room_id: Annotated[UUID, Meta(description="the room the topic is put to")]
    room_level: Annotated[
        RoomLevel, Meta(description="copied from the room; decides where it is filed (§四.3)")
    ]
    title: Annotated[Name, Meta(description="the topic as the room will consult on it")]
    description: Annotated[OptionalText, Meta(description="the matter in more detail")] = ""
    source: Annotated[
        TopicSource,
        Meta(
            description="党委政府点题 (party_government), 委员荐题 (member), 群众出题 "
            "(residents) or 向社会公开征集 (public_call)"
        ),
    ]
    reconsultation_of: Annotated[
        UUID | None,
        Meta(description="the outcome whose stalled implementation is consulted again (§四.6)"),
    ] = None


class TopicApprovalEscalated(TopicEvent, frozen=True, kw_only=True, tag="topic.approval_escalated"):
    """A village/community/enterprise topic was sent to the upper party organisation."""

    seed: ClassVar[str] = "§四.3"
    upper_org: Annotated[Name, Meta(description="the upper-level party organisation asked")]
    reason: Annotated[OptionalText, Meta(description="why it goes up (必要时)")] = ""


class TopicApproved(TopicEvent, frozen=True, kw_only=True, tag="topic.approved"):
    """The party organisation approved (审定/审批) the topic; rule 1 needs this first."""

    seed: ClassVar[str] = "§二.1, §四.3"
    approving_org: Annotated[Name, Meta(description="the party organisation that approved")]
    by_upper_level: Annotated[
        bool, Meta(description="approved by the upper-level party organisation")
    ] = False
    note: Annotated[OptionalText, Meta(description="conditions or remarks of the approval")] = ""


class TopicRejected(TopicEvent, frozen=True, kw_only=True, tag="topic.rejected"):
    """The party organisation declined the topic, with its reason."""

    seed: ClassVar[str] = "§二.1, §四.3"
    rejecting_org: Annotated[Name, Meta(description="the party organisation that declined")]
    reason: Annotated[Text, Meta(description="why the topic was declined")]


class TopicFiled(TopicEvent, frozen=True, kw_only=True, tag="topic.filed"):
    """The approved topic was filed (备案) with the body rule 2 names for its level."""

    seed: ClassVar[str] = "§四.3"
    filed_with: Annotated[
        FilingBody,
        Meta(description="county_cppcc for town topics, town_members_group for the others"),
    ]
    filing_ref: Annotated[
        str, Meta(max_length=200, description="the filing's reference number, if any")
    ] = ""


class TopicWithdrawn(TopicEvent, frozen=True, kw_only=True, tag="topic.withdrawn"):
    """The topic was withdrawn before it was consulted on."""

    seed: ClassVar[str] = "§四.3"
    reason: Annotated[Text, Meta(description="why the topic was withdrawn")]


TopicEventType = (
    TopicProposed
    | TopicApprovalEscalated
    | TopicApproved
    | TopicRejected
    | TopicFiled
    | TopicWithdrawn
)
TOPIC_EVENTS: tuple[type[TopicEvent], ...] = (
    TopicProposed,
    TopicApprovalEscalated,
    TopicApproved,
    TopicRejected,
    TopicFiled,
    TopicWithdrawn,
)
