"""Shared pieces of every event: who acted, when, and the base all event Structs grow from.

Every stored event is a tagged, frozen msgspec Struct. The ``type`` field (the tag)
names the event without our Python classes, so an auditor's tool in any language can
read the log with the JSON Schemas published under ``docs/schemas/``.

Evolution rules (msgspec's schema-evolution guide): new fields only with defaults,
never change a stored field's type, never reuse or rename a tag; a breaking change
raises the class's ``schema_version`` default and adds an upcaster in
``events.codec``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, ClassVar, Final, Literal, get_args

import msgspec
from msgspec import Meta

UtcDatetime = Annotated[
    datetime,
    Meta(tz=True, description="ISO 8601 timestamp with offset; stored in UTC ('Z')."),
]
"""A timezone-aware timestamp; naive datetimes are refused on decode and on command."""

CHINA_STANDARD_TIME: Final = timezone(timedelta(hours=8), "CST")
"""UTC+8, with no daylight saving since 1991. Times are stored in UTC, but the seed's years
(§四.1 每年…不少于两次, §五.3 年终考评) and days (a deadline) are China's: 1 January 01:00
in China is still 31 December in UTC. The views count in it too (``china_year``,
``china_today`` in ``projections.closed_loop``)."""


def china_year(moment: datetime) -> int:
    """The calendar year in China of an aware ``moment``."""
    return moment.astimezone(CHINA_STANDARD_TIME).year


PersonId = Annotated[
    str,
    Meta(min_length=1, max_length=64, description="Opaque id of a person or unit."),
]
FREE_TEXT: Final = "free_text"
"""``Meta.extra`` key of the long free-text fields: a command may give them line breaks and
tabs, every other string is one line (``service.domain.text``; not part of the schemas)."""
Name = Annotated[str, Meta(min_length=1, max_length=200)]
Text = Annotated[str, Meta(min_length=1, max_length=5000, extra={FREE_TEXT: True})]
OptionalText = Annotated[str, Meta(max_length=5000, extra={FREE_TEXT: True})]

Role = Literal[
    "party_org",  # 同级党组织: 镇党(工)委 / 村(社区)党组织 (§二.1, §四.3)
    "upper_party_org",  # 上一级党组织, for topics sent up for approval (§四.3)
    "convener",  # 召集人 (§五.4)
    "liaison",  # 政协工作联络员 (§五.4)
    "cppcc_member",  # 政协委员 (§五.3)
    "county_cppcc",  # 县区政协, receives town topic filings (§四.3)
    "members_group",  # 镇政协委员履职小组, receives village topic filings (§四.3, §五.3)
    "clerk",  # 党群(政)办 staff who keep the record (§五.4, §五.5)
    "resident_rep",  # 群众代表 (§四.4)
    "resident",  # 群众: proposes topics, objects during publicity (§四.3, §四.6)
    "official",  # 同级党政领导及相关部门负责同志 (§四.4)
    "party_rep",  # 党代表 (§四.4)
    "npc_deputy",  # 人大代表 (§四.4)
    "notable",  # 乡贤 (§四.4)
    "expert",  # 专家学者 (§四.4)
    "implementing_unit",  # 责任单位 (§四.6)
    "supervisor",  # 跟踪监督 of implementation (§四.6)
    "office",  # 领导小组办公室 at the city CPPCC (§五.1)
]
"""The role in which a person acted (the roles of the mechanism, docs/api.md)."""

ParticipantRole = Literal[
    "cppcc_member",
    "resident_rep",
    "official",
    "party_rep",
    "npc_deputy",
    "notable",
    "expert",
]
"""Who takes part in a consultation activity (§四.4); residents are ``resident_rep``."""
PARTICIPANT_ROLES: Final[frozenset[str]] = frozenset(get_args(ParticipantRole))
"""The values of :data:`ParticipantRole`, for checks at run time."""

Family = Literal["room", "topic", "consultation", "outcome"]
"""An aggregate family: the kind of thing an event is about (``BaseEvent.family``)."""
FAMILIES: Final[tuple[Family, ...]] = get_args(Family)

RoomLevel = Literal["town", "village", "community", "enterprise"]
"""镇(街道、园区) / 行政村 / 社区居委会 / 企事业单位 (§四.1)."""


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """Who did it: a person (or unit) id and the role in which they acted."""

    id: PersonId
    role: Role


class Person(msgspec.Struct, frozen=True, kw_only=True):
    """A person named in an event (a research group member, a convener …)."""

    id: PersonId
    name: Name


LATE_ENTRY: Final = timedelta(days=7)
"""An event recorded more than this long after it occurred is a late entry: ``backdated``."""

RESIDENT_QUOTA_NUMERATOR: Final = 2
RESIDENT_QUOTA_DENOMINATOR: Final = 3
"""Rule 3, §四.4: 原则上参与协商的群众代表数量不少于协商主体的三分之二 (two thirds)."""

MIN_TOWN_CONSULTATIONS_PER_YEAR: Final = 2
"""Rule 9, §四.1: 镇(街道、园区)协商议事室每年举办协商议事活动不少于两次 (two a year)."""


class BaseEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Fields every event carries: the actor and the two times an auditor compares.

    ``occurred_at`` comes from the caller (when it happened in the world);
    ``recorded_at`` is set by our service, in UTC, by its clock when it takes the command
    (the verifiers hold it to the log server's storage time, ``replay.record_time``);
    ``backdated`` is true when the gap between them exceeds the documented
    threshold (:data:`LATE_ENTRY`), so projections
    and auditors can flag late entries without recomputing.
    """

    family: ClassVar[str] = ""
    """The aggregate family ("room", "topic" …); also the tag's prefix."""
    seed: ClassVar[str] = ""
    """The seed section(s) this event records, e.g. "§四.3"."""

    actor: Actor
    occurred_at: UtcDatetime
    recorded_at: UtcDatetime
    backdated: Annotated[
        bool,
        Meta(description="recorded_at - occurred_at exceeded the late-entry threshold (7 days)"),
    ] = False
    schema_version: Annotated[int, Meta(ge=1)] = 1
