"""The shape of the demo's plan: the county, its towns and rooms, and every topic's course.

``service.demo.county`` builds one from a seed; the lifecycles (``service.demo.rooms``,
``topics``, ``outcomes``) play it. The story runs from :data:`START` to :data:`END`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from events.common import CHINA_STANDARD_TIME, ParticipantRole, Person, RoomLevel
from events.consultation import ConsultationForm, Venue
from events.outcome import AdoptedAs, EscalationCategory, EscalationLevel, OutcomeKind
from events.room import ConvenerPosition, MemberLevel, Region
from events.topic import TopicSource

CST: Final = CHINA_STANDARD_TIME
"""China Standard Time: what the clerks' occurred_at carry."""
START: Final = datetime(2024, 1, 2, 9, 0, tzinfo=CST)
"""The demo's first act (rooms are set up in the first weeks of January 2024)."""
END: Final = datetime(2025, 12, 31, 18, 0, tzinfo=CST)
"""Nothing happens after this: work still under way then stays open (in progress, overdue)."""
YEARS: Final = (2024, 2025)

TopicFate = Literal["consult", "rejected", "withdrawn"]
OutcomeFate = Literal[
    "verified",  # adopted, publicised, implemented, verified, fed back, closed
    "reverified",  # as verified, but the first verification finds it not effective
    "declined",  # not adopted, fed back, closed
    "consensus",  # adopted as a shared consensus: nothing to implement; fed back, closed
    "overdue",  # implementation assigned, deadline passes, never completed
    "stalled_reconsulted",  # stalls, cause analysed, consulted again, then completed
    "stalled_closed",  # stalls, cause analysed, fed back and closed as it stands
    "escalated_declined",  # beyond this level's authority: not adopted, escalated via CPPCC
    "escalated_adopted",  # adopted and also raised upward as a suggestion, then implemented
    "pending",  # reported, still waiting for a decision
]


@dataclass(frozen=True)
class RoomSpec:
    """One consultation room: where it is, who runs it, whom it can call on."""

    key: str
    """A short code (``t0003``, ``t0003-v1``): the prefix of every person id of the room."""
    name: str
    level: RoomLevel
    region: Region
    town_key: str
    parent_key: str | None
    party_org: str
    """The same-level party organisation's name (approves topics, §二.1)."""
    government: str
    """The same-level government or self-governing body (decides on outcomes)."""
    convener: Person
    position: ConvenerPosition
    liaison: Person | None
    members: tuple[tuple[Person, MemberLevel], ...]
    members_group: str
    residents: tuple[Person, ...]
    """The pool of resident representatives (群众代表) this room draws on."""
    planned: tuple[tuple[int, int], ...]
    """(year, planned consultations) of the annual plans (§五.5)."""


@dataclass(frozen=True)
class TownSpec:
    """A town (镇/街道/园区): its room, the rooms below it and its implementing units."""

    key: str
    name: str
    room: RoomSpec
    lower: tuple[RoomSpec, ...]
    units: tuple[Person, ...]
    officials: tuple[Person, ...]
    guests: tuple[tuple[Person, ParticipantRole], ...]
    """Who may sit beside the resident representatives (§四.4), in the order invited."""


@dataclass(frozen=True)
class OutcomePlan:
    """What becomes of one outcome."""

    kind: OutcomeKind
    fate: OutcomeFate
    adopted_as: AdoptedAs
    objections: int
    escalation: tuple[EscalationCategory, EscalationLevel, str]


@dataclass(frozen=True)
class ConsultationPlan:
    """How the activity on one topic runs (§四.2–§四.5)."""

    form: ConsultationForm
    venue: Venue
    venue_detail: str
    residents: int
    others: int
    quota_shortfall: bool
    """Residents under two-thirds, with a recorded justification (rule 3, "in principle")."""
    backdated_hold: bool
    """The activity is entered in the log weeks after it took place."""
    motion: bool
    defeated_first: bool
    dissent: bool


@dataclass(frozen=True)
class TopicPlan:
    """One topic from proposal to the fate of its outcomes."""

    room_key: str
    start: datetime
    title: str
    description: str
    source: TopicSource
    fate: TopicFate
    escalate_approval: bool
    consultation: ConsultationPlan
    outcomes: tuple[OutcomePlan, ...]
    seed: int
    """Seeds the lifecycle's own random choices (opinions, votes, delays)."""


@dataclass(frozen=True)
class County:
    """The whole demo: the county's towns and rooms, and every topic in start order."""

    seed: int
    scale: int
    name: str
    towns: tuple[TownSpec, ...]
    plans: tuple[TopicPlan, ...]
    rooms: dict[str, RoomSpec] = field(default_factory=dict)

    @property
    def room_count(self) -> int:
        return len(self.rooms)
