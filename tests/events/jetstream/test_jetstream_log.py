"""The log's guarantees, each checked against a real nats-server on a temporary store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import nats
import nats.js.errors
import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import DataError, IntegrityError, StoredEvent
from eventsourcing.utils import Environment

from events.jetstream import operations
from events.jetstream.factory import JetStreamFactory
from events.jetstream.recorders import JetStreamApplicationRecorder
from events.jetstream.stream_layout import StreamLayout
from service.nats.bundled_server import NatsServerError, NatsServerProcess, check_server_version
from tests.support.ack_dropping_proxy import AckDroppingProxy


def _event(originator_id: uuid.UUID, version: int, state: bytes = b"{}") -> StoredEvent:
    return StoredEvent(
        originator_id=originator_id, originator_version=version, topic="t", state=state
    )


@pytest.fixture
def factories() -> Iterator[list[JetStreamFactory]]:
    made: list[JetStreamFactory] = []
    yield made
    for factory in made:
        factory.close()


def _recorder(
    url: str, factories: list[JetStreamFactory], name: str = "Log"
) -> JetStreamApplicationRecorder:
    """A recorder with its own connection and position cache, as in a separate process."""
    factory = JetStreamFactory(Environment(name=name, env={"NATS_URL": url}))
    factories.append(factory)
    recorder = factory.application_recorder()
    assert isinstance(recorder, JetStreamApplicationRecorder)
    return recorder


async def _raw(url: str, action: str, stream: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        if action == "purge":
            await js.purge_stream(stream)
        elif action == "delete":
            await js.delete_msg(stream, 1)
        elif action == "rollup":
            await js.publish(
                f"hsl.{stream}.events.{uuid4()}", b"{}", headers={"Nats-Rollup": "all"}
            )
        elif action == "unlimit":
            info = await js.stream_info(stream)
            config = info.config
            config.deny_delete = False
            await js.update_stream(config)
    finally:
        await nc.close()


class TestImmutability:
    @pytest.mark.parametrize("action", ["purge", "delete", "rollup", "unlimit"])
    def test_server_refuses_removing_events(
        self, nats_url: str, factories: list[JetStreamFactory], action: str
    ) -> None:
        """Purge, delete, roll-up and lifting delete protection are refused by the server."""
        recorder = _recorder(nats_url, factories)
        recorder.insert_events([_event(uuid4(), 1), _event(uuid4(), 1)])
        with pytest.raises(nats.js.errors.APIError):
            asyncio.run(_raw(nats_url, action, recorder.layout.stream))
        assert [n.id for n in recorder.select_notifications(None, 10)] == [1, 2]


class TestConcurrency:
    def test_conflicting_commit_writes_nothing(
        self, nats_url: str, factories: list[JetStreamFactory]
    ) -> None:
        """Two writers at the same version: the second gets IntegrityError and stores nothing."""
        first = _recorder(nats_url, factories)
        second = _recorder(nats_url, factories)
        aggregate = uuid4()
        first.insert_events([_event(aggregate, 1)])
        assert len(second.select_events(aggregate)) == 1  # both now hold version 1
        first.insert_events([_event(aggregate, 2, b'{"by":"first"}')])
        with pytest.raises(IntegrityError, match="already at version 2"):
            second.insert_events([_event(aggregate, 2, b'{"by":"second"}')])
        stored = first.select_events(aggregate)
        assert [(e.originator_version, e.state) for e in stored] == [
            (1, b"{}"),
            (2, b'{"by":"first"}'),
        ]
        assert first.max_notification_id() == 2

    def test_stale_writer_that_never_read_is_refused_by_the_server(
        self, nats_url: str, factories: list[JetStreamFactory]
    ) -> None:
        """A writer with no cached position still cannot overwrite: the server checks."""
        first = _recorder(nats_url, factories)
        blind = _recorder(nats_url, factories)
        aggregate = uuid4()
        first.insert_events([_event(aggregate, 1), _event(aggregate, 2)])
        with pytest.raises(IntegrityError):
            blind.insert_events([_event(aggregate, 2, b'{"other":1}')])
        assert first.max_notification_id() == 2

    def test_multi_aggregate_commit_conflicting_on_one_writes_nothing(
        self, nats_url: str, factories: list[JetStreamFactory]
    ) -> None:
        """A commit over three aggregates that conflicts on one stores none of them."""
        recorder = _recorder(nats_url, factories)
        other = _recorder(nats_url, factories)
        a, b, c = uuid4(), uuid4(), uuid4()
        recorder.insert_events([_event(a, 1)])
        other.select_events(a)
        other.insert_events([_event(a, 2)])
        with pytest.raises(IntegrityError):
            recorder.insert_events([_event(b, 1), _event(a, 2), _event(c, 1), _event(c, 2)])
        assert recorder.select_events(b) == []
        assert recorder.select_events(c) == []
        assert recorder.max_notification_id() == 2

    def test_stale_cache_is_corrected_and_commit_succeeds(
        self, nats_url: str, factories: list[JetStreamFactory]
    ) -> None:
        """A writer whose cached position is merely old (no real conflict) still commits."""
        writer = _recorder(nats_url, factories)
        other = _recorder(nats_url, factories)
        aggregate = uuid4()
        writer.insert_events([_event(aggregate, 1)])
        other.select_events(aggregate)
        other.insert_events([_event(aggregate, 2)])
        # writer still believes version 1 is last; version 3 does not conflict.
        assert writer.insert_events([_event(aggregate, 3)]) == [3]
        assert [e.originator_version for e in writer.select_events(aggregate)] == [1, 2, 3]


class TestFastForward:
    def test_reading_after_a_known_version_reads_only_what_came_after(
        self, nats_url: str, factories: list[JetStreamFactory], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """gt = a version whose sequence the recorder knows: the subject is read from there on,
        and events another writer stored meanwhile are found."""
        ours = _recorder(nats_url, factories)
        theirs = _recorder(nats_url, factories)
        aggregate = uuid4()
        ours.insert_events([_event(aggregate, 1), _event(aggregate, 2), _event(aggregate, 3)])
        assert len(theirs.select_events(aggregate)) == 3
        theirs.insert_events([_event(aggregate, 4, b'{"by":"theirs"}')])
        starts: list[int] = []
        read_subject = ours._read_subject

        async def noted(subject: str, start_seq: int = 1) -> list[operations.StoredMessage]:
            starts.append(start_seq)
            return await read_subject(subject, start_seq)

        monkeypatch.setattr(ours, "_read_subject", noted)
        newer = ours.select_events(aggregate, gt=3)
        assert [(e.originator_version, e.state) for e in newer] == [(4, b'{"by":"theirs"}')]
        assert starts == [4]  # after version 3's sequence, not from 1
        assert [e.originator_version for e in ours.select_events(aggregate, gt=1)] == [2, 3, 4]
        assert starts[-1] == 2  # it stored version 1 itself, so it knows where
        assert [e.originator_version for e in theirs.select_events(aggregate, gt=1)] == [2, 3, 4]


class TestIdempotentRetry:
    @pytest.fixture
    def proxy(self, nats_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AckDroppingProxy]:
        """A proxy that can lose an ack, with a short request timeout so the retry comes soon."""
        monkeypatch.setattr(operations, "REQUEST_TIMEOUT", 0.5)
        made = AckDroppingProxy(nats_url)
        yield made
        made.close()

    def test_commit_whose_ack_is_lost_is_stored_once(
        self, nats_url: str, factories: list[JetStreamFactory], proxy: AckDroppingProxy
    ) -> None:
        """The ack of a stored commit never arrives; the retry finds it stored and succeeds."""
        recorder = _recorder(proxy.url, factories)
        aggregate = uuid4()
        recorder.insert_events([_event(aggregate, 1)])
        proxy.drop_next_ack()
        ids = recorder.insert_events([_event(aggregate, 2), _event(aggregate, 3)])
        assert proxy.dropped.is_set()
        assert ids == [2, 3]
        direct = _recorder(nats_url, factories)
        assert [e.originator_version for e in direct.select_events(aggregate)] == [1, 2, 3]
        assert direct.max_notification_id() == 3

    def test_single_event_commit_whose_ack_is_lost_is_stored_once(
        self, factories: list[JetStreamFactory], proxy: AckDroppingProxy
    ) -> None:
        """Same for a one-event commit, which is a plain publish rather than a batch."""
        recorder = _recorder(proxy.url, factories)
        proxy.drop_next_ack()
        assert recorder.insert_events([_event(uuid4(), 1)]) == [1]
        assert proxy.dropped.is_set()
        assert recorder.max_notification_id() == 1

    def test_reinserting_a_stored_event_is_a_conflict(
        self, nats_url: str, factories: list[JetStreamFactory]
    ) -> None:
        """A new call with an already stored event is refused, not silently accepted."""
        recorder = _recorder(nats_url, factories)
        fresh = _recorder(nats_url, factories)
        aggregate = uuid4()
        recorder.insert_events([_event(aggregate, 1)])
        with pytest.raises(IntegrityError):
            fresh.insert_events([_event(aggregate, 1)])
        assert recorder.max_notification_id() == 1


class TestDurability:
    def test_events_survive_server_restart(
        self, tmp_path: Path, factories: list[JetStreamFactory]
    ) -> None:
        """Events written before a server stop are read back unchanged after a start."""
        store = tmp_path / "store"
        server = NatsServerProcess(store_dir=store)
        server.start()
        aggregate = uuid4()
        written = [_event(aggregate, v, f'{{"v":{v}}}'.encode()) for v in (1, 2, 3)]
        try:
            recorder = _recorder(server.url, factories)
            recorder.insert_events(written)
            for factory in factories:
                factory.close()
            factories.clear()
        finally:
            server.stop()
        restarted = NatsServerProcess(store_dir=store)
        restarted.start()
        try:
            recorder = _recorder(restarted.url, factories)
            assert recorder.select_events(aggregate) == written
            assert [n.id for n in recorder.select_notifications(None, 10)] == [1, 2, 3]
        finally:
            for factory in factories:
                factory.close()
            factories.clear()
            restarted.stop()


class TestPayloadLimit:
    def test_oversized_event_fails_clearly_and_writes_nothing(
        self, nats_url: str, factories: list[JetStreamFactory]
    ) -> None:
        """An event over max_payload raises DataError naming sizes; no event of it is stored."""
        recorder = _recorder(nats_url, factories)
        aggregate = uuid4()
        huge = b'"' + b"x" * (1024 * 1024) + b'"'
        with pytest.raises(DataError, match=r"version 2 .* bytes; the NATS server accepts at most"):
            recorder.insert_events([_event(aggregate, 1), _event(aggregate, 2, huge)])
        assert recorder.select_events(aggregate) == []
        assert recorder.max_notification_id() is None


class TestApplication:
    def test_eventsourcing_application_stores_on_jetstream(self, nats_url: str) -> None:
        """An ordinary eventsourcing Application selects us by PERSISTENCE_MODULE."""

        class Dog(Aggregate):
            @event("Registered")
            def __init__(self, name: str) -> None:
                self.name = name
                self.tricks: list[str] = []

            @event("TrickAdded")
            def add_trick(self, trick: str) -> None:
                self.tricks.append(trick)

        env = {"PERSISTENCE_MODULE": "events.jetstream", "NATS_URL": nats_url}
        app = Application[uuid.UUID](env=env)
        try:
            dog = Dog("Fido")
            dog.add_trick("roll over")
            app.save(dog)
            assert isinstance(app.recorder, JetStreamApplicationRecorder)
        finally:
            app.close()
        reopened = Application[uuid.UUID](env=env)
        try:
            copy: Dog = reopened.repository.get(dog.id)
            assert copy.tricks == ["roll over"]
            assert reopened.recorder.max_notification_id() == 2
        finally:
            reopened.close()


class TestServerVersion:
    def test_old_server_is_refused_with_reason(self) -> None:
        """A server without atomic batch publish is refused, naming the version needed."""
        with pytest.raises(NatsServerError, match=r"2\.11\.9.*>= 2\.12\.0.*ADR-50"):
            check_server_version((2, 11, 9), "the server")
        check_server_version((2, 12, 0), "the server")


class TestLayout:
    def test_string_and_uuid_ids_round_trip_through_subjects(self) -> None:
        """Aggregate ids of either type map to one subject token and back, type intact."""
        layout = StreamLayout.for_application("My App.v2")
        assert layout.stream == "My_App_v2"
        for originator_id in (uuid4(), "room/淮安.1", "plain"):
            subject = layout.event_subject(originator_id)
            assert subject.count(".") == 3
            assert layout.originator_id_of(subject) == originator_id
