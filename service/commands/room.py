"""Room commands: establish a room and name who runs and advises it (§四.1, §五.3–§五.5)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from events.common import Actor, OptionalText, Person, RoomLevel
from events.room import ConvenerPosition, MemberLevel, Region
from service.commands.base import CommandsBase
from service.domain.errors import ValidationError
from service.domain.room import Room


class RoomCommands(CommandsBase):
    """Commands on consultation rooms."""

    def establish_room(
        self,
        *,
        actor: Actor,
        occurred_at: datetime,
        name: str,
        level: RoomLevel,
        region: Region,
        parent_room_id: UUID | None = None,
    ) -> UUID:
        """Set up a consultation room; returns its id."""
        act = self._act(actor, occurred_at)
        if parent_room_id is not None and self.get_room(parent_room_id).level != "town":
            raise ValidationError(
                "parent_room_id",
                "上级议事室须为镇(街道、园区)协商议事室",
                "the parent room must be a town room",
            )
        room = Room.establish(
            act, name=name, level=level, region=region, parent_room_id=parent_room_id
        )
        self.save(room)
        return room.id

    def assign_convener(
        self,
        room_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        convener: Person,
        position: ConvenerPosition,
    ) -> None:
        """Name the room's convener (§五.4)."""
        act = self._act(actor, occurred_at)
        room = self.get_room(room_id)
        room.assign_convener(act, convener=convener, position=position)
        self.save(room)

    def assign_liaison(
        self, room_id: UUID, *, actor: Actor, occurred_at: datetime, liaison: Person
    ) -> None:
        """Name the CPPCC work liaison (§五.4)."""
        act = self._act(actor, occurred_at)
        room = self.get_room(room_id)
        room.assign_liaison(act, liaison=liaison)
        self.save(room)

    def link_member(
        self,
        room_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        member: Person,
        member_level: MemberLevel,
        members_group: str = "",
    ) -> None:
        """Link a CPPCC member to the room (§五.3, rule 8)."""
        act = self._act(actor, occurred_at)
        room = self.get_room(room_id)
        room.link_member(act, member=member, member_level=member_level, members_group=members_group)
        self.save(room)

    def file_annual_plan(
        self,
        room_id: UUID,
        *,
        actor: Actor,
        occurred_at: datetime,
        year: int,
        planned_consultations: int,
        summary: OptionalText = "",
    ) -> None:
        """File the room's annual consultation plan (§五.5)."""
        act = self._act(actor, occurred_at)
        room = self.get_room(room_id)
        room.file_annual_plan(
            act, year=year, planned_consultations=planned_consultations, summary=summary
        )
        self.save(room)
