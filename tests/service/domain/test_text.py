"""Text a command may carry (service.domain.text): refused at the command, kept in the log.

The rule applies where a command enters (here ``build_event``, which every caller of the
application goes through, HTTP or not); an event stored before it, holding what it now
refuses, still decodes as it was.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from events.codec import decode, encode
from events.common import Actor, Person
from events.consultation import OpinionRecorded, ResearchGroupFormed
from events.room import Region, RoomEstablished
from service.domain.base import Act, build_event
from service.domain.errors import ValidationError
from service.domain.text import check_texts, text_fault

NOW = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
ACT = Act(actor=Actor(id="clerk-1", role="clerk"), occurred_at=NOW, recorded_at=NOW)
REGION = {"county": "清河县", "town": "柳溪镇"}


@pytest.mark.parametrize(
    ("value", "free_text", "why"),
    [
        ("柳溪镇协商议事室", False, None),
        ("O'Brien-Ågren 3", False, None),
        ("", False, None),  # emptiness is min_length's to refuse, not this rule's
        ("第一行\n第二行\r\n\t第三行", True, None),
        ("a\nb", False, "U+000A"),
        ("a\tb", False, "U+0009"),
        ("a\x00b", True, "U+0000"),
        ("a\x0bb", True, "U+000B"),
        ("a\x1bb", True, "U+001B"),
        ("a\x7fb", True, "U+007F"),
        ("a\x85b", True, "U+0085"),
        ("a\x9fb", True, "U+009F"),
        ("a\u202ab", False, "bidi"),
        ("a\u202eb", True, "bidi"),
        ("a\u2066b", False, "bidi"),
        ("a\u2069b", True, "bidi"),
        (" ", False, "whitespace"),
        ("\u3000", False, "whitespace"),
        (" \n\t ", True, "whitespace"),
    ],
)
def test_text_fault(value: str, free_text: bool, why: str | None) -> None:
    fault = text_fault(value, free_text=free_text)
    if why is None:
        assert fault is None
    else:
        assert fault is not None
        assert why in fault[1]
        assert fault[0]  # a Chinese message beside it


def test_build_event_refuses_and_names_the_path() -> None:
    with pytest.raises(ValidationError) as refused:
        build_event(
            RoomEstablished, ACT, {"name": "议事\u202e室", "level": "town", "region": REGION}
        )
    assert refused.value.field == "name"
    with pytest.raises(ValidationError) as refused:
        build_event(
            RoomEstablished,
            ACT,
            {"name": "议事室", "level": "town", "region": {**REGION, "locality": "\x00"}},
        )
    assert refused.value.field == "region.locality"
    members = [{"id": "a", "name": "甲"}, {"id": "b", "name": "\t乙"}]
    group = {"topic_id": uuid4(), "room_id": uuid4(), "room_level": "town", "lead_id": "a"}
    with pytest.raises(ValidationError) as refused:
        build_event(ResearchGroupFormed, ACT, {**group, "members": members})
    assert refused.value.field == "members[1].name"


def test_free_text_keeps_its_line_breaks() -> None:
    said = {"speaker_id": "r0", "speaker_role": "resident_rep", "stance": "suggestion"}
    event = build_event(OpinionRecorded, ACT, {**said, "text": "一、停车。\n二、路灯。"})
    assert event.text == "一、停车。\n二、路灯。"
    with pytest.raises(ValidationError) as refused:
        build_event(OpinionRecorded, ACT, {**said, "speaker_id": "r0\n", "text": "一"})
    assert refused.value.field == "speaker_id"


def test_a_stored_event_holding_such_text_still_decodes() -> None:
    """Struct constructors skip validation, as an event stored before the rule did."""
    old = RoomEstablished(
        actor=ACT.actor,
        occurred_at=NOW,
        recorded_at=NOW,
        name="议事\u202e室\x00",
        level="town",
        region=Region(county="清河县", town="   "),
    )
    assert decode(encode(old)) == old
    with pytest.raises(ValidationError):
        check_texts(old, RoomEstablished)


def test_people_and_ids_are_one_line() -> None:
    with pytest.raises(ValidationError) as refused:
        check_texts([Person(id="p\n1", name="甲")], list[Person])
    assert refused.value.field == "[0].id"
