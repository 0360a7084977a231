"""The codec: stable tags, byte-stable round trips, path-bearing errors, the upcaster."""

from __future__ import annotations

import json
from collections.abc import Iterator
from uuid import uuid4

import msgspec
import msgspec.inspect as mi
import pytest

from events.codec import (
    ALL_EVENTS,
    CURRENT_VERSIONS,
    EVENT_TYPES,
    UPCASTERS,
    decode,
    encode,
    tag_of,
    upcast,
)
from events.common import BaseEvent
from events.topic import TopicProposed
from service.domain.topic import Topic
from tests.support.scenario import Scenario, full_lifecycle, stored

TAGS = [
    "room.established",
    "room.convener_assigned",
    "room.liaison_assigned",
    "room.member_linked",
    "room.annual_plan_filed",
    "topic.proposed",
    "topic.approval_escalated",
    "topic.approved",
    "topic.rejected",
    "topic.filed",
    "topic.withdrawn",
    "consultation.research_group_formed",
    "consultation.research_finding_recorded",
    "consultation.participants_confirmed",
    "consultation.scheduled",
    "consultation.held",
    "consultation.opinion_recorded",
    "consultation.motion_put",
    "consultation.vote_cast",
    "consultation.motion_resolved",
    "consultation.consensus_reached",
    "consultation.dissent_recorded",
    "outcome.drafted",
    "outcome.reported",
    "outcome.adopted",
    "outcome.not_adopted",
    "outcome.publicity_published",
    "outcome.objection_received",
    "outcome.implementation_assigned",
    "outcome.progress_reported",
    "outcome.implementation_completed",
    "outcome.implementation_verified",
    "outcome.implementation_stalled",
    "outcome.reconsultation_opened",
    "outcome.feedback_delivered",
    "outcome.dissent_explained",
    "outcome.escalated",
    "outcome.closed",
]
"""The stored tags. Never rename or reuse one: old events carry them forever."""

V1_TOPIC_PROPOSED = {
    "type": "topic.proposed",
    "actor": {"id": "clerk-1", "role": "clerk"},
    "occurred_at": "2024-03-01T02:00:00Z",
    "recorded_at": "2024-03-01T02:00:00Z",
    "backdated": False,
    "schema_version": 1,
    "room_id": "0b6a4b63-8d8a-4b1e-9d0c-1f1c8e8f2a11",
    "room_level": "town",
    "title": "老旧小区加装电梯",
    "description": "",
    "source": "出题",
}


REQUIRED: dict[tuple[str, int], tuple[str, ...]] = {
    ("room.established", 1): ("name", "level", "region"),
    ("room.convener_assigned", 1): ("convener", "position"),
    ("room.liaison_assigned", 1): ("liaison",),
    ("room.member_linked", 1): ("member", "member_level"),
    ("room.annual_plan_filed", 1): ("year", "planned_consultations"),
    ("topic.proposed", 2): ("room_id", "room_level", "title", "source"),
    ("topic.approval_escalated", 1): ("upper_org",),
    ("topic.approved", 1): ("approving_org",),
    ("topic.rejected", 1): ("rejecting_org", "reason"),
    ("topic.filed", 1): ("filed_with",),
    ("topic.withdrawn", 1): ("reason",),
    ("consultation.research_group_formed", 1): (
        "topic_id",
        "room_id",
        "room_level",
        "members",
        "lead_id",
    ),
    ("consultation.research_finding_recorded", 1): ("method", "summary"),
    ("consultation.participants_confirmed", 1): (
        "participants",
        "resident_count",
        "participant_count",
        "quota_met",
    ),
    ("consultation.scheduled", 1): ("form", "venue", "scheduled_for", "host_id"),
    ("consultation.held", 1): ("room_id", "room_level", "form", "venue", "attendee_ids"),
    ("consultation.opinion_recorded", 1): ("speaker_id", "speaker_role", "stance", "text"),
    ("consultation.motion_put", 1): ("motion_id", "text"),
    ("consultation.vote_cast", 1): ("motion_id", "voter_id", "choice"),
    ("consultation.motion_resolved", 1): ("motion_id", "tally", "result"),
    ("consultation.consensus_reached", 1): ("summary",),
    ("consultation.dissent_recorded", 1): ("dissent_id", "person_ids", "position"),
    ("outcome.drafted", 1): ("consultation_id", "topic_id", "room_id", "kind", "title", "text"),
    ("outcome.reported", 1): ("recipients",),
    ("outcome.adopted", 1): ("adopted_as", "decided_by", "needs_implementation"),
    ("outcome.not_adopted", 1): ("decided_by", "reason"),
    ("outcome.publicity_published", 1): ("channel", "starts_on", "ends_on"),
    ("outcome.objection_received", 1): ("objector_id", "text"),
    ("outcome.implementation_assigned", 1): ("unit", "deadline"),
    ("outcome.progress_reported", 1): ("percent",),
    ("outcome.implementation_completed", 1): ("summary",),
    ("outcome.implementation_verified", 1): ("effective",),
    ("outcome.implementation_stalled", 1): ("cause",),
    ("outcome.reconsultation_opened", 1): ("new_topic_id",),
    ("outcome.feedback_delivered", 1): ("channel", "summary"),
    ("outcome.dissent_explained", 1): ("dissent_id", "explanation"),
    ("outcome.escalated", 1): ("category", "to_level", "summary"),
    ("outcome.closed", 1): (),
}
"""Required fields of each (tag, schema_version) beyond actor/occurred_at/recorded_at.
Stored events keep their layout forever: a new field comes with a default, or with a new
schema_version and an upcaster (then add a row here; never edit an existing one)."""

