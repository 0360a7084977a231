"""The log on a three-node cluster of bundled servers: R3 streams survive a node's loss.

The cluster is compose's `cluster` profile run from the bundled binary on loopback (Docker is
not available to the tests): the application through ``service.bootstrap``, as ``hsl`` opens
it, with ``NATS_URL`` listing the three nodes and ``JETSTREAM_REPLICAS=3``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import nats
import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import Environment

from events.common import Actor
from events.jetstream.factory import JetStreamFactory
from events.jetstream.recorders import JetStreamApplicationRecorder
from events.room import Region
from replay.checkpointer import Checkpointer, checkpoint_stream
from replay.keys import origin_for
from replay.signed_note import SignerKey
from service.application import HaoshangliangApplication
from service.bootstrap import open_application
from service.nats.bundled_server import NatsCluster, NatsServerProcess, _free_port, _healthy
from service.nats.compose_config import COMPOSE_ACCOUNTS_FILE, compose_password_variables
from service.nats.passwords import NatsUsers
from service.settings import Settings
from tests.support.nats_cluster import jsz_last_seq, stream_cluster

CLERK = Actor(id="clerk-1", role="clerk")
DEPLOY = COMPOSE_ACCOUNTS_FILE.parent


async def _replicas(urls: list[str], stream: str) -> int:
    nc = await nats.connect(urls)
    try:
        info = await nc.jetstream().stream_info(stream)
        return int(info.config.num_replicas or 1)
    finally:
        await nc.close()


async def _checkpoint_once(urls: list[str], stream: str) -> int:
    """Sign one checkpoint of ``stream``; its stream gets the configured replicas (3)."""
    nc = await nats.connect(urls)
    try:
        signer = SignerKey.generate(origin_for(stream))
        checkpointer = Checkpointer(nc, stream, signer, replicas=3)
        await checkpointer.resume()
        await checkpointer.step()
        await checkpointer.checkpoint_now()
        return checkpointer.last_size
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
            stream = recorder.layout.stream
            assert asyncio.run(_checkpoint_once(cluster.urls, stream)) == 2
            assert asyncio.run(_replicas(cluster.urls, checkpoint_stream(stream))) == 3
            cluster.nodes[2].stop()
            assert recorder.insert_events([_event(aggregate, 3)]) == [3]
            other = uuid4()
            assert recorder.insert_events([_event(other, 1), _event(other, 2)]) == [4, 5]
            assert [e.originator_version for e in recorder.select_events(aggregate)] == [1, 2, 3]
        finally:
            factory.close()
            cluster.stop()


def _room(app: HaoshangliangApplication, name: str) -> UUID:
    return app.establish_room(
        actor=CLERK,
        occurred_at=datetime(2025, 3, 1, 9, tzinfo=UTC),
        name=name,
        level="town",
        region=Region(county="清河县", town=name),
    )


class TestApplicationOnCluster:
    def test_writes_go_on_with_the_stream_leader_down_and_reach_it_when_it_returns(
        self, tmp_path: Path
    ) -> None:
        """As compose's cluster profile runs it: NATS_URL lists the nodes, JETSTREAM_REPLICAS=3.

        The node leading the event stream is stopped; the application's next command is
        accepted by the two left (a new leader is elected); the node is started again and
        catches up with the write it missed.
        """
        cluster = NatsCluster(tmp_path / "cluster")
        cluster.start()
        settings = Settings.from_env({"NATS_URL": cluster.url, "HSL_DATA_DIR": str(tmp_path)})
        opened = open_application(settings, env_overrides={"JETSTREAM_REPLICAS": "3"})
        try:
            app, stream = opened.app, opened.stream
            _room(app, "柳溪镇")
            replicas, leader = asyncio.run(stream_cluster(cluster.urls, stream))
            assert replicas == 3
            down = next(n for n in cluster.nodes if n.extra_args[1] == leader)
            down.stop()

            _room(app, "河下镇")  # accepted with one node of three down
            assert app.recorder.max_notification_id() == 2
            up = [n.url for n in cluster.nodes if n is not down]
            _, new_leader = asyncio.run(stream_cluster(up, stream))
            assert new_leader != leader

            down.start()
            deadline = time.monotonic() + 30
            while jsz_last_seq(down.monitoring_url, stream) != 2:
                assert time.monotonic() < deadline, "the restarted node did not catch up"
                time.sleep(0.1)
            _room(app, "石桥镇")
            assert app.recorder.max_notification_id() == 3
        finally:
            opened.close()
            cluster.stop()


class TestComposeClusterConfiguration:
    def test_three_nodes_from_the_compose_configuration_with_its_users(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """deploy/nats/cluster.conf, as the `cluster` profile runs it on three hosts, here on
        loopback: host names become 127.0.0.1 and the ports free ones; the users are compose's.
        The service creates the log at R3 and writes; the projector reads it.
        """
        passwords = {v: f"p{secrets.token_hex(12)}" for v in compose_password_variables()}
        for variable, value in passwords.items():
            monkeypatch.setenv(variable, value)
        users = NatsUsers.from_env(passwords)
        compose_config = (DEPLOY / "cluster.conf").read_text()
        for expected in ("store_dir: /data", "listen: 0.0.0.0:6222", "$NATS_SERVER_NAME"):
            assert expected in compose_config
        route_ports = [_free_port() for _ in range(3)]
        nodes = []
        for index in range(3):
            config = compose_config.replace("store_dir: /data", "")
            config = config.replace("$NATS_SERVER_NAME", f"nats-{index + 1}")
            config = config.replace(
                "listen: 0.0.0.0:6222", f"listen: 127.0.0.1:{route_ports[index]}"
            )
            for other, port in enumerate(route_ports, start=1):
                config = config.replace(f"nats-{other}:6222", f"127.0.0.1:{port}")
            directory = tmp_path / f"n{index}"
            directory.mkdir()
            (directory / "accounts.conf").write_text((DEPLOY / "accounts.conf").read_text())
            (directory / "cluster.conf").write_text(config)
            nodes.append(
                NatsServerProcess(
                    store_dir=directory / "store",
                    extra_args=["--config", str(directory / "cluster.conf")],
                )
            )
        try:
            for node in nodes:
                node.start()
            deadline = time.monotonic() + 60
            while not all(_healthy(node.monitoring_url) for node in nodes):
                assert time.monotonic() < deadline, "the cluster's JetStream did not come up"
                time.sleep(0.1)
            servers = ",".join(node.url for node in nodes)
            settings = Settings.from_env(
                {"NATS_URL": users.url("service", servers), "HSL_DATA_DIR": str(tmp_path)}
            )
            opened = open_application(settings, env_overrides={"JETSTREAM_REPLICAS": "3"})
            try:
                _room(opened.app, "柳溪镇")
                service_urls = users.url("service", servers).split(",")
                replicas, _ = asyncio.run(stream_cluster(service_urls, opened.stream))
                assert replicas == 3
            finally:
                opened.close()
            reader = JetStreamFactory(
                Environment(
                    "hsl", {"NATS_URL": users.url("projector", servers), "CREATE_TABLE": "no"}
                )
            )
            try:
                assert reader.application_recorder().max_notification_id() == 1
            finally:
                reader.close()
        finally:
            for node in nodes:
                node.stop()
