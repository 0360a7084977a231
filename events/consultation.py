"""Events of a consultation activity (协商活动), §四.2, §四.4, §四.5, §四.6.

One consultation per topic: its id is derived from the topic id
(``service.domain.consultation.consultation_id_for``), so the log cannot hold two.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal
from uuid import UUID

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
    topic_id: UUID
    room_id: UUID
    room_level: RoomLevel
    members: Annotated[list[Person], Meta(min_length=1)]
    lead_id: PersonId


class ResearchFindingRecorded(
    ConsultationEvent, frozen=True, kw_only=True, tag="consultation.research_finding_recorded"
):
    """What the research group found, and how (site visit, survey, interview …)."""

    seed: ClassVar[str] = "§四.2"
    method: ResearchMethod
    summary: Text


class ParticipantsConfirmed(
    ConsultationEvent, frozen=True, kw_only=True, tag="consultation.participants_confirmed"
):
    """Who takes part (确定协商人员), each with a role; carries the two-thirds check.

    ``quota_met`` is false when resident representatives are under two-thirds; the
    command then needed a ``quota_justification`` (rule 3, "in principle"), and
    projections flag it.
    """

    seed: ClassVar[str] = "§四.4"
    participants: Annotated[list[Participant], Meta(min_length=1)]
    resident_count: Annotated[int, Meta(ge=0)]
    participant_count: Annotated[int, Meta(ge=1)]
    quota_met: bool
    quota_justification: OptionalText = ""


class ConsultationScheduled(
    ConsultationEvent, frozen=True, kw_only=True, tag="consultation.scheduled"
):
    """The activity was scheduled: form, venue, time and who hosts it."""

    seed: ClassVar[str] = "§四.5, §五.4"
    form: ConsultationForm
    venue: Venue
    venue_detail: Annotated[str, Meta(max_length=500)] = ""
    scheduled_for: UtcDatetime
    host_id: PersonId


class ConsultationHeld(ConsultationEvent, frozen=True, kw_only=True, tag="consultation.held"):
    """The activity took place (举办协商活动); counts towards rule 9's two a year.

    Carries the room and its level so a projection can count town rooms' activities
    per calendar year (of ``occurred_at``) without joining other streams.
    """

    seed: ClassVar[str] = "§四.2, §四.5, §四.1"
    room_id: UUID
    room_level: RoomLevel
    form: ConsultationForm
    venue: Venue
    venue_detail: Annotated[str, Meta(max_length=500)] = ""
    attendee_ids: Annotated[list[PersonId], Meta(min_length=1)]


class OpinionRecorded(
    ConsultationEvent, frozen=True, kw_only=True, tag="consultation.opinion_recorded"
):
    """An opinion voiced during the activity."""

    seed: ClassVar[str] = "§四.2"
    speaker_id: PersonId
    speaker_role: Role
    stance: Stance
    text: Text


class MotionPut(ConsultationEvent, frozen=True, kw_only=True, tag="consultation.motion_put"):
    """A motion was put to the participants (village rooms: 四议两公开)."""

    seed: ClassVar[str] = "§四.5"
    motion_id: UUID
    text: Text


class VoteCast(ConsultationEvent, frozen=True, kw_only=True, tag="consultation.vote_cast"):
    """A participant voted on a motion."""

    seed: ClassVar[str] = "§四.5"
    motion_id: UUID
    voter_id: PersonId
    choice: VoteChoice


class MotionResolved(
    ConsultationEvent, frozen=True, kw_only=True, tag="consultation.motion_resolved"
):
    """Voting on a motion closed; carried when more than half of those present voted for."""

    seed: ClassVar[str] = "§四.5"
    motion_id: UUID
    tally: Tally
    result: MotionResult


class ConsensusReached(
    ConsultationEvent, frozen=True, kw_only=True, tag="consultation.consensus_reached"
):
    """The participants reached consensus (协商一致) on what should be done."""

    seed: ClassVar[str] = "§四.6"
    summary: Text


class DissentRecorded(
    ConsultationEvent, frozen=True, kw_only=True, tag="consultation.dissent_recorded"
):
    """Residents disagreed; rule 7 requires each dissent to be explained to them."""

    seed: ClassVar[str] = "§四.6"
    dissent_id: UUID
    person_ids: Annotated[list[PersonId], Meta(min_length=1)]
    position: Text


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
