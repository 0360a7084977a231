"""The seeded county: towns, rooms, people and a plan of every topic the demo will run.

Everything here is decided up front from ``random.Random(seed)``, before any command is
sent, so the plan (and therefore the command sequence) depends on the seed and the scale
only. The generator then plays the plan against the application.

The county is built in blocks of four towns (two 镇, one 街道, one 园区); ``scale`` is the
number of blocks. Within each block the earliest consulted topics are dealt a fixed "deck"
of outcomes and consultation features, so that every block, whatever the seed, shows every
stage of the closed loop and every rule exception the demo promises (see ``REQUIRED_FATES``
and ``REQUIRED_SETTINGS``); the rest is drawn at random with realistic weights.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from events.common import Person, RoomLevel
from events.consultation import ConsultationForm, Venue
from events.outcome import AdoptedAs
from events.room import MemberLevel, Region
from events.topic import TopicSource
from service.demo.plan import (
    CST,
    YEARS,
    ConsultationPlan,
    County,
    OutcomeFate,
    OutcomePlan,
    RoomSpec,
    TopicFate,
    TopicPlan,
    TownSpec,
)
from service.demo.vocabulary import (
    COMMUNITY_NAMES,
    COUNTIES,
    ENTERPRISE_TRADES,
    ESCALATIONS,
    GIVEN,
    SURNAMES,
    TOPICS_BY_LEVEL,
    TOWN_PREFIXES,
    UNIT_KINDS,
    VILLAGE_FIRST,
    VILLAGE_PLACE,
    VILLAGE_SURNAME,
)

TOWNS_PER_BLOCK: Final = 4
MAX_SCALE: Final = 10_000

REQUIRED_FATES: Final[tuple[OutcomeFate, ...]] = (
    "verified",
    "declined",
    "overdue",
    "stalled_reconsulted",
    "consensus",
    "escalated_declined",
    "reverified",
    "stalled_closed",
    "escalated_adopted",
)
"""Dealt, in this order, to the first consulted topics of every block."""

_FATE_WEIGHTS: Final[dict[OutcomeFate, int]] = {
    "verified": 46,
    "reverified": 5,
    "declined": 10,
    "consensus": 10,
    "overdue": 6,
    "stalled_reconsulted": 5,
    "stalled_closed": 4,
    "escalated_declined": 4,
    "escalated_adopted": 5,
    "pending": 5,
}

REQUIRED_SETTINGS: Final[tuple[tuple[ConsultationForm, Venue, str], ...]] = (
    ("meeting", "room", "协商议事室"),
    ("meeting", "square", "文化广场"),
    ("meeting", "courtyard", "农家院落"),
    ("meeting", "field", "田间地头"),
    ("written", "door_to_door", "逐户上门征求意见"),
    ("online", "other", "微信群线上协商"),
)
"""Every form and venue of §四.5, dealt to the first consulted topics of every block."""

_SETTING_WEIGHTS: Final = (40, 8, 10, 6, 6, 6)

_SOURCES: Final[tuple[TopicSource, ...]] = (
    "party_government",
    "member",
    "residents",
    "public_call",
)
_TOWN_SOURCE_WEIGHTS: Final = (40, 30, 15, 15)
_LOWER_SOURCE_WEIGHTS: Final = (20, 20, 50, 10)


class _Names:
    """Person names and ids, unique across the county."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def person(self, ident: str) -> Person:
        given = "".join(self.rng.choice(GIVEN) for _ in range(self.rng.choice((1, 2, 2))))
        return Person(id=ident, name=self.rng.choice(SURNAMES) + given)


def _town_name(index: int) -> tuple[str, str]:
    """(name, kind) of the ``index``-th town: two 镇, one 街道, one 园区 per block."""
    prefix = TOWN_PREFIXES[index % len(TOWN_PREFIXES)]
    if index >= len(TOWN_PREFIXES):
        prefix = f"{prefix}{index // len(TOWN_PREFIXES) + 1}"
    kind = ("镇", "镇", "街道", "工业园区")[index % TOWNS_PER_BLOCK]
    return f"{prefix}{kind}", kind


