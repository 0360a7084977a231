"""What every lifecycle of the demo shares: the application, the plan, the timeline, who acts.

The lifecycles are methods of three classes, one per kind of work (``service.demo.rooms``,
``topics``, ``outcomes``), which ``service.demo.generator.Demo`` joins; a topic's lifecycle
starts its outcomes' and an outcome may start a new topic's (re-consultation), so both are
declared here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final
from uuid import UUID

from events.common import Actor
from events.consultation import Participant
from service.application import HaoshangliangApplication
from service.demo.plan import County, OutcomePlan, RoomSpec, TopicPlan, TownSpec
from service.demo.timeline import DemoClock, DemoIds, Life, Timeline
from service.domain.rules import FILING_BODY

COUNTY_CPPCC: Final = Actor(id="county-cppcc", role="county_cppcc")


@dataclass
class MeetingRecord:
    """What the outcomes of a consultation need to know about it."""

    consultation_id: UUID
    title: str
    room: RoomSpec
    town: TownSpec
    attendees: list[Participant]
    dissent_ids: list[UUID] = field(default_factory=list)


@dataclass
class DemoStats:
    """What the demo did, as the generator counted it (the report reads the log instead)."""

    rooms: int = 0
    topics: int = 0
    consultations: int = 0
    outcomes: int = 0
    reconsultations: int = 0


class Stage:
    """The application and the county's plan, the story's clock and timeline, who acts."""

    def __init__(self, app: HaoshangliangApplication, county: County, clock: DemoClock) -> None:
        self.app = app
        self.county = county
        self.clock = clock
        self.ids = DemoIds(county.seed)
        self.timeline = Timeline(clock)
        self.room_ids: dict[str, UUID] = {}
        self.towns = {town.key: town for town in county.towns}
        self.stats = DemoStats()
        self._filings = 0

    @property
    def now(self) -> datetime:
        """The present; what every ``occurred_at`` is, unless an entry is late on purpose."""
        return self.clock.now

    # --- who acts ----------------------------------------------------------------------------

    @staticmethod
    def _clerk(room: RoomSpec) -> Actor:
        return Actor(id=f"{room.key}-clerk", role="clerk")

    @staticmethod
    def _party(room: RoomSpec) -> Actor:
        return Actor(id=f"{room.key}-party", role="party_org")

    @staticmethod
    def _upper_party(room: RoomSpec) -> Actor:
        return Actor(id=f"{room.town_key}-party", role="upper_party_org")

    @staticmethod
    def _convener(room: RoomSpec) -> Actor:
        return Actor(id=room.convener.id, role="convener")

    @staticmethod
    def _member(room: RoomSpec) -> Actor:
        return Actor(id=room.members[0][0].id, role="cppcc_member")

    def _filer(self, room: RoomSpec) -> Actor:
        if FILING_BODY[room.level] == "county_cppcc":
            return COUNTY_CPPCC
        return Actor(id=f"{room.town_key}-mg", role="members_group")

    def _official(self, room: RoomSpec) -> Actor:
        return Actor(id=self.towns[room.town_key].officials[0].id, role="official")

    @staticmethod
    def _supervisor(room: RoomSpec) -> Actor:
        return Actor(id=f"{room.town_key}-supervisor", role="supervisor")

    def _proposer(self, room: RoomSpec, plan: TopicPlan, rng: random.Random) -> Actor:
        match plan.source:
            case "party_government":
                return self._official(room)
            case "member":
                return self._member(room)
            case "residents":
                return Actor(id=rng.choice(room.residents).id, role="resident")
            case _:
                return self._clerk(room)

    # --- lifecycles that start one another (defined in service.demo.topics and .outcomes) ---

    def _topic(self, plan: TopicPlan, topic_id: UUID | None = None) -> Life:
        """One topic, from its proposal (or a re-consultation's opening) to its outcomes."""
        raise NotImplementedError

    def _outcome(
        self, record: MeetingRecord, plan: OutcomePlan, outcome_id: UUID, rng: random.Random
    ) -> Life:
        """The closed loop of one outcome."""
        raise NotImplementedError
