"""Rule 9 (§四.1): rooms everywhere, and at least two activities a year in each town room.

Never refused: it is analytics. The tests show the log holds what the check needs, and that
the view flagging it agrees with the same check in Python (docs/domain.md, "The rules").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from events.codec import decode
from events.common import RoomLevel
from events.consultation import ConsultationHeld
from events.room import RoomEstablished
from service.domain.rules import town_rooms_below_minimum, towns_without_room
from tests.support.rebuilt_views import fresh_rebuild, rows
from tests.support.scenario import (
    Scenario,
    stored,
)


class TestRule9Analytics:
    @staticmethod
    def _facts(s: Scenario) -> tuple[dict[UUID, RoomLevel], list[tuple[UUID, datetime]]]:
        """What a projection reads: each room's level, and each held activity's room and time."""
        levels: dict[UUID, RoomLevel] = {}
        held: list[tuple[UUID, datetime]] = []
        for _, originator_id, _, _, state in stored(s.app):
            event = decode(state)
            if isinstance(event, RoomEstablished):
                levels[UUID(originator_id)] = event.level
            elif isinstance(event, ConsultationHeld):
                held.append((event.room_id, event.occurred_at))
        return levels, held

    def test_log_holds_what_the_two_a_year_check_needs(self, s: Scenario) -> None:
        """Held activities carry room, level and time, enough to count two a year per town."""
        room = s.town_room()
        s.held(s.approved_topic(room))
        levels, held = self._facts(s)
        assert town_rooms_below_minimum(levels, held, 2024) == [room]
        s.held(s.approved_topic(room))
        levels, held = self._facts(s)
        assert town_rooms_below_minimum(levels, held, 2024) == []
        assert town_rooms_below_minimum(levels, held, 2025) == [room]

    def test_the_year_is_chinas(self) -> None:
        """§四.1 每年: 1 January 01:00 in China (31 December 17:00 UTC) is the new year."""
        room = UUID(int=1)
        new_years_night = datetime(2025, 12, 31, 17, 0, tzinfo=UTC)
        held = [(room, new_years_night), (room, new_years_night + timedelta(days=30))]
        assert town_rooms_below_minimum({room: "town"}, held, 2026) == []
        assert town_rooms_below_minimum({room: "town"}, held, 2025) == [room]
        held = [(room, new_years_night - timedelta(hours=2))] * 2  # 23:00 on 31 December in China
        assert town_rooms_below_minimum({room: "town"}, held, 2025) == []

    def test_coverage_of_towns_is_computable(self, s: Scenario) -> None:
        """Towns without a room are found from room.established regions."""
        s.town_room()
        regions = [
            e.region
            for e in (decode(row[4]) for row in stored(s.app))
            if isinstance(e, RoomEstablished) and e.level == "town"
        ]
        towns = {("淮安区", "淮城镇"), ("淮安区", "车桥镇")}
        assert towns_without_room(towns, regions) == {("淮安区", "车桥镇")}

    def test_activities_are_never_refused_for_the_count(self, s: Scenario) -> None:
        """A third activity in a year, or one in a quiet year, is simply recorded."""
        room = s.town_room()
        for _ in range(3):
            s.held(s.approved_topic(room))
        s.clock.tick(timedelta(days=400))
        s.held(s.approved_topic(room))


class TestRule9Views:
    def test_room_year_consultations_agrees_with_the_python_check(
        self, s: Scenario, tmp_path: Path
    ) -> None:
        """``room_year_consultations.meets_rule`` flags the same town rooms as
        ``town_rooms_below_minimum`` over the log's facts (written for issue 12)."""
        busy, quiet = s.town_room(), s.town_room()
        for _ in range(2):
            s.held(s.approved_topic(busy))
        s.held(s.approved_topic(quiet))
        levels, held = TestRule9Analytics._facts(s)
        path = tmp_path / "v.duckdb"
        fresh_rebuild(s.app, path)
        flagged = rows(
            path,
            "SELECT room_id FROM room_year_consultations WHERE year = 2024 AND meets_rule = false",
        )
        assert [UUID(r) for (r,) in flagged] == town_rooms_below_minimum(levels, held, 2024)
        assert [UUID(r) for (r,) in flagged] == [quiet]
