"""The log on a three-node cluster of bundled servers: R3 streams survive a node's loss."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import uuid4

import nats
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import Environment

from events.jetstream import JetStreamApplicationRecorder, JetStreamFactory
from service.nats_server import NatsCluster


async def _replicas(urls: list[str], stream: str) -> int:
    nc = await nats.connect(urls)
    try:
        info = await nc.jetstream().stream_info(stream)
        return int(info.config.num_replicas or 1)
    finally:
        await nc.close()


def _event(aggregate: object, version: int) -> StoredEvent:
    return StoredEvent(aggregate, version, "t", b"{}")  # type: ignore[arg-type]


class TestCluster:
    def test_r3_stream_accepts_commits_with_one_node_down(self, tmp_path: Path) -> None:
        """Streams are created at three replicas; with one node stopped, commits still land."""
        cluster = NatsCluster(tmp_path)
        cluster.start()
        factory = JetStreamFactory(
            Environment("Cluster", {"NATS_URL": cluster.url, "JETSTREAM_REPLICAS": "3"})
        )
        try:
            recorder = factory.application_recorder()
            assert isinstance(recorder, JetStreamApplicationRecorder)
            aggregate = uuid4()
            recorder.insert_events([_event(aggregate, 1), _event(aggregate, 2)])
            assert asyncio.run(_replicas(cluster.urls, recorder.layout.stream)) == 3
            cluster.nodes[2].stop()
            assert recorder.insert_events([_event(aggregate, 3)]) == [3]
            other = uuid4()
            assert recorder.insert_events([_event(other, 1), _event(other, 2)]) == [4, 5]
            assert [e.originator_version for e in recorder.select_events(aggregate)] == [1, 2, 3]
        finally:
            factory.close()
            cluster.stop()