REQUIRED_IN_PARTS: dict[str, tuple[str, ...]] = {
    "Actor": ("id", "role"),
    "Person": ("id", "name"),
    "Region": ("county", "town"),
    "Participant": ("id", "name", "role"),
    "Tally": ("votes_for", "votes_against", "abstentions", "present"),
}
"""Required fields of the Structs nested in events; the same rule holds for them."""


def _structs_within(t: mi.Type) -> Iterator[mi.StructType]:
    if isinstance(t, mi.Metadata):
        yield from _structs_within(t.type)
    elif isinstance(t, mi.StructType):
        yield t
        for field in t.fields:
            yield from _structs_within(field.type)
    elif isinstance(t, mi.ListType):
        yield from _structs_within(t.item_type)
    elif isinstance(t, mi.UnionType):
        for member in t.types:
            yield from _structs_within(member)


class TestEvolution:
    def test_no_required_field_is_added_or_dropped_within_a_version(self) -> None:
        """New fields only with defaults (docs/events.md, "Schema evolution")."""
        common = {"actor", "occurred_at", "recorded_at"}
        found = {}
        for cls in ALL_EVENTS:
            info = mi.type_info(cls)
            assert isinstance(info, mi.StructType)
            required = [f.name for f in info.fields if f.required]
            assert set(required) >= common, tag_of(cls)
            key = (tag_of(cls), CURRENT_VERSIONS[tag_of(cls)])
            found[key] = tuple(name for name in required if name not in common)
        assert found == {key: REQUIRED[key] for key in found}, (
            "a required field changed without a new schema_version and upcaster"
        )

    def test_nested_structs_keep_their_required_fields(self) -> None:
        """Region, Participant and the rest are stored inside events: same rule."""
        nested = {
            s.cls.__name__: tuple(f.name for f in s.fields if f.required)
            for cls in ALL_EVENTS
            for s in _structs_within(mi.type_info(cls))
            if s.cls not in ALL_EVENTS
        }
        assert nested == REQUIRED_IN_PARTS

    def test_every_older_version_has_its_upcaster(self) -> None:
        """Each version below the current one of a tag is reachable by an upcaster."""
        for tag, version in CURRENT_VERSIONS.items():
            for old in range(1, version):
                assert (tag, old) in UPCASTERS, (tag, old)


@pytest.fixture(scope="module")
def states() -> list[bytes]:
    """Every stored payload of a full run of the procedure."""
    s = Scenario()
    full_lifecycle(s)
    return [row[4] for row in stored(s.app)]


class TestTags:
    def test_tags_are_stable(self) -> None:
        """The set and spelling of tags is fixed; a change here breaks stored history."""
        assert list(EVENT_TYPES) == TAGS

    def test_each_event_names_family_seed_and_meaning(self) -> None:
        """Tags start with the aggregate family; every event cites the seed and says why."""
        for cls in ALL_EVENTS:
            assert tag_of(cls).startswith(cls.family + ".")
            assert cls.seed.startswith("§")
            assert cls.__doc__
            assert cls.__struct_config__.frozen
            assert cls.__struct_config__.tag_field == "type"

    def test_every_event_carries_actor_and_both_times(self) -> None:
        """actor, occurred_at, recorded_at and backdated are on every event."""
        for cls in ALL_EVENTS:
            assert {"actor", "occurred_at", "recorded_at", "backdated"} <= set(
                cls.__struct_fields__
            )

    def test_base_event_is_not_in_the_union(self) -> None:
        """Only concrete, tagged events are stored."""
        assert BaseEvent not in ALL_EVENTS


