"""The msgspec mapper: what eventsourcing's StoredEvent holds, and how it is read back."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import MapperDeserialisationError, StoredEvent

from events.codec import encode
from events.mapper import EventEnvelope, MsgspecMapper, MsgspecTranscoder
from tests.support.scenario import POPO_ENV, Scenario


@pytest.fixture
def recorded(s: Scenario) -> tuple[StoredEvent, EventEnvelope]:
    """A room's first event as stored, and as the application produced it."""
    room = s.town_room()
    stored_event = next(iter(s.app.recorder.select_events(room)))
    envelope = s.app.mapper.to_domain_event(stored_event)
    assert isinstance(envelope, EventEnvelope)
    return stored_event, envelope


class TestToStoredEvent:
    def test_topic_is_the_tag_and_state_the_json(
        self, recorded: tuple[StoredEvent, EventEnvelope]
    ) -> None:
        """topic is the stable tag; state is exactly the msgspec JSON of the Struct."""
        stored_event, envelope = recorded
        assert stored_event.topic == "room.established"
        assert stored_event.state == encode(envelope.payload)
        assert stored_event.originator_version == 1

    def test_only_envelopes_are_stored(self) -> None:
        """Anything else is a programming error, reported as such."""
        with pytest.raises(TypeError):
            MsgspecMapper().to_stored_event(object())


class TestToDomainEvent:
    def test_string_ids_become_uuids(self, recorded: tuple[StoredEvent, EventEnvelope]) -> None:
        """A store that returns ids as strings (e.g. from headers) still yields UUIDs."""
        stored_event, envelope = recorded
        as_str = replace(stored_event, originator_id=str(stored_event.originator_id))
        again = MsgspecMapper().to_domain_event(as_str)
        assert isinstance(again.originator_id, UUID)
        assert again == envelope

    def test_timestamp_is_recorded_at(self, recorded: tuple[StoredEvent, EventEnvelope]) -> None:
        """eventsourcing's timestamp (modified_on) is when we recorded the event."""
        _, envelope = recorded
        assert envelope.timestamp == envelope.payload.recorded_at

    def test_topic_and_payload_must_agree(
        self, recorded: tuple[StoredEvent, EventEnvelope]
    ) -> None:
        """A payload filed under another topic is refused."""
        stored_event, _ = recorded
        with pytest.raises(MapperDeserialisationError, match=r"room\.established"):
            MsgspecMapper().to_domain_event(replace(stored_event, topic="room.member_linked"))

    def test_invalid_state_names_event_and_path(
        self, recorded: tuple[StoredEvent, EventEnvelope]
    ) -> None:
        """Decoding errors say which stored event and which field."""
        stored_event, _ = recorded
        bad = stored_event.state.replace(b'"level":"town"', b'"level":"city"')
        with pytest.raises(MapperDeserialisationError, match=r"v1 .*\$\.level"):
            MsgspecMapper().to_domain_event(replace(stored_event, state=bad))


class TestPlugging:
    def test_environment_selects_the_mapper_for_any_application(
        self, recorded: tuple[StoredEvent, EventEnvelope]
    ) -> None:
        """MAPPER_TOPIC/TRANSCODER_TOPIC plug it into a plain eventsourcing Application."""
        stored_event, envelope = recorded
        app: Application[UUID] = Application(
            env={
                **POPO_ENV,
                "MAPPER_TOPIC": "events.mapper:MsgspecMapper",
                "TRANSCODER_TOPIC": "events.mapper:MsgspecTranscoder",
            }
        )
        assert isinstance(app.mapper, MsgspecMapper)
        assert isinstance(app.mapper.transcoder, MsgspecTranscoder)
        assert app.mapper.to_domain_event(stored_event) == envelope

    def test_the_default_transcoder_is_replaced(self) -> None:
        """Given eventsourcing's JSONTranscoder (no TRANSCODER_TOPIC), ours is used."""
        app: Application[UUID] = Application(
            env={**POPO_ENV, "MAPPER_TOPIC": "events.mapper:MsgspecMapper"}
        )
        assert isinstance(app.mapper.transcoder, MsgspecTranscoder)