_LOWER_LEVELS: Final[tuple[tuple[RoomLevel, ...], ...]] = (
    ("village", "village", "village"),
    ("village", "village", "community"),
    ("community", "community", "community"),
    ("enterprise", "community"),
)
"""The rooms below each town of a block, by the town's place in the block."""


def _lower_room(
    rng: random.Random,
    names: _Names,
    *,
    town: str,
    town_key: str,
    county: str,
    index: int,
    level: RoomLevel,
    county_members: list[Person],
    members_group: str,
) -> RoomSpec:
    key = f"{town_key}-{level[0]}{index}"
    if level == "village":
        locality = (
            rng.choice(VILLAGE_FIRST)
            + rng.choice(VILLAGE_SURNAME)
            + rng.choice(VILLAGE_PLACE)
            + f"{index}村"
        )
        party, government = f"{locality}党支部", f"{locality}村民委员会"
    elif level == "community":
        locality = f"{rng.choice(COMMUNITY_NAMES)}{index}社区"
        party, government = f"{locality}党委", f"{locality}居民委员会"
    else:
        locality = f"{town[:2]}{rng.choice(ENTERPRISE_TRADES)}有限公司"
        party, government = f"{locality}党支部", f"{locality}管理层"
    members: list[tuple[Person, MemberLevel]] = [
        (county_members[index % len(county_members)], "county")
    ]
    if rng.random() < 0.3:
        members.append((names.person(f"{key}-mc"), "city"))
    return RoomSpec(
        key=key,
        name=f"{locality}协商议事室",
        level=level,
        region=Region(county=county, town=town, locality=locality),
        town_key=town_key,
        parent_key=town_key,
        party_org=party,
        government=government,
        convener=names.person(f"{key}-convener"),
        position="party_org_head",
        liaison=None,
        members=tuple(members),
        members_group=members_group,
        residents=tuple(names.person(f"{key}-r{i:02d}") for i in range(16)),
        planned=tuple((year, 2) for year in YEARS),
    )


def _town(rng: random.Random, names: _Names, county: str, index: int) -> TownSpec:
    name, kind = _town_name(index)
    key = f"t{index:04d}"
    members_group = f"{name}政协委员履职小组"
    county_members = [names.person(f"{key}-m{i}") for i in range(3)]
    town_members: list[tuple[Person, MemberLevel]] = [(county_members[0], "county")]
    if rng.random() < 0.5:
        town_members.append((names.person(f"{key}-mc"), "city"))
    party = f"{name}党工委" if kind != "镇" else f"{name}党委"
    government = (
        f"{name}办事处"
        if kind == "街道"
        else f"{name}管委会"
        if kind != "镇"
        else f"{name}人民政府"
    )
    room = RoomSpec(
        key=key,
        name=f"{name}协商议事室",
        level="town",
        region=Region(county=county, town=name),
        town_key=key,
        parent_key=None,
        party_org=party,
        government=government,
        convener=names.person(f"{key}-convener"),
        position=rng.choice(("deputy_secretary", "united_front_member")),
        liaison=names.person(f"{key}-liaison"),
        members=tuple(town_members),
        members_group=members_group,
        residents=tuple(names.person(f"{key}-r{i:02d}") for i in range(24)),
        planned=tuple((year, rng.choice((3, 4))) for year in YEARS),
    )
    officials = tuple(names.person(f"{key}-o{i}") for i in range(3))
    lower = tuple(
        _lower_room(
            rng,
            names,
            town=name,
            town_key=key,
            county=county,
            index=i,
            level=level,
            county_members=county_members,
            members_group=members_group,
        )
        for i, level in enumerate(_LOWER_LEVELS[index % TOWNS_PER_BLOCK], start=1)
    )
    return TownSpec(
        key=key,
        name=name,
        room=room,
        lower=lower,
        units=tuple(Person(id=f"{key}-u{i}", name=f"{name}{u}") for i, u in enumerate(UNIT_KINDS)),
        officials=officials,
        guests=(
            (officials[0], "official"),
            (names.person(f"{key}-pr"), "party_rep"),
            (names.person(f"{key}-npc"), "npc_deputy"),
            (names.person(f"{key}-x0"), "expert"),
            (names.person(f"{key}-nb"), "notable"),
            (officials[1], "official"),
            (names.person(f"{key}-x1"), "expert"),
        ),
    )


