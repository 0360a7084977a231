"""Events of a consultation activity (协商活动), §四.2, §四.4, §四.5, §四.6.

One consultation per topic: its id is derived from the topic id (:func:`consultation_id_for`,
here so that auditors find it without the write model), so the log cannot hold two.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Final, Literal
from uuid import UUID, uuid5

import msgspec
from msgspec import Meta

from events.common import (
    BaseEvent,
    Name,
    OptionalText,
    ParticipantRole,
    Person,
    PersonId,
    Role,
    RoomLevel,
    Text,
    UtcDatetime,
)

CONSULTATION_NAMESPACE: Final = UUID("5b0c64f2-8a43-4f57-9f0e-7d3c1b2a9e61")


def consultation_id_for(topic_id: UUID) -> UUID:
    """The one consultation of a topic has an id derived from the topic's (uuid5)."""
    return uuid5(CONSULTATION_NAMESPACE, str(topic_id))


ResearchMethod = Literal[
    "site_visit",  # 深入一线查实情
    "survey",  # 问卷
    "interview",  # 深入群众听民声
    "symposium",  # 深入研讨出真知
    "document_review",
    "other",
]
ConsultationForm = Literal["written", "meeting", "online"]
"""书面协商 / 会议协商 / 网络协商 (§四.5)."""
Venue = Literal["room", "square", "courtyard", "field", "door_to_door", "other"]
"""议事室 / 广场 / 庭院 / 地头 / 上门 (§四.5)."""
Stance = Literal["support", "oppose", "neutral", "suggestion"]
VoteChoice = Literal["for", "against", "abstain"]
MotionResult = Literal["carried", "defeated"]


class Participant(msgspec.Struct, frozen=True, kw_only=True):
    """A person confirmed to take part, with the capacity in which they sit (§四.4)."""

    id: PersonId
    name: Name
    role: ParticipantRole


class Tally(msgspec.Struct, frozen=True, kw_only=True):
    """Votes counted on one motion."""

    votes_for: Annotated[int, Meta(ge=0)]
    votes_against: Annotated[int, Meta(ge=0)]
    abstentions: Annotated[int, Meta(ge=0)]
    present: Annotated[int, Meta(ge=0, description="attendees of the held consultation")]


class ConsultationEvent(BaseEvent, frozen=True, kw_only=True):
    """Base of the consultation aggregate's events."""

    family: ClassVar[str] = "consultation"


class ResearchGroupFormed(
    ConsultationEvent, frozen=True, kw_only=True, tag="consultation.research_group_formed"
):
    """A research group (专题调研组) was formed on an approved topic; opens the activity."""

    seed: ClassVar[str] = "§四.2, §二.1"
    topic_id: Annotated[UUID, Meta(description="the approved topic consulted on")]
    room_id: Annotated[UUID, Meta(description="the topic's room")]
    room_level: Annotated[RoomLevel, Meta(description="the room's level, copied")]
    members: Annotated[
        list[Person], Meta(min_length=1, description="the research group (专题调研组)")
    ]
    lead_id: Annotated[PersonId, Meta(description="the member who leads the group")]


class ResearchFindingRecorded(
    ConsultationEvent, frozen=True, kw_only=True, tag="consultation.research_finding_recorded"
):
    """What the research group found, and how (site visit, survey, interview …)."""

    seed: ClassVar[str] = "§四.2"
    method: Annotated[ResearchMethod, Meta(description="how the group found it out")]
    summary: Annotated[Text, Meta(description="what it found")]


class ParticipantsConfirmed(
    ConsultationEvent, frozen=True, kw_only=True, tag="consultation.participants_confirmed"
):
    """Who takes part (确定协商人员), each with a role; carries the two-thirds check.

    ``quota_met`` is false when resident representatives are under two-thirds; the
    command then needed a ``quota_justification`` (rule 3, "in principle"), and
    projections flag it.
    """

    seed: ClassVar[str] = "§四.4"
    participants: Annotated[
        list[Participant], Meta(min_length=1, description="who takes part, each with a role")
    ]
    resident_count: Annotated[
        int, Meta(ge=0, description="participants with role resident_rep (群众代表)")
    ]
    participant_count: Annotated[int, Meta(ge=1, description="all participants")]
    quota_met: Annotated[
        bool, Meta(description="resident_count ≥ 2/3 of participant_count (rule 3)")
    ]
    quota_justification: Annotated[
        OptionalText, Meta(description="why the two-thirds is not met; required when it is not")
    ] = ""


