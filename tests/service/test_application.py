"""The application: times, input validation, lookups, and the whole procedure end to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest

from events.codec import EVENT_TYPES, decode
from events.common import LATE_ENTRY, Actor, Person
from events.room import Region
from service.application import HaoshangliangApplication
from service.domain.errors import NotFoundError, ValidationError
from service.domain.rules import FUTURE_TOLERANCE
from service.domain.topic import Topic
from tests.support.scenario import (
    CLERK,
    CONVENER,
    POPO_ENV,
    Scenario,
    full_lifecycle,
    participants,
    refused,
    stored,
)


class TestTimes:
    def test_future_occurrence_is_refused(self, s: Scenario) -> None:
        """occurred_at later than our clock (beyond the skew tolerance) is refused."""
        with refused(s.app, ValidationError) as info:
            s.app.establish_room(
                actor=CLERK,
                occurred_at=s.clock.now + FUTURE_TOLERANCE + timedelta(seconds=1),
                name="议事室",
                level="town",
                region=Region(county="淮安区", town="淮城镇"),
            )
        assert info.value.field == "occurred_at"

    def test_naive_occurrence_is_refused(self, s: Scenario) -> None:
        """A timestamp without an offset is ambiguous and refused, naming the field."""
        with refused(s.app, ValidationError) as info:
            s.app.establish_room(
                actor=CLERK,
                occurred_at=datetime(2024, 1, 1, 9, 0),
                name="议事室",
                level="town",
                region=Region(county="淮安区", town="淮城镇"),
            )
        assert info.value.field == "occurred_at"

    def test_recorded_at_comes_from_our_clock_in_utc(self, s: Scenario) -> None:
        """recorded_at is the server's clock; occurred_at is stored in UTC too."""
        beijing = timezone(timedelta(hours=8))
        occurred = (s.clock.now - timedelta(hours=2)).astimezone(beijing)
        s.app.establish_room(
            actor=CLERK,
            occurred_at=occurred,
            name="议事室",
            level="town",
            region=Region(county="淮安区", town="淮城镇"),
        )
        state = stored(s.app)[-1][4]
        event = decode(state)
        assert event.recorded_at == s.clock.now
        assert event.occurred_at == occurred
        assert event.occurred_at.tzinfo == UTC
        assert b'"recorded_at":"2024-03-01T01:00:00Z"' in state

    def test_every_timestamp_is_stored_in_utc(self, s: Scenario) -> None:
        """A time given at +08:00 (scheduled_for) is stored with 'Z', like occurred_at."""
        consultation = s.research()
        s.app.confirm_participants(
            consultation,
            actor=CONVENER,
            occurred_at=s.at(),
            participants=participants(residents=4, others=2),
        )
        beijing = timezone(timedelta(hours=8))
        meeting = datetime(2024, 3, 5, 9, 0, tzinfo=beijing)
        s.app.schedule_consultation(
            consultation,
            actor=CONVENER,
            occurred_at=s.at().astimezone(beijing),
            form="meeting",
            venue="room",
            scheduled_for=meeting,
            host_id="convener-1",
        )
        state = stored(s.app)[-1][4]
        assert b'"scheduled_for":"2024-03-05T01:00:00Z"' in state
        assert s.app.get_consultation(consultation).scheduled_for == meeting

    def test_a_naive_scheduled_time_is_refused(self, s: Scenario) -> None:
        """Every timestamp field needs an offset, not only occurred_at."""
        consultation = s.research()
        s.app.confirm_participants(
            consultation,
            actor=CONVENER,
            occurred_at=s.at(),
            participants=participants(residents=4, others=2),
        )
        with refused(s.app, ValidationError) as info:
            s.app.schedule_consultation(
                consultation,
                actor=CONVENER,
                occurred_at=s.at(),
                form="meeting",
                venue="room",
                scheduled_for=datetime(2024, 3, 5, 9, 0),
                host_id="convener-1",
            )
        assert info.value.field == "scheduled_for"

    @pytest.mark.parametrize(
        ("late_by", "backdated"),
        [
            (LATE_ENTRY - timedelta(minutes=1), False),
            (LATE_ENTRY + timedelta(minutes=1), True),
        ],
    )
    def test_late_entries_are_accepted_and_marked(
        self, s: Scenario, late_by: timedelta, backdated: bool
    ) -> None:
        """An event recorded long after it occurred is stored, with backdated set."""
        s.app.establish_room(
            actor=CLERK,
            occurred_at=s.clock.now - late_by,
            name="议事室",
            level="town",
            region=Region(county="淮安区", town="淮城镇"),
        )
        assert decode(stored(s.app)[-1][4]).backdated is backdated


