"""The ``InfrastructureFactory`` of ``PERSISTENCE_MODULE=events.jetstream``: one NATS
connection per application, shared by the recorders it builds."""

from __future__ import annotations

from pathlib import Path

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    OperationalError,
    ProcessRecorder,
    ProgrammingError,
)
from eventsourcing.utils import Environment, EnvType, resolve_topic, strtobool

from events.jetstream.bridge import NatsBridge
from events.jetstream.recorders import (
    JetStreamAggregateRecorder,
    JetStreamApplicationRecorder,
    JetStreamProcessRecorder,
    JetStreamTrackingRecorder,
)
from events.jetstream.server_version import MIN_SERVER_VERSION
from events.jetstream.stream_layout import StreamLayout


class JetStreamFactory(InfrastructureFactory[JetStreamTrackingRecorder]):
    """Builds JetStream recorders for one application, over one shared NATS connection."""

    NATS_URL = "NATS_URL"
    NATS_SERVER_FILE = "NATS_SERVER_FILE"
    """Optional: a JSON file whose ``url`` says where the server is now (the embedded
    server's ``server.json``), re-read on reconnect (``events.jetstream.connection``)."""
    JETSTREAM_REPLICAS = "JETSTREAM_REPLICAS"
    CREATE_TABLE = "CREATE_TABLE"

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        url = self.env.get(self.NATS_URL)
        if not url:
            msg = (
                "NATS_URL is not set: point it at a NATS server with JetStream "
                "(the 'hsl' command starts the bundled one and sets it)"
            )
            raise OperationalError(msg)
        server_file = self.env.get(self.NATS_SERVER_FILE)
        self._bridge = NatsBridge(
            url,
            name=f"haoshangliang[{self.env.name or 'default'}]",
            server_file=Path(server_file) if server_file else None,
        )
        try:
            self._check_server_version()
            replicas = int(self.env.get(self.JETSTREAM_REPLICAS, "1"))
        except BaseException:
            self._bridge.close()
            raise
        self._replicas = replicas

    def _check_server_version(self) -> None:
        version = self._bridge.client.connected_server_version
        have = (version.major, version.minor, version.patch)
        if have < MIN_SERVER_VERSION:
            need = ".".join(map(str, MIN_SERVER_VERSION))
            msg = (
                f"the NATS server at {self._bridge.display_url} runs {'.'.join(map(str, have))}; "
                f"haoshangliang needs nats-server >= {need} for atomic batch publish (ADR-50)"
            )
            raise OperationalError(msg)

    def _layout(self, purpose: str = "events") -> StreamLayout:
        name = self.env.name or "default"
        if purpose != "events":
            name = f"{name}_{purpose}"
        return StreamLayout.for_application(name, replicas=self._replicas)

    def _create_stream(self) -> bool:
        return strtobool(self.env.get(self.CREATE_TABLE) or "yes")

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        return JetStreamAggregateRecorder(
            self._bridge, self._layout(purpose), create_stream=self._create_stream()
        )

    def application_recorder(self) -> ApplicationRecorder:
        return JetStreamApplicationRecorder(
            self._bridge, self._layout(), create_stream=self._create_stream()
        )

    def tracking_recorder(
        self, tracking_recorder_class: type[JetStreamTrackingRecorder] | None = None
    ) -> JetStreamTrackingRecorder:
        if tracking_recorder_class is None:
            topic = self.env.get(self.TRACKING_RECORDER_TOPIC)
            tracking_recorder_class = resolve_topic(topic) if topic else JetStreamTrackingRecorder
        assert tracking_recorder_class is not None
        if not issubclass(tracking_recorder_class, JetStreamTrackingRecorder):
            msg = f"{tracking_recorder_class} is not a JetStreamTrackingRecorder"
            raise ProgrammingError(msg)
        return tracking_recorder_class(
            self._bridge, self._layout(), create_stream=self._create_stream()
        )

    def process_recorder(self) -> ProcessRecorder:
        return JetStreamProcessRecorder(
            self._bridge, self._layout(), create_stream=self._create_stream()
        )

    def close(self) -> None:
        self._bridge.close()


Factory = JetStreamFactory