class ConsultationScheduled(
    ConsultationEvent, frozen=True, kw_only=True, tag="consultation.scheduled"
):
    """The activity was scheduled: form, venue, time and who hosts it."""

    seed: ClassVar[str] = "§四.5, §五.4"
    form: Annotated[ConsultationForm, Meta(description="书面 written, 会议 meeting, 网络 online")]
    venue: Annotated[
        Venue,
        Meta(description="the room, square 广场, courtyard 庭院, field 地头, door_to_door 上门"),
    ]
    venue_detail: Annotated[
        str, Meta(max_length=500, description="the place in words, e.g. 村文化广场")
    ] = ""
    scheduled_for: Annotated[UtcDatetime, Meta(description="when the activity is to be held")]
    host_id: Annotated[PersonId, Meta(description="who presides (the convener or a delegate)")]


class ConsultationHeld(ConsultationEvent, frozen=True, kw_only=True, tag="consultation.held"):
    """The activity took place (举办协商活动); counts towards rule 9's two a year.

    Carries the room and its level so a projection can count town rooms' activities
    per calendar year (of ``occurred_at``) without joining other streams.
    """

    seed: ClassVar[str] = "§四.2, §四.5, §四.1"
    room_id: Annotated[UUID, Meta(description="the room that held it")]
    room_level: Annotated[RoomLevel, Meta(description="the room's level, copied")]
    form: Annotated[ConsultationForm, Meta(description="the form it took")]
    venue: Annotated[Venue, Meta(description="where it took place")]
    venue_detail: Annotated[str, Meta(max_length=500, description="the place in words")] = ""
    attendee_ids: Annotated[
        list[PersonId], Meta(min_length=1, description="confirmed participants who attended")
    ]


class OpinionRecorded(
    ConsultationEvent, frozen=True, kw_only=True, tag="consultation.opinion_recorded"
):
    """An opinion voiced during the activity."""

    seed: ClassVar[str] = "§四.2"
    speaker_id: Annotated[PersonId, Meta(description="who spoke")]
    speaker_role: Annotated[Role, Meta(description="in which capacity")]
    stance: Annotated[Stance, Meta(description="for, against, neutral, or a suggestion")]
    text: Annotated[Text, Meta(description="what was said, as recorded")]


class MotionPut(ConsultationEvent, frozen=True, kw_only=True, tag="consultation.motion_put"):
    """A motion was put to the participants (village rooms: 四议两公开)."""

    seed: ClassVar[str] = "§四.5"
    motion_id: Annotated[UUID, Meta(description="the motion's id; votes name it")]
    text: Annotated[Text, Meta(description="what is put to the vote")]


class VoteCast(ConsultationEvent, frozen=True, kw_only=True, tag="consultation.vote_cast"):
    """A participant voted on a motion."""

    seed: ClassVar[str] = "§四.5"
    motion_id: Annotated[UUID, Meta(description="the motion voted on")]
    voter_id: Annotated[PersonId, Meta(description="an attendee; one vote each")]
    choice: Annotated[VoteChoice, Meta(description="for, against or abstain")]


class MotionResolved(
    ConsultationEvent, frozen=True, kw_only=True, tag="consultation.motion_resolved"
):
    """Voting on a motion closed; carried when more than half of those present voted for."""

    seed: ClassVar[str] = "§四.5"
    motion_id: Annotated[UUID, Meta(description="the motion resolved")]
    tally: Annotated[Tally, Meta(description="the votes counted, and how many were present")]
    result: Annotated[
        MotionResult, Meta(description="carried when more than half of those present voted for")
    ]


class ConsensusReached(
    ConsultationEvent, frozen=True, kw_only=True, tag="consultation.consensus_reached"
):
    """The participants reached consensus (协商一致) on what should be done."""

    seed: ClassVar[str] = "§四.6"
    summary: Annotated[Text, Meta(description="what was agreed")]


class DissentRecorded(
    ConsultationEvent, frozen=True, kw_only=True, tag="consultation.dissent_recorded"
):
    """Residents disagreed; rule 7 requires each dissent to be explained to them."""

    seed: ClassVar[str] = "§四.6"
    dissent_id: Annotated[UUID, Meta(description="the dissent's id; an explanation names it")]
    person_ids: Annotated[list[PersonId], Meta(min_length=1, description="who disagreed")]
    position: Annotated[Text, Meta(description="what they hold instead")]


ConsultationEventType = (
    ResearchGroupFormed
    | ResearchFindingRecorded
    | ParticipantsConfirmed
    | ConsultationScheduled
    | ConsultationHeld
    | OpinionRecorded
    | MotionPut
    | VoteCast
    | MotionResolved
    | ConsensusReached
    | DissentRecorded
)
CONSULTATION_EVENTS: tuple[type[ConsultationEvent], ...] = (
    ResearchGroupFormed,
    ResearchFindingRecorded,
    ParticipantsConfirmed,
    ConsultationScheduled,
    ConsultationHeld,
    OpinionRecorded,
    MotionPut,
    VoteCast,
    MotionResolved,
    ConsensusReached,
    DissentRecorded,
)