class TestRoundTrip:
    def test_decode_then_encode_is_byte_stable(self, states: list[bytes]) -> None:
        """Re-encoding a decoded payload reproduces the stored bytes exactly."""
        for state in states:
            assert encode(decode(state)) == state

    def test_payload_starts_with_its_tag(self, states: list[bytes]) -> None:
        """A reader sees the type first, as plain JSON."""
        for state in states:
            assert state.startswith(b'{"type":"')
            assert json.loads(state)["type"] in EVENT_TYPES


class TestValidationOnDecode:
    def test_error_carries_the_path(self, states: list[bytes]) -> None:
        """A bad nested value is reported at its path."""
        state = next(s for s in states if b"participants_confirmed" in s)
        data = json.loads(state)
        data["participants"][2]["role"] = "mayor"
        with pytest.raises(msgspec.ValidationError, match=r"at `\$\.participants\[2\]\.role`"):
            decode(json.dumps(data).encode())

    def test_unknown_tag_is_refused(self) -> None:
        """A payload of no known type does not decode."""
        with pytest.raises(msgspec.ValidationError, match=r"Invalid value 'room\.demolished'"):
            decode(b'{"type":"room.demolished"}')

    def test_fields_from_a_newer_writer_are_ignored(self, states: list[bytes]) -> None:
        """Forward compatibility: an added field does not stop an older reader."""
        data = json.loads(states[0])
        data["added_later"] = {"x": 1}
        assert decode(json.dumps(data).encode()) == decode(states[0])

    def test_naive_datetime_is_refused(self, states: list[bytes]) -> None:
        """Stored times must carry an offset."""
        data = json.loads(states[0])
        data["occurred_at"] = "2024-03-01T09:00:00"
        with pytest.raises(msgspec.ValidationError, match=r"\$\.occurred_at"):
            decode(json.dumps(data).encode())


class TestUpcaster:
    def test_v1_topic_proposed_decodes_as_v2(self) -> None:
        """topic.proposed v1 (Chinese source label) is upcast to v2 (English code)."""
        event = decode(json.dumps(V1_TOPIC_PROPOSED).encode())
        assert isinstance(event, TopicProposed)
        assert event.schema_version == CURRENT_VERSIONS["topic.proposed"] == 2
        assert event.source == "residents"
        assert event.title == "老旧小区加装电梯"

    def test_upcast_maps_each_label(self) -> None:
        """Each of the four v1 labels maps to its code (§四.3)."""
        expected = {
            "点题": "party_government",
            "荐题": "member",
            "出题": "residents",
            "公开征集": "public_call",
        }
        for label, code in expected.items():
            upgraded = upcast({**V1_TOPIC_PROPOSED, "source": label})
            assert upgraded["source"] == code
            assert upgraded["schema_version"] == 2

    def test_v1_valid_in_shape_is_still_upcast(self) -> None:
        """A v1 payload is upcast even when it would decode as v2 without help."""
        payload = {**V1_TOPIC_PROPOSED, "source": "member"}
        event = decode(json.dumps(payload).encode())
        assert event.schema_version == 2

    def test_a_stored_v1_event_replays_into_the_aggregate(self, s: Scenario) -> None:
        """An aggregate rebuilt from a v1 event sees the upcast value."""
        topic_id = uuid4()
        from eventsourcing.persistence import StoredEvent  # noqa: PLC0415

        s.app.recorder.insert_events(
            [
                StoredEvent(
                    originator_id=topic_id,
                    originator_version=1,
                    topic="topic.proposed",
                    state=json.dumps(V1_TOPIC_PROPOSED, ensure_ascii=False).encode(),
                )
            ]
        )
        topic = s.app.get_topic(topic_id)
        assert isinstance(topic, Topic)
        assert topic.source == "residents"

    def test_a_missing_upcaster_is_an_error(self) -> None:
        """A version gap without an upcaster fails loudly rather than guessing."""
        with pytest.raises(msgspec.ValidationError, match="no upcaster"):
            upcast({**V1_TOPIC_PROPOSED, "schema_version": 0})