class TestValidation:
    def test_bad_field_is_named_with_its_path(self, s: Scenario) -> None:
        """msgspec's path reaches the clerk: participants[1].role."""
        consultation = s.research()
        people = participants(residents=3, others=0)
        bad = [people[0], people[1].__class__(id="x", name="某人", role="mayor"), people[2]]  # type: ignore[arg-type]
        with refused(s.app, ValidationError) as info:
            s.app.confirm_participants(
                consultation, actor=CONVENER, occurred_at=s.at(), participants=bad
            )
        assert info.value.field == "participants[1].role"
        assert info.value.status == 422

    def test_empty_text_is_refused(self, s: Scenario) -> None:
        """Meta constraints apply on command, not only on decode."""
        room = s.town_room()
        with refused(s.app, ValidationError) as info:
            s.app.propose_topic(room, actor=CLERK, occurred_at=s.at(), title="", source="residents")
        assert info.value.field == "title"

    def test_bad_actor_is_refused(self, s: Scenario) -> None:
        """The actor's id and role are validated like any field."""
        with refused(s.app, ValidationError) as info:
            s.app.establish_room(
                actor=Actor(id="", role="clerk"),
                occurred_at=s.at(),
                name="议事室",
                level="town",
                region=Region(county="淮安区", town="淮城镇"),
            )
        assert info.value.field == "actor.id"

    def test_village_room_names_its_locality(self, s: Scenario) -> None:
        """A village room without a village name is refused."""
        with refused(s.app, ValidationError) as info:
            s.app.establish_room(
                actor=CLERK,
                occurred_at=s.at(),
                name="村议事室",
                level="village",
                region=Region(county="淮安区", town="淮城镇"),
            )
        assert info.value.field == "region.locality"

    def test_a_parent_room_is_a_town_room(self, s: Scenario) -> None:
        """A village room hangs under its town's room, not under another village's."""
        village = s.village_room()
        with refused(s.app, ValidationError) as info:
            s.app.establish_room(
                actor=CLERK,
                occurred_at=s.at(),
                name="社区议事室",
                level="community",
                region=Region(county="淮安区", town="淮城镇", locality="某社区"),
                parent_room_id=village,
            )
        assert info.value.field == "parent_room_id"

    def test_vote_by_non_attendee_is_refused(self, s: Scenario) -> None:
        """Only those present vote, once each."""
        consultation = s.held()
        motion = s.app.put_motion(consultation, actor=CONVENER, occurred_at=s.at(), text="动议")
        with refused(s.app, ValidationError) as info:
            s.app.cast_vote(
                consultation,
                actor=CONVENER,
                occurred_at=s.at(),
                motion_id=motion,
                voter_id="stranger",
                choice="for",
            )
        assert info.value.field == "voter_id"


class TestLookups:
    def test_unknown_ids_raise_not_found(self, s: Scenario) -> None:
        """Commands on missing aggregates raise NotFoundError (404) and write nothing."""
        with refused(s.app, NotFoundError) as info:
            s.app.assign_liaison(
                uuid4(), actor=CLERK, occurred_at=s.at(), liaison=Person(id="l", name="联络员")
            )
        assert info.value.status == 404

    def test_an_id_of_another_kind_is_not_found(self, s: Scenario) -> None:
        """A topic id is not a room id."""
        topic = s.proposed_topic()
        with pytest.raises(NotFoundError):
            s.app.get_room(topic)

    def test_as_of_state_replays_to_a_version(self, s: Scenario) -> None:
        """The repository rebuilds any past version, as auditors need."""
        topic = s.approved_topic()
        past: Topic = s.app.repository.get(topic, version=1)
        assert past.status == "proposed"
        assert s.app.get_topic(topic).status == "approved"


class TestWholeProcedure:
    def test_every_event_kind_is_produced(self, s: Scenario) -> None:
        """Running every command stores every event type, each readable again."""
        full_lifecycle(s)
        rows = stored(s.app)
        assert {row[3] for row in rows} == set(EVENT_TYPES)
        for row in rows:
            assert decode(row[4]).__struct_config__.tag == row[3]

    def test_motion_result_follows_the_majority_of_those_present(self, s: Scenario) -> None:
        """With 9 present, 3 votes for do not carry a motion."""
        consultation = s.held()
        motion = s.app.put_motion(consultation, actor=CONVENER, occurred_at=s.at(), text="动议")
        for voter in ("resident-0", "resident-1", "resident-2"):
            s.app.cast_vote(
                consultation,
                actor=CONVENER,
                occurred_at=s.at(),
                motion_id=motion,
                voter_id=voter,
                choice="for",
            )
        result = s.app.resolve_motion(
            consultation, actor=CONVENER, occurred_at=s.at(), motion_id=motion
        )
        assert result == "defeated"

    def test_any_persistence_module_is_accepted(self) -> None:
        """The application is built from eventsourcing's factory; the mapper is always ours."""
        app = HaoshangliangApplication(env=POPO_ENV)
        assert type(app.mapper).__name__ == "MsgspecMapper"
        assert type(app.factory).__module__ == "eventsourcing.popo"
