"""The consultation room (协商议事室): where it is, who runs it, which members it has."""

from __future__ import annotations

from uuid import UUID

from events.common import BaseEvent, Person, RoomLevel
from events.room import (
    AnnualPlanFiled,
    ConvenerAssigned,
    ConvenerPosition,
    LiaisonAssigned,
    MemberLevel,
    MemberLinked,
    Region,
    RoomEstablished,
)
from service.domain.base import Act, HslAggregate
from service.domain.errors import CountyMemberLinkRequired, ValidationError
from service.domain.rules import needs_county_member


class Room(HslAggregate):
    """A town, village, community or enterprise consultation room (§四.1)."""

    family = "room"

    def _init_state(self) -> None:
        self.name = ""
        self.level: RoomLevel = "town"
        self.region = Region(county="?", town="?")
        self.parent_room_id: UUID | None = None
        self.convener: Person | None = None
        self.liaison: Person | None = None
        self.members: dict[str, MemberLevel] = {}
        self.annual_plans: dict[int, int] = {}

    @classmethod
    def establish(
        cls,
        act: Act,
        *,
        name: str,
        level: RoomLevel,
        region: Region,
        parent_room_id: UUID | None = None,
    ) -> Room:
        """Set up a room; a town room has no locality, the others name theirs (§四.1)."""
        if level == "town" and region.locality is not None:
            raise ValidationError(
                "region.locality",
                "镇级协商议事室不填村(社区)、企事业单位",
                "a town room has no locality",
            )
        if level != "town" and not region.locality:
            raise ValidationError(
                "region.locality",
                "请填写所在村(社区)或企事业单位",
                "name the village, community or enterprise",
            )
        return cls._start(
            RoomEstablished,
            act,
            name=name,
            level=level,
            region=region,
            parent_room_id=parent_room_id,
        )

    def assign_convener(self, act: Act, *, convener: Person, position: ConvenerPosition) -> None:
        """Name the convener: town deputy secretary or united-front member, village head (§五.4)."""
        self._emit(ConvenerAssigned, act, convener=convener, position=position)

    def assign_liaison(self, act: Act, *, liaison: Person) -> None:
        """Name the CPPCC work liaison for the room's town (§五.4)."""
        self._emit(LiaisonAssigned, act, liaison=liaison)

    def link_member(
        self, act: Act, *, member: Person, member_level: MemberLevel, members_group: str = ""
    ) -> None:
        """Link a CPPCC member to the room (§五.3); linking the same member twice is refused."""
        if member.id in self.members:
            raise ValidationError(
                "member.id",
                f"委员 {member.id} 已挂钩本议事室",
                f"member {member.id} is already linked",
            )
        self._emit(
            MemberLinked,
            act,
            member=member,
            member_level=member_level,
            members_group=members_group,
        )

    def file_annual_plan(
        self, act: Act, *, year: int, planned_consultations: int, summary: str = ""
    ) -> None:
        """File the year's consultation plan (§五.5); a later filing revises it."""
        self._emit(
            AnnualPlanFiled,
            act,
            year=year,
            planned_consultations=planned_consultations,
            summary=summary,
        )

    @property
    def has_county_member(self) -> bool:
        """At least one linked member sits on a county/district CPPCC."""
        return "county" in self.members.values()

    def require_county_member(self) -> None:
        """Rule 8 (§五.3): lower-level rooms work with a linked county-level member."""
        if needs_county_member(self.level) and not self.has_county_member:
            raise CountyMemberLinkRequired(
                f"{self.name}尚未挂钩县区政协委员",
                f"room {self.name!r} has no linked county-level CPPCC member",
            )

    def apply_event(self, payload: BaseEvent) -> None:
        """Evolve the room by one of its events."""
        match payload:
            case RoomEstablished():
                self.name = payload.name
                self.level = payload.level
                self.region = payload.region
                self.parent_room_id = payload.parent_room_id
            case ConvenerAssigned():
                self.convener = payload.convener
            case LiaisonAssigned():
                self.liaison = payload.liaison
            case MemberLinked():
                self.members[payload.member.id] = payload.member_level
            case AnnualPlanFiled():
                self.annual_plans[payload.year] = payload.planned_consultations
            case _:  # pragma: no cover - the mapper only hands room events to a room
                raise TypeError(payload)
