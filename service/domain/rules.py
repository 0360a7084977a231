"""The seed's numbers and pure checks, in one place so code, docs and analytics agree.

Rules 1–8 are refused at command time by the aggregates and the application. Rule 9
(§四.1: every town has a room; each town room holds at least two consultation
activities a year) is a fact about a whole year and all towns, so it is *not*
refusable when a command arrives: ``consultation.held`` records ``room_id``,
``room_level`` and ``occurred_at``, ``room.established`` records the level and
region, and projections check it with :func:`town_rooms_below_minimum` and
:func:`towns_without_room` (or the same logic in SQL).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Final
from uuid import UUID

from events.common import (
    MIN_TOWN_CONSULTATIONS_PER_YEAR,
    RESIDENT_QUOTA_DENOMINATOR,
    RESIDENT_QUOTA_NUMERATOR,
    RoomLevel,
    china_year,
)
from events.room import Region
from events.topic import FilingBody

FUTURE_TOLERANCE: Final = timedelta(minutes=1)
"""Clock skew allowed between a caller and our server before occurred_at counts as future."""

FILING_BODY: Final[Mapping[RoomLevel, FilingBody]] = {
    "town": "county_cppcc",
    "village": "town_members_group",
    "community": "town_members_group",
    "enterprise": "town_members_group",
}
"""§四.3: where an approved topic is filed (备案), by the level of its room (rule 2)."""


def resident_quota_met(resident_count: int, participant_count: int) -> bool:
    """Rule 3: residents ≥ two-thirds of all participants (exact integer arithmetic)."""
    return resident_count * RESIDENT_QUOTA_DENOMINATOR >= (
        participant_count * RESIDENT_QUOTA_NUMERATOR
    )


def needs_county_member(level: RoomLevel) -> bool:
    """Rule 8 (§五.3) applies to village, community and enterprise rooms."""
    return level != "town"


def motion_carried(votes_for: int, present: int) -> bool:
    """A motion carries when more than half of those present vote for it (四议两公开)."""
    return votes_for * 2 > present


def town_rooms_below_minimum(
    room_levels: Mapping[UUID, RoomLevel],
    held: Iterable[tuple[UUID, datetime]],
    year: int,
) -> list[UUID]:
    """Rule 9: town rooms that held fewer than two activities in ``year``.

    ``room_levels`` maps every room to its level; ``held`` yields
    ``(room_id, occurred_at)`` of each ``consultation.held`` event. The year is China's
    (§四.1 每年): an activity on 1 January at 01:00 in China counts for the new year.
    """
    counts = Counter(room for room, when in held if china_year(when) == year)
    return sorted(
        (
            room
            for room, level in room_levels.items()
            if level == "town" and counts[room] < MIN_TOWN_CONSULTATIONS_PER_YEAR
        ),
        key=str,
    )


def towns_without_room(
    towns: Iterable[tuple[str, str]], town_room_regions: Iterable[Region]
) -> set[tuple[str, str]]:
    """Rule 9: (county, town) pairs on the office's list that have no town room."""
    covered = {(region.county, region.town) for region in town_room_regions}
    return set(towns) - covered


LEVEL_ZH: Final[Mapping[RoomLevel, str]] = {
    "town": "镇(街道、园区)",
    "village": "行政村",
    "community": "社区",
    "enterprise": "企事业单位",
}
FILING_BODY_ZH: Final[Mapping[FilingBody, str]] = {
    "county_cppcc": "县区政协",
    "town_members_group": "镇政协委员履职小组",
}
