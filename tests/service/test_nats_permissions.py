"""NATS users and permissions, checked against a real nats-server from the bundled binary.

One server for the module, started with the configuration ``service.nats.permissions``
renders (the same rendering compose uses, with the passwords themselves instead of
``$HSL_NATS_…`` references). Each role connects with its credentials in the URL, as
``NATS_URL`` carries them, and is shown both what it may do and what the server refuses.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

import msgspec
import nats
import nats.errors
import pytest
from eventsourcing.persistence import OperationalError, StoredEvent
from eventsourcing.utils import Environment
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from events.common import Actor
from events.jetstream import operations
from events.jetstream.connection import with_credentials
from events.jetstream.factory import JetStreamFactory
from events.jetstream.operations import direct_get_last
from events.jetstream.recorders import JetStreamApplicationRecorder
from events.room import Region
from replay.checkpointer import ensure_checkpoint_stream, read_checkpoints
from service.bootstrap import BootstrapError, open_application
from service.cli.main import main as hsl_main
from service.feed.integration import OutcomeStatusChanged, subject_of
from service.feed.stream import ensure_public_stream
from service.feed.subscriber import SubscribeError
from service.feed.subscriber import subscribe as feed_subscribe
from service.nats.bundled_server import NatsServerProcess, find_server_binary
from service.nats.compose_config import (
    COMPOSE_ACCOUNTS_FILE,
    compose_accounts,
    compose_password_variables,
    compose_subscribers,
    main,
)
from service.nats.passwords import PASSWORD_VARIABLES, NatsUsers, NatsUsersError, redact
from service.nats.permissions import EVENT_STREAM, NATS_USERS, PUBLIC_STREAM, Streams
from service.nats.server_config import (
    render_accounts,
    render_authorization,
    render_user,
    server_args,
)
from service.nats.subscribers import Subscriber
from service.settings import Settings
from tests.support.feed_stream import status_change
from tests.support.nats_users import compose_passwords

T = TypeVar("T")
CLERK = Actor(id="clerk-1", role="clerk")
DEPLOY = COMPOSE_ACCOUNTS_FILE.parent
DENIED_WAIT = 0.3
"""Seconds a refused request waits for a reply that never comes."""


@pytest.fixture(scope="module")
def users() -> NatsUsers:
    return NatsUsers.from_env(compose_passwords())


@pytest.fixture(scope="module")
def alpha() -> Subscriber:
    """A downstream system with a second durable granted besides its own name."""
    return Subscriber.generate("alpha", ["alpha_push"])


@pytest.fixture(scope="module")
def beta() -> Subscriber:
    return Subscriber.generate("beta")


@pytest.fixture(scope="module")
def server(
    users: NatsUsers,
    alpha: Subscriber,
    beta: Subscriber,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    base = tmp_path_factory.mktemp("nats-auth")
    extra = [alpha.entry(), beta.entry()]
    process = NatsServerProcess(
        store_dir=base / "store", extra_args=server_args(users, base, extra=extra)
    )
    url = process.start()
    try:
        yield url
    finally:
        process.stop()


def _run(make: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(make(), timeout=30))


class Session:
    """One role's connection, remembering the errors the server sends it."""

    def __init__(self) -> None:
        self.errors: list[Exception] = []
        self.nc: Client | None = None

    async def connect(self, url: str, **options: Any) -> Client:
        async def remember(error: Exception) -> None:
            self.errors.append(error)

        self.nc = await nats.connect(url.split(","), error_cb=remember, **options)
        return self.nc

    async def refused(self, what: str, subject: str) -> None:
        """Wait until the server reports a permissions violation on ``subject``."""
        for _ in range(50):
            if any(
                "permissions violation" in str(e).lower()
                and what in str(e).lower()
                and subject.lower() in str(e).lower()
                for e in self.errors
            ):
                return
            await asyncio.sleep(0.02)
        pytest.fail(f"no permissions violation for {what} {subject!r}; errors: {self.errors}")

    async def request_refused(self, subject: str, payload: bytes = b"") -> None:
        assert self.nc is not None
        with pytest.raises(nats.errors.TimeoutError):
            await self.nc.request(subject, payload, timeout=DENIED_WAIT)
        await self.refused("publish", subject)

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()


