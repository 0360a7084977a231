"""The rooms' lifecycles: each town's rooms set up, staffed and given annual plans (§四.1, §五)."""

from __future__ import annotations

import random
from datetime import date

from service.demo.plan import (
    RoomSpec,
    TownSpec,
)
from service.demo.stage import Stage
from service.demo.timeline import Life, days_later, minutes_later, wait_until


class RoomLives(Stage):
    """Set-up of every room of a town, then its plans for the next year."""

    def _set_up_town(self, town: TownSpec) -> Life:
        """Establish the town's room and the rooms below it, with their people and plans."""
        rng = random.Random(f"{self.county.seed}:{town.key}")
        yield from self._set_up_room(town.room, rng)
        for room in town.lower:
            yield days_later(rng, 1, 4)
            yield from self._set_up_room(room, rng)
        yield wait_until(self.clock.now, date(2025, 1, 6)) + days_later(rng, 0, 10)
        for room in (town.room, *town.lower):
            self._file_plan(room, 2025)
            yield minutes_later(rng, 10, 90)

    def _set_up_room(self, room: RoomSpec, rng: random.Random) -> Life:
        app = self.app
        parent = self.room_ids[room.parent_key] if room.parent_key else None
        self.room_ids[room.key] = room_id = app.establish_room(
            actor=self._clerk(room),
            occurred_at=self.now,
            name=room.name,
            level=room.level,
            region=room.region,
            parent_room_id=parent,
        )
        self.stats.rooms += 1
        yield minutes_later(rng, 30, 240)
        app.assign_convener(
            room_id,
            actor=self._party(room),
            occurred_at=self.now,
            convener=room.convener,
            position=room.position,
        )
        if room.liaison is not None:
            yield minutes_later(rng, 30, 240)
            app.assign_liaison(
                room_id, actor=self._party(room), occurred_at=self.now, liaison=room.liaison
            )
        for member, level in room.members:
            yield days_later(rng, 0, 2)
            app.link_member(
                room_id,
                actor=self._clerk(room),
                occurred_at=self.now,
                member=member,
                member_level=level,
                members_group=room.members_group,
            )
        yield days_later(rng, 1, 3)
        self._file_plan(room, 2024)

    def _file_plan(self, room: RoomSpec, year: int) -> None:
        planned = dict(room.planned)[year]
        self.app.file_annual_plan(
            self.room_ids[room.key],
            actor=self._clerk(room),
            occurred_at=self.now,
            year=year,
            planned_consultations=planned,
            summary=f"{year}年度计划开展协商议事活动{planned}次",
        )