def _at(rng: random.Random, year: int, month: int) -> datetime:
    """A working-day morning in ``month`` of ``year``, some days into the month."""
    day = datetime(year, month, 1, 9, 0, tzinfo=CST) + timedelta(days=rng.randrange(0, 24))
    return day + timedelta(minutes=rng.randrange(0, 8 * 60))


@dataclass
class _Slot:
    room: RoomSpec
    start: datetime
    fate: TopicFate
    single: bool = False
    """The room's only consultation of the year: no re-consultation may add a second."""


def _slots(rng: random.Random, town: TownSpec, town_index: int) -> list[_Slot]:
    """When each room's topics start: town rooms three a year, lower rooms two, plus extras.

    Towns at position 3 of every other block hold only one consultation in 2024 (below
    rule 9's two a year, §四.1), with a rejected topic beside it.
    """
    slots: list[_Slot] = []
    for year in YEARS:
        months: tuple[int, ...] = (2, 5, 9)
        single = year == 2024 and town_index % (2 * TOWNS_PER_BLOCK) == 3
        if single:
            months = (5,)
            slots.append(_Slot(town.room, _at(rng, year, 8), "rejected"))
        slots += [_Slot(town.room, _at(rng, year, m), "consult", single) for m in months]
        if rng.random() < 0.35:
            slots.append(_Slot(town.room, _at(rng, year, rng.choice((3, 6, 10))), "rejected"))
        for room in town.lower:
            slots += [_Slot(room, _at(rng, year, m), "consult") for m in (3, 7)]
            if rng.random() < 0.2:
                extra: TopicFate = rng.choice(("rejected", "withdrawn"))
                slots.append(_Slot(room, _at(rng, year, rng.choice((4, 8, 11))), extra))
    return slots