async def _message_count(users: NatsUsers, url: str, stream: str) -> int:
    nc = await nats.connect(users.url("service", url).split(","))
    try:
        info = await nc.jetstream().stream_info(stream)
        return int(info.state.messages)
    finally:
        await nc.close()


@pytest.fixture(scope="module")
def log_written(users: NatsUsers, server: str, tmp_path_factory: pytest.TempPathFactory) -> int:
    """The service writes one event through the application; returns the stream's count."""
    settings = Settings.from_env(
        {
            "NATS_URL": users.url("service", server),
            "HSL_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        }
    )
    opened = open_application(settings)
    try:
        assert opened.stream == EVENT_STREAM
        opened.app.establish_room(
            actor=CLERK,
            occurred_at=datetime(2025, 3, 1, 9, tzinfo=UTC),
            name="柳溪镇协商议事室",
            level="town",
            region=Region(county="清河县", town="柳溪镇"),
        )
    finally:
        opened.close()
    count = _run(lambda: _message_count(users, server, EVENT_STREAM))
    assert count >= 1
    return count


# --- the rendering and the committed files --------------------------------------------------


class TestRendering:
    def test_the_committed_compose_file_is_the_rendering(self) -> None:
        assert COMPOSE_ACCOUNTS_FILE.read_text() == compose_accounts(), (
            "deploy/nats/accounts.conf is stale: run `python -m service.nats.compose_config`"
        )
        assert main(["--check"]) == 0

    @pytest.mark.parametrize("config", ["nats.conf", "cluster.conf"])
    def test_the_committed_server_configurations_are_valid(self, config: str) -> None:
        env = {**os.environ, **compose_passwords(), "NATS_SERVER_NAME": "nats-1"}
        result = subprocess.run(
            [str(find_server_binary()), "-t", "-c", str(DEPLOY / config)],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def test_a_missing_password_stops_the_server_from_starting(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HSL_NATS_")}
        result = subprocess.run(
            [str(find_server_binary()), "-t", "-c", str(DEPLOY / "nats.conf")],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=False,
        )
        assert result.returncode != 0
        assert "HSL_NATS_SERVICE_PASSWORD" in result.stdout + result.stderr

    def test_every_role_has_a_user_with_a_password_variable(self) -> None:
        rendered = compose_accounts()
        for role in NATS_USERS:
            assert f'user: "{role}"' in rendered
            assert f"password: ${PASSWORD_VARIABLES[role]}" in rendered
        assert [s.name for s in compose_subscribers()] == ["dashboard"]
        for subscriber in compose_subscribers():
            assert f'user: "{subscriber.user}"' in rendered
            assert f"password: ${subscriber.password_variable}" in rendered
        assert 'user: "subscriber"' not in rendered  # the one shared user is gone

    def test_a_downstream_systems_list_is_checked(self, tmp_path: Path) -> None:
        listed = tmp_path / "subscribers.txt"
        listed.write_text("# comment\ncrm crm_old  # carries on\n\nmobile_app\n")
        assert [(s.name, s.durables) for s in compose_subscribers(listed)] == [
            ("crm", ("crm", "crm_old")),
            ("mobile_app", ("mobile_app",)),
        ]
        for bad, named in (
            ("CRM\n", "'CRM'"),
            ("crm\ncrm\n", "listed twice"),
            ("crm bad.durable\n", "'bad.durable'"),
            ("9lives\n", "'9lives'"),
        ):
            listed.write_text(bad)
            with pytest.raises(NatsUsersError, match=named):
                compose_subscribers(listed)

    def test_passwords_are_read_and_checked(self) -> None:
        env = compose_passwords()
        assert NatsUsers.from_env(env).passwords["service"] == env["HSL_NATS_SERVICE_PASSWORD"]
        with pytest.raises(NatsUsersError, match="HSL_NATS_AUDITOR_PASSWORD is not set"):
            NatsUsers.from_env({**env, "HSL_NATS_AUDITOR_PASSWORD": ""})
        with pytest.raises(NatsUsersError, match="HSL_NATS_PROJECTOR_PASSWORD must be"):
            NatsUsers.from_env({**env, "HSL_NATS_PROJECTOR_PASSWORD": "p@ss:word/with-odd-chars"})
        with pytest.raises(NatsUsersError, match="at least 16"):
            NatsUsers.from_env({**env, "HSL_NATS_SERVICE_PASSWORD": "short"})
        with pytest.raises(NatsUsersError, match="starting with a letter"):
            NatsUsers.from_env({**env, "HSL_NATS_SERVICE_PASSWORD": "3" + "a" * 20})

    def test_generated_passwords_are_accepted(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["--passwords"]) == 0
        lines = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
        assert set(lines) == set(compose_password_variables())
        assert "HSL_NATS_SUBSCRIBER_DASHBOARD_PASSWORD" in lines
        NatsUsers.from_env(lines)

    def test_credentials_go_into_every_url_and_are_redacted_for_printing(self) -> None:
        servers = "nats://a:4222, nats://old:pw@b:4222,c:4222"
        url = with_credentials(servers, "service", "s3cret-s3cret-s3cret")
        assert url == (
            "nats://service:s3cret-s3cret-s3cret@a:4222,"
            "nats://service:s3cret-s3cret-s3cret@b:4222,"
            "nats://service:s3cret-s3cret-s3cret@c:4222"
        )
        assert redact(url) == (
            "nats://service:***@a:4222,nats://service:***@b:4222,nats://service:***@c:4222"
        )
        assert redact("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"
        assert redact("nats://a-token@h:4222,h2:4222") == "nats://***@h:4222,h2:4222"

    def test_the_servers_file_holds_the_passwords_for_its_owner_only(
        self, users: NatsUsers, tmp_path: Path
    ) -> None:
        args = server_args(users, tmp_path)
        assert args[0] == "--config"
        path = Path(args[1])
        assert path.stat().st_mode & 0o777 == 0o600
        assert f'password: "{users.passwords["auditor"]}"' in path.read_text()

    def test_the_embedded_servers_users_are_composes_in_the_global_account(
        self, users: NatsUsers, tmp_path: Path
    ) -> None:
        """The embedded server (service/nats/embedded.py) declares the same users with the same
        permissions, in the global account where a store from before its users keeps its
        streams; nats-server accepts the file."""
        args = server_args(users, tmp_path, global_account=True)
        path = Path(args[1])
        assert path.stat().st_mode & 0o777 == 0o600
        embedded = path.read_text()
        assert "authorization {" in embedded
        assert "accounts" not in embedded
        passwords = dict(users.passwords)
        assert embedded == render_authorization(passwords)
        compose = render_accounts(passwords)
        for role in NATS_USERS:
            assert render_user(role, passwords[role]) in embedded
            assert render_user(role, passwords[role]) in compose
        result = subprocess.run(
            [str(find_server_binary()), "-t", "-c", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def test_the_stream_names_are_the_services(self) -> None:
        streams = Streams()
        assert streams.events == "hsl"
        assert streams.event_subjects == "hsl.hsl.>"
        assert streams.checkpoints == "hsl-checkpoints"
        assert streams.checkpoint_subject == "hsl-audit.hsl.checkpoint"
        assert streams.public == PUBLIC_STREAM


# --- the roles on a real server --------------------------------------------------------------


class TestService:
    def test_writes_the_log_through_the_application(self, log_written: int) -> None:
        assert log_written >= 1

    def test_without_credentials_nothing_connects(self, server: str) -> None:
        async def attempt() -> None:
            await nats.connect(server, allow_reconnect=False, connect_timeout=2)

        with pytest.raises(nats.errors.Error, match=r"[Aa]uthorization"):
            _run(attempt)

    def test_publishes_the_feed_and_checkpoints_but_cannot_remove_a_stream(
        self, users: NatsUsers, server: str, log_written: int
    ) -> None:
        async def scenario() -> None:
            session = Session()
            nc = await session.connect(users.url("service", server))
            try:
                js = nc.jetstream()
                await ensure_public_stream(nc, EVENT_STREAM)
                await js.publish("hsl.public.outcome.adopted.room-1", b'{"status":"adopted"}')
                await ensure_checkpoint_stream(nc, EVENT_STREAM)
                await js.publish("hsl-audit.hsl.checkpoint", b"a checkpoint")
                for subject in (
                    f"$JS.API.STREAM.DELETE.{EVENT_STREAM}",
                    f"$JS.API.STREAM.PURGE.{EVENT_STREAM}",
                    f"$JS.API.STREAM.MSG.DELETE.{EVENT_STREAM}",
                    f"$JS.API.STREAM.UPDATE.{EVENT_STREAM}",
                ):
                    await session.request_refused(subject, b'{"seq":1}')
                # The service writes only its own subjects.
                await session.request_refused("elsewhere.events.x", b"{}")
            finally:
                await session.close()

        _run(scenario)
        assert _run(lambda: _message_count(users, server, EVENT_STREAM)) == log_written


class TestReaders:
    @pytest.mark.parametrize("role", ["projector", "auditor"])
    def test_read_the_log_through_the_recorder(
        self, role: Any, users: NatsUsers, server: str, log_written: int
    ) -> None:
        """``CREATE_TABLE=no``: a reader opens the log without asking to create the stream."""
        factory = JetStreamFactory(
            Environment("hsl", {"NATS_URL": users.url(role, server), "CREATE_TABLE": "no"})
        )
        try:
            recorder = factory.application_recorder()
            assert isinstance(recorder, JetStreamApplicationRecorder)
            notifications = recorder.select_notifications(start=1, limit=100)
            assert len(notifications) == log_written
            assert recorder.max_notification_id() == log_written
            subscription = recorder.subscribe(gt=0)
            try:
                assert next(subscription).id == 1  # an ordered consumer, from the start
            finally:
                subscription.stop()
        finally:
            factory.close()

    def test_the_projector_opens_the_application_read_only(
        self, users: NatsUsers, server: str, log_written: int, tmp_path: Path
    ) -> None:
        settings = Settings.from_env(
            {"NATS_URL": users.url("projector", server), "HSL_DATA_DIR": str(tmp_path)}
        )
        opened = open_application(settings, env_overrides={"CREATE_TABLE": "no"})
        try:
            assert opened.app.recorder.max_notification_id() == log_written
        finally:
            opened.close()

    def test_a_reader_writing_through_the_recorder_stores_nothing(
        self, users: NatsUsers, server: str, log_written: int, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The refused commit is never acknowledged: after its retries, OperationalError."""
        monkeypatch.setattr(operations, "REQUEST_TIMEOUT", DENIED_WAIT)
        factory = JetStreamFactory(
            Environment("hsl", {"NATS_URL": users.url("projector", server), "CREATE_TABLE": "no"})
        )
        try:
            recorder = factory.application_recorder()
            first = recorder.select_notifications(1, 1)[0]
            last = recorder.select_events(first.originator_id)[-1]
            forged = StoredEvent(
                originator_id=first.originator_id,
                originator_version=last.originator_version + 1,
                topic=first.topic,
                state=first.state,
            )
            with pytest.raises(OperationalError):
                recorder.insert_events([forged])
        finally:
            factory.close()
        assert _run(lambda: _message_count(users, server, EVENT_STREAM)) == log_written

    @pytest.mark.parametrize("role", ["projector", "auditor"])
    def test_publishing_to_the_log_or_managing_streams_is_refused(
        self, role: Any, users: NatsUsers, server: str, log_written: int
    ) -> None:
        async def scenario() -> None:
            session = Session()
            nc = await session.connect(users.url(role, server))
            try:
                js = nc.jetstream()
                with pytest.raises(nats.errors.TimeoutError):
                    await js.publish("hsl.hsl.events.forged", b"{}", timeout=DENIED_WAIT)
                await session.refused("publish", "hsl.hsl.events.forged")
                await nc.publish("hsl.hsl.tracking.forged", b"{}")
                await session.refused("publish", "hsl.hsl.tracking.forged")
                await session.request_refused("hsl-audit.hsl.checkpoint", b"forged")
                await session.request_refused("hsl.public.outcome.adopted.room-1", b"{}")
                await session.request_refused(f"$JS.API.STREAM.CREATE.{role}-own", b"{}")
                await session.request_refused(f"$JS.API.STREAM.DELETE.{EVENT_STREAM}")
                await session.request_refused(f"$JS.API.DIRECT.GET.{PUBLIC_STREAM}", b'{"seq":1}')
            finally:
                await session.close()

        _run(scenario)
        assert _run(lambda: _message_count(users, server, EVENT_STREAM)) == log_written

    def test_the_auditor_reads_checkpoints_the_projector_does_not(
        self, users: NatsUsers, server: str, log_written: int, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(operations, "REQUEST_TIMEOUT", DENIED_WAIT)

        async def scenario() -> None:
            writer = await nats.connect(users.url("service", server).split(","))
            try:
                await ensure_checkpoint_stream(writer, EVENT_STREAM)
                await writer.jetstream().publish("hsl-audit.hsl.checkpoint", b"a checkpoint")
            finally:
                await writer.close()
            auditor = Session()
            nc = await auditor.connect(users.url("auditor", server))
            try:
                last = await direct_get_last(nc, "hsl-checkpoints", "hsl-audit.hsl.checkpoint")
                assert last is not None
                assert last.payload == b"a checkpoint"
            finally:
                await auditor.close()
            projector = Session()
            nc = await projector.connect(users.url("projector", server))
            try:
                with pytest.raises(nats.errors.TimeoutError):
                    await read_checkpoints(nc, EVENT_STREAM)
                await projector.refused("publish", "$JS.API.DIRECT.GET.hsl-checkpoints")
            finally:
                await projector.close()

        _run(scenario)


async def _publish_public(users: NatsUsers, server: str, *events: OutcomeStatusChanged) -> None:
    writer = await nats.connect(users.url("service", server).split(","))
    try:
        await ensure_public_stream(writer, EVENT_STREAM)
        for event in events:
            await writer.jetstream().publish(subject_of(event), msgspec.json.encode(event))
    finally:
        await writer.close()


def _pull_config(durable: str, subject: str) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=durable,
        filter_subject=subject,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
    )


class TestDownstreamSystem:
    def test_consumes_the_public_subjects_only(
        self, users: NatsUsers, alpha: Subscriber, server: str, log_written: int
    ) -> None:
        async def scenario() -> None:
            writer = await nats.connect(users.url("service", server).split(","))
            try:
                js = writer.jetstream()
                await ensure_public_stream(writer, EVENT_STREAM)
                await js.publish("hsl.public.outcome.closed.room-2", b'{"status":"closed"}')
            finally:
                await writer.close()

            session = Session()
            nc = await session.connect(alpha.url(server), inbox_prefix=alpha.inbox_prefix)
            try:
                sjs = nc.jetstream()
                # Its durable pull consumer, as `hsl subscribe` keeps its place.
                pull = await sjs.pull_subscribe(
                    "hsl.public.outcome.closed.*", durable="alpha", stream=PUBLIC_STREAM
                )
                [msg] = await pull.fetch(1, timeout=5)
                assert msg.subject == "hsl.public.outcome.closed.room-2"
                await msg.ack_sync(timeout=5)
                # A durable push consumer granted to it, delivered to its own inbox.
                received: asyncio.Queue[Msg] = asyncio.Queue()

                async def deliver(msg: Msg) -> None:
                    await received.put(msg)

                push = await sjs.subscribe(
                    "hsl.public.>",
                    durable="alpha_push",
                    stream=PUBLIC_STREAM,
                    cb=deliver,
                    config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
                )
                first = await asyncio.wait_for(received.get(), 5)
                assert first.subject.startswith("hsl.public.outcome.")  # (acked on delivery)
                await push.unsubscribe()
                for durable in alpha.durables:  # its own, so it may
                    assert await sjs.delete_consumer(PUBLIC_STREAM, durable)

                # The event log and the checkpoints stay closed to it.
                await session.request_refused(f"$JS.API.DIRECT.GET.{EVENT_STREAM}", b'{"seq":1}')
                await session.request_refused(f"$JS.API.CONSUMER.CREATE.{EVENT_STREAM}", b"{}")
                await session.request_refused(f"$JS.API.STREAM.INFO.{EVENT_STREAM}")
                await session.request_refused("$JS.API.DIRECT.GET.hsl-checkpoints", b'{"seq":1}')
                # A consumer named like the public stream on the log is no way round.
                await session.request_refused(
                    f"$JS.API.CONSUMER.CREATE.{EVENT_STREAM}.{PUBLIC_STREAM}.hsl.hsl.events.>",
                    b"{}",
                )
                # It publishes nothing to the feed.
                await session.request_refused("hsl.public.outcome.adopted.room-1", b"{}")
                # Nor can it listen to the log, or to the inboxes the other roles' replies use.
                # Nor subscribe to the public subjects directly: only its consumers' deliveries.
                for subject in ("hsl.hsl.events.*", "_INBOX.>", "hsl.public.>", ">"):
                    await nc.subscribe(subject)
                    await session.refused("subscription", subject)
            finally:
                await session.close()

        _run(scenario)

    def test_cannot_touch_another_systems_consumer(
        self, users: NatsUsers, alpha: Subscriber, beta: Subscriber, server: str
    ) -> None:
        """alpha may not delete, inspect, re-create, follow or ack beta's durable, list the
        stream's consumers, make an unnamed one, or listen on beta's inbox; beta's consumer
        is left as it was, and alpha still manages its own."""
        room = uuid4()
        at = datetime(2025, 3, 4, 9, tzinfo=UTC)
        events = [status_change(room, "reported", "adopted", at) for _ in range(2)]
        subject = f"hsl.public.outcome.*.{room}"
        public = PUBLIC_STREAM

        async def scenario() -> None:
            await _publish_public(users, server, *events)
            b_session, a_session = Session(), Session()
            b = await b_session.connect(beta.url(server), inbox_prefix=beta.inbox_prefix)
            a = await a_session.connect(alpha.url(server), inbox_prefix=alpha.inbox_prefix)
            try:
                bjs = b.jetstream()
                await bjs.add_consumer(public, _pull_config("beta", subject))
                pull = await bjs.pull_subscribe_bind("beta", stream=public)
                [first] = await pull.fetch(1, timeout=5)
                await first.ack_sync(timeout=5)

                body = msgspec.json.encode(
                    {
                        "stream_name": public,
                        "config": {"durable_name": "beta", "filter_subject": ">"},
                    }
                )
                for refused, payload in (
                    (f"$JS.API.CONSUMER.DELETE.{public}.beta", b""),
                    (f"$JS.API.CONSUMER.INFO.{public}.beta", b""),
                    (f"$JS.API.CONSUMER.CREATE.{public}.beta", body),
                    (f"$JS.API.CONSUMER.CREATE.{public}.beta.hsl.public.>", body),
                    (f"$JS.API.CONSUMER.DURABLE.CREATE.{public}.beta", body),
                    (f"$JS.API.CONSUMER.CREATE.{public}", body),  # the name in the body only
                    (f"$JS.API.CONSUMER.MSG.NEXT.{public}.beta", b'{"batch":1}'),
                    (f"$JS.API.CONSUMER.LIST.{public}", b""),
                    (f"$JS.API.CONSUMER.NAMES.{public}", b""),
                    (f"$JS.ACK.{public}.beta.1.2.2.0.0", b"+ACK"),
                ):
                    await a_session.request_refused(refused, payload)
                await a.subscribe(f"{beta.inbox_prefix}.>")
                await a_session.refused("subscription", f"{beta.inbox_prefix}.>")

                info = await bjs.consumer_info(public, "beta")
                assert info.config.filter_subject == subject
                assert info.num_pending == 1  # nobody moved it: one message still to come
                assert info.delivered.consumer_seq == 1

                # Its own: created, read, acked, inspected and deleted.
                ajs = a.jetstream()
                await ajs.add_consumer(public, _pull_config("alpha", subject))
                mine = await ajs.pull_subscribe_bind("alpha", stream=public)
                [got] = await mine.fetch(1, timeout=5)
                await got.ack_sync(timeout=5)
                assert (await ajs.consumer_info(public, "alpha")).num_ack_pending == 0
                assert await ajs.delete_consumer(public, "alpha")
                assert await bjs.consumer_info(public, "beta")  # beta's is still there
                assert await bjs.delete_consumer(public, "beta")  # by beta itself
            finally:
                await a_session.close()
                await b_session.close()
            assert not b_session.errors

        _run(scenario)

    def test_the_feeds_subscriber_works_with_its_own_inbox_prefix(
        self, users: NatsUsers, beta: Subscriber, server: str
    ) -> None:
        """``service.feed.subscriber.subscribe`` (``hsl subscribe``) as a downstream system.

        The connection must use its own inbox prefix: replies on ``_INBOX.>`` are the other
        roles' and a downstream system may not listen there.
        """
        room = uuid4()
        event = status_change(room, "reported", "adopted", datetime(2025, 3, 2, 9, tzinfo=UTC))

        async def scenario() -> list[str]:
            await _publish_public(users, server, event)
            session = Session()
            nc = await session.connect(beta.url(server), inbox_prefix=beta.inbox_prefix)
            lines: list[str] = []
            try:
                await feed_subscribe(
                    nc,
                    EVENT_STREAM,
                    f"hsl.public.outcome.*.{room}",
                    "beta",
                    asyncio.Event(),
                    out=lines.append,
                    count=1,
                )
                await nc.jetstream().delete_consumer(PUBLIC_STREAM, "beta")
            finally:
                await session.close()
            assert not session.errors
            return lines

        [line] = _run(scenario)
        assert json.loads(line)["outcome_id"] == str(event.outcome_id)

    def test_a_durable_not_granted_is_a_clear_error(
        self, users: NatsUsers, beta: Subscriber, server: str
    ) -> None:
        async def scenario() -> None:
            await _publish_public(users, server)
            nc = await nats.connect(beta.url(server).split(","), inbox_prefix=beta.inbox_prefix)
            try:
                await feed_subscribe(
                    nc,
                    EVENT_STREAM,
                    "hsl.public.outcome.>",
                    "alpha",
                    asyncio.Event(),
                    out=print,
                    count=1,
                )
            finally:
                await nc.close()

        with pytest.raises(SubscribeError, match="may keep"):
            _run(scenario)


class TestCredentialsAreNotShown:
    @pytest.mark.usefixtures("log_written")
    def test_hsl_log_status_shows_the_url_without_the_password(
        self,
        users: NatsUsers,
        server: str,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("NATS_URL", users.url("service", server))
        monkeypatch.setenv("HSL_DATA_DIR", str(tmp_path))
        assert hsl_main(["log", "status"]) == 0
        out = capsys.readouterr().out
        assert f"nats://service:***@{server.removeprefix('nats://')}" in out
        assert users.passwords["service"] not in out
        assert hsl_main(["log", "status", "--json"]) == 0
        assert users.passwords["service"] not in capsys.readouterr().out

    def test_a_refused_password_is_not_repeated_in_the_error(
        self, server: str, tmp_path: Path
    ) -> None:
        wrong = "wrong-password-for-the-service"
        settings = Settings.from_env(
            {"NATS_URL": with_credentials(server, "service", wrong), "HSL_DATA_DIR": str(tmp_path)}
        )
        with pytest.raises(BootstrapError, match=r"service:\*\*\*@") as raised:
            open_application(settings)
        assert wrong not in str(raised.value)

    def test_the_recorders_messages_hide_the_password(self, users: NatsUsers, server: str) -> None:
        factory = JetStreamFactory(
            Environment("hsl", {"NATS_URL": users.url("projector", server), "CREATE_TABLE": "no"})
        )
        try:
            bridge = factory._bridge
            assert users.passwords["projector"] in bridge.url  # still used to connect
            assert users.passwords["projector"] not in bridge.display_url
        finally:
            factory.close()


class TestConsumersCannotWriteIntoStreams:
    def test_a_readers_consumer_delivers_nothing_into_another_stream(
        self, users: NatsUsers, alpha: Subscriber, server: str, log_written: int
    ) -> None:
        """A reader picks its push consumer's delivery subject; pointing it at a subject the
        public stream (or the log) stores writes nothing there: nobody may subscribe to those
        subjects, so the consumer has no interest to deliver to.
        """

        async def counts() -> tuple[int, int]:
            return (
                await _message_count(users, server, EVENT_STREAM),
                await _message_count(users, server, PUBLIC_STREAM),
            )

        async def scenario() -> tuple[tuple[int, int], tuple[int, int]]:
            writer = await nats.connect(users.url("service", server).split(","))
            try:
                await ensure_public_stream(writer, EVENT_STREAM)
                await ensure_checkpoint_stream(writer, EVENT_STREAM)
                await writer.jetstream().publish("hsl-audit.hsl.checkpoint", b"a checkpoint")
            finally:
                await writer.close()
            before = await counts()
            forged = f"hsl.public.outcome.adopted.{uuid4()}"
            # The one outside user tries to give that subject interest, and is refused.
            subscriber = Session()
            listener = await subscriber.connect(alpha.url(server), inbox_prefix=alpha.inbox_prefix)
            await listener.subscribe(forged)
            await subscriber.refused("subscription", forged)
            projector = await nats.connect(users.url("projector", server).split(","))
            auditor = await nats.connect(users.url("auditor", server).split(","))
            try:
                await projector.jetstream().add_consumer(
                    EVENT_STREAM,
                    ConsumerConfig(
                        deliver_subject=forged,
                        deliver_policy=DeliverPolicy.ALL,
                        ack_policy=AckPolicy.NONE,
                    ),
                )
                await auditor.jetstream().add_consumer(
                    "hsl-checkpoints",
                    ConsumerConfig(
                        deliver_subject="hsl.hsl.events.forged",
                        deliver_policy=DeliverPolicy.ALL,
                        ack_policy=AckPolicy.NONE,
                    ),
                )
                await asyncio.sleep(1.5)
            finally:
                await projector.close()
                await auditor.close()
                await subscriber.close()
            return before, await counts()

        before, after = _run(scenario)
        assert after == before


class TestHslSubscribe:
    def test_runs_as_the_downstream_systems_user(
        self,
        users: NatsUsers,
        alpha: Subscriber,
        server: str,
        *,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        room = uuid4()
        event = status_change(room, "fed_back", "closed", datetime(2025, 3, 3, 9, tzinfo=UTC))

        async def publish() -> None:
            writer = await nats.connect(users.url("service", server).split(","))
            try:
                await ensure_public_stream(writer, EVENT_STREAM)
                await writer.jetstream().publish(subject_of(event), msgspec.json.encode(event))
            finally:
                await writer.close()

        _run(publish)
        monkeypatch.setenv("NATS_URL", alpha.url(server))
        monkeypatch.setenv("HSL_DATA_DIR", str(tmp_path))
        subscribe = ["subscribe", f"hsl.public.outcome.*.{room}", "--as", "alpha"]
        assert hsl_main([*subscribe, "--count", "1"]) == 0  # durable: alpha, its name
        [line] = capsys.readouterr().out.splitlines()
        assert json.loads(line)["outcome_id"] == str(event.outcome_id)


class TestComposeConfiguration:
    def test_the_committed_single_node_configuration_serves_the_users(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """deploy/nats/nats.conf as compose runs it: its own users and JetStream settings,
        with the store, address and ports moved to the test's (the command line sets those;
        nats-server refuses a store directory given twice).
        """
        passwords = compose_passwords()
        for variable, value in passwords.items():
            monkeypatch.setenv(variable, value)
        users = NatsUsers.from_env(passwords)
        config = tmp_path / "conf"
        config.mkdir()
        (config / "accounts.conf").write_text((DEPLOY / "accounts.conf").read_text())
        compose_config = (DEPLOY / "nats.conf").read_text()
        assert "store_dir: /data" in compose_config
        (config / "nats.conf").write_text(compose_config.replace("store_dir: /data", ""))
        process = NatsServerProcess(
            store_dir=tmp_path / "store", extra_args=["--config", str(config / "nats.conf")]
        )
        url = process.start()
        try:

            async def scenario() -> None:
                service = await nats.connect(users.url("service", url).split(","))
                try:
                    await ensure_public_stream(service, EVENT_STREAM)
                    ack = await service.jetstream().publish(
                        "hsl.public.outcome.adopted.room-1", b"{}"
                    )
                    assert ack.stream == PUBLIC_STREAM
                finally:
                    await service.close()
                dashboard = Subscriber.of(
                    "dashboard", password=passwords["HSL_NATS_SUBSCRIBER_DASHBOARD_PASSWORD"]
                )
                subscriber = Session()
                nc = await subscriber.connect(
                    dashboard.url(url), inbox_prefix=dashboard.inbox_prefix
                )
                try:
                    info = await nc.jetstream().stream_info(PUBLIC_STREAM)
                    assert info.state.messages == 1
                    await subscriber.request_refused(f"$JS.API.STREAM.INFO.{EVENT_STREAM}")
                finally:
                    await subscriber.close()

            _run(scenario)
        finally:
            process.stop()
