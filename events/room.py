"""Events of a consultation room (协商议事室), §四.1, §五.3–§五.5."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from events.common import BaseEvent, Name, OptionalText, Person, RoomLevel

MemberLevel = Literal["county", "city", "provincial", "national"]
"""The CPPCC level a member sits at; rule 8 counts only ``county`` (§五.3)."""

ConvenerPosition = Literal[
    "deputy_secretary",  # 党(工)委副书记 (§五.4)
    "united_front_member",  # 统战委员 (§五.4)
    "party_org_head",  # 村(社区)、企事业单位党组织负责人 (§五.4)
    "delegated_leader",  # 受委托主持的其他党政领导 (§五.4)
]

RegionName = Annotated[str, Meta(min_length=1, max_length=64)]


class Region(msgspec.Struct, frozen=True, kw_only=True):
    """Where a room sits: county → town → village/community/enterprise."""

    county: RegionName
    town: RegionName
    locality: Annotated[
        RegionName | None,
        Meta(description="village, community or enterprise; null for a town room"),
    ] = None


class RoomEvent(BaseEvent, frozen=True, kw_only=True):
    """Base of the room aggregate's events."""

    family: ClassVar[str] = "room"


class RoomEstablished(RoomEvent, frozen=True, kw_only=True, tag="room.established"):
    """A consultation room was set up at a town, village, community or enterprise."""

    seed: ClassVar[str] = "§四.1"
    name: Annotated[Name, Meta(description="the room's name, e.g. 柳溪镇协商议事室")]
    level: Annotated[
        RoomLevel,
        Meta(description="town (镇/街道/园区), village, community (社区居委会) or enterprise"),
    ]
    region: Annotated[Region, Meta(description="where it sits: county, town, locality")]
    parent_room_id: Annotated[
        UUID | None, Meta(description="the town room a lower-level room belongs to")
    ] = None


class ConvenerAssigned(RoomEvent, frozen=True, kw_only=True, tag="room.convener_assigned"):
    """The person who convenes the room's consultations was named."""

    seed: ClassVar[str] = "§五.4"
    convener: Annotated[Person, Meta(description="who convenes the room's consultations")]
    position: Annotated[
        ConvenerPosition,
        Meta(
            description="the convener's post (§五.4): town deputy secretary or united-front "
            "member, the party head of a village/community/enterprise, or a delegated leader"
        ),
    ]


class LiaisonAssigned(RoomEvent, frozen=True, kw_only=True, tag="room.liaison_assigned"):
    """The CPPCC work liaison (政协工作联络员) for the room's town was named."""

    seed: ClassVar[str] = "§五.4"
    liaison: Annotated[Person, Meta(description="the town's CPPCC work liaison (政协工作联络员)")]


class MemberLinked(RoomEvent, frozen=True, kw_only=True, tag="room.member_linked"):
    """A CPPCC member was linked (挂钩) to the room; rule 8 needs a county-level one."""

    seed: ClassVar[str] = "§五.3"
    member: Annotated[Person, Meta(description="the CPPCC member linked (挂钩) to the room")]
    member_level: Annotated[
        MemberLevel, Meta(description="the member's CPPCC; only county counts for rule 8")
    ]
    members_group: Annotated[
        str, Meta(max_length=200, description="the town members' group (履职小组) name")
    ] = ""


class AnnualPlanFiled(RoomEvent, frozen=True, kw_only=True, tag="room.annual_plan_filed"):
    """The room's annual consultation plan was filed; rule 9 compares it with activity."""

    seed: ClassVar[str] = "§五.5, §四.1"
    year: Annotated[int, Meta(ge=2000, le=2100, description="the calendar year planned")]
    planned_consultations: Annotated[
        int,
        Meta(ge=0, le=1000, description="activities planned; a town room holds at least two"),
    ]
    summary: Annotated[OptionalText, Meta(description="what the plan covers")] = ""


RoomEventType = (
    RoomEstablished | ConvenerAssigned | LiaisonAssigned | MemberLinked | AnnualPlanFiled
)
ROOM_EVENTS: tuple[type[RoomEvent], ...] = (
    RoomEstablished,
    ConvenerAssigned,
    LiaisonAssigned,
    MemberLinked,
    AnnualPlanFiled,
)
