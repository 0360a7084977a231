"""The eventsourcing library's own recorder test cases, unchanged, against a real nats-server."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    ProcessRecorder,
    TrackingRecorder,
)
from eventsourcing.tests import persistence as library
from eventsourcing.utils import Environment

from events.jetstream.factory import JetStreamFactory
from events.jetstream.recorders import (
    JetStreamAggregateRecorder,
    JetStreamApplicationRecorder,
    JetStreamProcessRecorder,
    JetStreamTrackingRecorder,
)
from service.nats.bundled_server import NatsServerProcess


class _OnRealServer:
    """Starts a nats-server with a temporary store for each test, and cleans up after it."""

    _server: NatsServerProcess
    _factories: list[JetStreamFactory]
    _tmp: tempfile.TemporaryDirectory[str]

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self._server = NatsServerProcess(store_dir=Path(self._tmp.name) / "nats")
        self._server.start()
        self._factories = []
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        try:
            super().tearDown()  # type: ignore[misc]
        finally:
            for factory in self._factories:
                factory.close()
            self._server.stop()
            self._tmp.cleanup()

    def new_factory(self) -> JetStreamFactory:
        """A factory for a fresh application name, so each recorder starts on an empty stream."""
        factory = JetStreamFactory(
            Environment(
                name=f"Test{uuid.uuid4().hex[:12]}",
                env={"NATS_URL": self._server.url},
            )
        )
        self._factories.append(factory)
        return factory


class TestJetStreamAggregateRecorder(_OnRealServer, library.AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return self.new_factory().aggregate_recorder()


class TestJetStreamApplicationRecorder(_OnRealServer, library.ApplicationRecorderTestCase):
    def create_recorder(self) -> ApplicationRecorder:
        return self.new_factory().application_recorder()

    def test_insert_subscribe(self) -> None:
        """Subscriptions yield stored events in order and then follow new ones live."""
        self.optional_test_insert_subscribe()


class TestJetStreamTrackingRecorder(_OnRealServer, library.TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        return self.new_factory().tracking_recorder()


class TestJetStreamProcessRecorder(_OnRealServer, library.ProcessRecorderTestCase):
    def create_recorder(self) -> ProcessRecorder:
        return self.new_factory().process_recorder()


class _CustomTrackingRecorder(JetStreamTrackingRecorder):
    pass


class TestJetStreamInfrastructureFactory(
    _OnRealServer, library.InfrastructureFactoryTestCase[JetStreamFactory]
):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self._server = NatsServerProcess(store_dir=Path(self._tmp.name) / "nats")
        self._server.start()
        self._factories = []
        self.env = Environment(
            "TestApp",
            {"PERSISTENCE_MODULE": "events.jetstream", "NATS_URL": self._server.url},
        )
        library.InfrastructureFactoryTestCase.setUp(self)

    def expected_factory_class(self) -> type[JetStreamFactory]:
        return JetStreamFactory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return JetStreamAggregateRecorder

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return JetStreamApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return JetStreamTrackingRecorder

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return _CustomTrackingRecorder

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return JetStreamProcessRecorder


class TestJetStreamNonInterleavingNotificationIds(
    _OnRealServer, library.NonInterleavingNotificationIDsBaseCase
):
    def create_recorder(self) -> ApplicationRecorder:
        return self.new_factory().application_recorder()