def _consultation(
    rng: random.Random, room: RoomSpec, setting: int | None, deck_index: int | None
) -> ConsultationPlan:
    index = (
        setting
        if setting is not None
        else rng.choices(range(len(REQUIRED_SETTINGS)), weights=_SETTING_WEIGHTS)[0]
    )
    form, venue, detail = REQUIRED_SETTINGS[index]
    shortfall = deck_index == 1 or (deck_index is None and rng.random() < 0.06)
    residents = rng.randrange(6, 13)
    others = rng.randrange(2, residents // 2 + 1)
    if shortfall:
        residents, others = rng.randrange(3, 5), rng.randrange(4, 7)
    motion = room.level == "village" or deck_index in (0, 3) or rng.random() < 0.4
    return ConsultationPlan(
        form=form,
        venue=venue,
        venue_detail=detail,
        residents=residents,
        others=others,
        quota_shortfall=shortfall,
        backdated_hold=deck_index == 2 or (deck_index is None and rng.random() < 0.02),
        motion=motion,
        defeated_first=motion and (deck_index == 3 or (deck_index is None and rng.random() < 0.08)),
        dissent=deck_index in (0, 4) or rng.random() < 0.3,
    )


def _outcome(rng: random.Random, fate: OutcomeFate, objections: int | None = None) -> OutcomePlan:
    adopted_as: AdoptedAs = (
        "consensus"
        if fate == "consensus"
        else rng.choice(("decision", "livelihood_project", "governance_measure"))
    )
    return OutcomePlan(
        kind=rng.choice(("opinion", "suggestion")),
        fate=fate,
        adopted_as=adopted_as,
        objections=objections if objections is not None else (1 if rng.random() < 0.15 else 0),
        escalation=rng.choice(ESCALATIONS),
    )


def _random_fate(rng: random.Random) -> OutcomeFate:
    fates = list(_FATE_WEIGHTS)
    return rng.choices(fates, weights=[_FATE_WEIGHTS[f] for f in fates])[0]


def _plans(rng: random.Random, towns: list[TownSpec], first_index: int) -> list[TopicPlan]:
    """The topics of one block, in start order, with the block's deck dealt first."""
    slots: list[_Slot] = []
    for offset, town in enumerate(towns):
        slots += _slots(rng, town, first_index + offset)
    slots.sort(key=lambda s: (s.start, s.room.key))
    titles: dict[str, list[tuple[str, str]]] = {}
    plans: list[TopicPlan] = []
    consulted = 0
    sources_dealt = 0
    escalation_dealt = False
    withdrawn_dealt = False
    for slot in slots:
        room = slot.room
        pool = titles.setdefault(room.key, [])
        if not pool:
            pool += rng.sample(TOPICS_BY_LEVEL[room.level], len(TOPICS_BY_LEVEL[room.level]))
        title, description = pool.pop()
        fate = slot.fate
        if fate == "consult" and not withdrawn_dealt and room.level != "town" and consulted > 6:
            fate, withdrawn_dealt = "withdrawn", True  # every block shows a withdrawal
        if sources_dealt < len(_SOURCES):
            source = _SOURCES[sources_dealt]
            sources_dealt += 1
        else:
            weights = _TOWN_SOURCE_WEIGHTS if room.level == "town" else _LOWER_SOURCE_WEIGHTS
            source = rng.choices(_SOURCES, weights=weights)[0]
        escalate = room.level != "town" and (not escalation_dealt or rng.random() < 0.2)
        escalation_dealt = escalation_dealt or escalate
        deck_index = consulted if fate == "consult" and consulted < len(REQUIRED_FATES) else None
        setting = consulted if fate == "consult" and consulted < len(REQUIRED_SETTINGS) else None
        outcomes: tuple[OutcomePlan, ...] = ()
        if fate == "consult":
            if deck_index is not None:
                first = _outcome(rng, REQUIRED_FATES[deck_index], 2 if deck_index == 0 else None)
            else:
                first = _outcome(rng, _random_fate(rng))
            outcomes = (first,)
            if rng.random() < 0.15:
                outcomes += (_outcome(rng, _random_fate(rng)),)
            if slot.single:
                outcomes = tuple(
                    _outcome(rng, "verified") if o.fate == "stalled_reconsulted" else o
                    for o in outcomes
                )
            consulted += 1
        plans.append(
            TopicPlan(
                room_key=room.key,
                start=slot.start,
                title=title,
                description=description,
                source=source,
                fate=fate,
                escalate_approval=escalate,
                consultation=_consultation(rng, room, setting, deck_index),
                outcomes=outcomes,
                seed=rng.getrandbits(64),
            )
        )
    return plans


def build_county(seed: int, scale: int = 1) -> County:
    """The county of ``seed``: ``scale`` blocks of four towns, their rooms and topic plans."""
    if not 1 <= scale <= MAX_SCALE:
        msg = f"scale must be between 1 and {MAX_SCALE}, not {scale}"
        raise ValueError(msg)
    rng = random.Random(seed)
    names = _Names(rng)
    county = rng.choice(COUNTIES)
    towns: list[TownSpec] = []
    plans: list[TopicPlan] = []
    for block in range(scale):
        first = block * TOWNS_PER_BLOCK
        block_towns = [_town(rng, names, county, first + i) for i in range(TOWNS_PER_BLOCK)]
        towns += block_towns
        plans += _plans(rng, block_towns, first)
    plans.sort(key=lambda p: p.start)  # stable: ties keep block order
    rooms = {room.key: room for town in towns for room in (town.room, *town.lower)}
    return County(
        seed=seed, scale=scale, name=county, towns=tuple(towns), plans=tuple(plans), rooms=rooms
    )
