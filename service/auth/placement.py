"""Where the aggregate a command acts on lies (its room and region), for the scope check.

The scope check (:func:`service.auth.policy.authorize`) needs the room a command's target
belongs to and that room's region. Both are facts that never change: a topic's,
consultation's and outcome's room and a room's region are set by the event that creates the
aggregate and by no other event, and nothing is ever removed from the log. So once an id has
been seen, its placement is cached for the life of the process (a bounded LRU), and the API's
guard reads nothing from the log for an aggregate it has met before: the command then loads
its aggregate once, not twice.

What can change is not cached: an outcome's implementing unit (``unit_id``, reassigned by
``assign_implementation``), which the own-assignment check of ``report_progress`` and
``complete_implementation`` needs; for those the outcome is loaded fresh every time.
An unknown id is not cached either (it raises ``NotFoundError``, a 404, and may exist later).
An aggregate created over HTTP is remembered at once: it lies in the room its command acted
on (a topic in its room, a consultation in its topic's, an outcome in its consultation's),
or, for a new room, in the region its body gave.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Final
from uuid import UUID

from events.common import Family
from events.room import Region
from service.application import HaoshangliangApplication
from service.auth.policy import Target

MAXSIZE: Final = 50_000
"""Placements kept per application (a few hundred bytes each)."""


class Placements:
    """The room and region of each aggregate id met so far, read from ``app`` when new."""

    def __init__(self, app: HaoshangliangApplication, maxsize: int = MAXSIZE) -> None:
        self.app = app
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._known: OrderedDict[tuple[str, UUID], tuple[UUID, Region]] = OrderedDict()

    def cached(self, kind: Family, ident: UUID) -> Target | None:
        """The target's scope if known, reading nothing (None: :meth:`target` must load)."""
        with self._lock:
            found = self._known.get((kind, ident))
            if found is not None:
                self._known.move_to_end((kind, ident))
        return None if found is None else Target(room_id=str(found[0]), region=found[1])

    def target(self, kind: Family, ident: UUID, *, with_unit: bool = False) -> Target:
        """The target's scope; unknown ids raise ``NotFoundError``. ``with_unit``: an
        outcome's current implementing unit too (always read from the log)."""
        if kind == "outcome" and with_unit:
            outcome = self.app.get_outcome(ident)
            room_id, region = self._place("room", outcome.room_id)
            self._remember(("outcome", ident), room_id, region)
            return Target(room_id=str(room_id), region=region, unit_id=outcome.unit_id)
        room_id, region = self._place(kind, ident)
        return Target(room_id=str(room_id), region=region)

    def created(self, kind: Family, ident: UUID, parent: Target) -> None:
        """Remember an aggregate just created in ``parent``'s room (a room: ``parent`` has its
        region and no room yet), so its first command reads nothing for the scope check."""
        if parent.region is None or (kind != "room" and parent.room_id is None):
            return
        room_id = ident if kind == "room" else UUID(str(parent.room_id))
        self._remember((kind, ident), room_id, parent.region)

    def _place(self, kind: Family, ident: UUID) -> tuple[UUID, Region]:
        with self._lock:
            found = self._known.get((kind, ident))
        if found is not None:
            return found
        match kind:
            case "room":
                room = self.app.get_room(ident)
                self._remember(("room", ident), room.id, room.region)
                return room.id, room.region
            case "topic":
                room_id = self.app.get_topic(ident).room_id
            case "consultation":
                room_id = self.app.get_consultation(ident).room_id
            case "outcome":
                room_id = self.app.get_outcome(ident).room_id
        _, region = self._place("room", room_id)
        self._remember((kind, ident), room_id, region)
        return room_id, region

    def _remember(self, key: tuple[str, UUID], room_id: UUID, region: Region) -> None:
        with self._lock:
            self._known[key] = (room_id, region)
            self._known.move_to_end(key)
            while len(self._known) > self.maxsize:
                self._known.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._known)


_ATTRIBUTE = "_hsl_placements"
_CREATING = threading.Lock()


def placements(app: HaoshangliangApplication) -> Placements:
    """The placements cache of ``app``: one per application, kept on it, made on first use."""
    found: Placements | None = getattr(app, _ATTRIBUTE, None)
    if found is None:
        with _CREATING:
            found = getattr(app, _ATTRIBUTE, None)
            if found is None:
                found = Placements(app)
                setattr(app, _ATTRIBUTE, found)
    return found
