"""The codec: stable tags, byte-stable round trips, path-bearing errors, the upcaster."""

from __future__ import annotations

import json
from uuid import uuid4

import msgspec
import pytest

from events.codec import (
    ALL_EVENTS,
    CURRENT_VERSIONS,
    EVENT_TYPES,
    decode,
    encode,
    tag_of,
    upcast,
)
from events.common import BaseEvent
from events.topic import TopicProposed
from service.domain.topic import Topic
from tests.domain.scenario import Scenario, full_lifecycle, stored

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
