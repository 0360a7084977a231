"""The service rides out NATS faults, against real nats-server processes killed with SIGKILL.

- the one connection helper (``events.jetstream.connection``) follows a server restarted on its
  port, and one that came back elsewhere through the server file;
- the embedded server, restarted by the next command, keeps its port;
- ``hsl serve`` (embedded defaults) keeps writing, projecting and checkpointing across a
  SIGKILL of its server and the restart by ``hsl log status``; ``/readyz`` says 503 meanwhile;
- a running ``hsl project`` follows the restarted server;
- on a three-node cluster, killing the node that ``hsl serve``'s checkpointer and feed are
  connected to leaves it working, and every stream it made has the configured replicas.

Every wait is bounded; nothing asserts how long a recovery took.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats.errors
import pytest
from nats.aio.client import Client

from events.common import Actor
from events.jetstream.connection import (
    ONE_SHOT,
    NatsUnavailableError,
    address_of,
    connect,
    is_transient,
    parse,
    ride_out,
)
from events.room import Region
from projections.remote_views import RemoteViews, ViewsUnavailableError
from projections.view_reads import Position
from service.bootstrap import open_application
from service.nats.bundled_server import NatsCluster, NatsServerProcess
from service.nats.embedded import connect_url, stop_embedded
from service.nats.embedded_files import STATE_FILE
from service.settings import Settings
from tests.support.jetstream_scenario import JetStreamScenario
from tests.support.paths import REPO_ROOT

CLERK = Actor(id="clerk-1", role="clerk")
FAST_CHECKPOINTS = ("--checkpoint-interval", "0.2")


def _await(check: Callable[[], bool], what: str, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(0.2)


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    _await(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), f"pid {pid} gone", 10)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


# --- the helper -------------------------------------------------------------------------------


class TestConnectionHelper:
    def test_credentials_leave_the_server_urls(self) -> None:
        target = parse(" nats://svc:s3cret@10.0.0.1:4222 , nats://svc:s3cret@10.0.0.2:4222 ")
        assert target.servers == ("nats://10.0.0.1:4222", "nats://10.0.0.2:4222")
        assert (target.user, target.password, target.token) == ("svc", "s3cret", None)
        assert target.addresses == "10.0.0.1:4222,10.0.0.2:4222"
        assert parse("nats://tok@h:1").token == "tok"
        assert address_of("nats://u:p@h:4222") == "h:4222"
        with pytest.raises(ValueError, match="names no server"):
            parse(" , ")

    def test_credentials_go_as_options_never_in_the_pool(self, tmp_path: Path) -> None:
        """A server with a user: the URL's credentials authenticate, and no URL nats-py
        holds (which it may print) carries the password."""
        server = NatsServerProcess(
            store_dir=tmp_path / "auth", extra_args=["--user", "svc", "--pass", "pw-0123456789"]
        )
        url = server.start()
        with_password = url.replace("nats://", "nats://svc:pw-0123456789@")

        async def pool() -> list[str]:
            nc = await connect(with_password, name="t", policy=ONE_SHOT)
            try:
                await nc.flush(timeout=5)
                return [uri.geturl() for uri in nc.servers]
            finally:
                await nc.close()

        try:
            servers = asyncio.run(pool())
            with pytest.raises((nats.errors.Error, OSError, TimeoutError)):
                asyncio.run(connect(url, name="t", policy=ONE_SHOT))  # no credentials: refused
        finally:
            server.stop()
        assert servers
        assert not any("pw-0123456789" in s or "@" in s for s in servers)

    def test_ride_out_resumes_after_a_fault_and_stops_on_anything_else(self) -> None:
        """A timeout or no responders: resumed again, the loop goes on; a bug: raised."""
        calls: list[str] = []
        faults: list[BaseException] = [nats.errors.TimeoutError(), nats.errors.NoRespondersError()]

        async def run(final: BaseException | None) -> None:
            stop = asyncio.Event()

            async def resume() -> None:
                calls.append("resume")

            async def step() -> None:
                calls.append("step")
                if faults:
                    raise faults.pop(0)
                if final is not None:
                    raise final
                stop.set()

            await ride_out(stop, resume=resume, step=step, poll=0.01, what="test")

        asyncio.run(run(None))
        assert calls == ["resume", "step"] * 3
        with pytest.raises(KeyError):
            asyncio.run(run(KeyError("a bug")))
        assert not is_transient(ValueError())
        assert is_transient(NatsUnavailableError())

    def test_one_shot_fails_at_once_on_a_dead_port(self, tmp_path: Path) -> None:
        server = NatsServerProcess(store_dir=tmp_path / "gone")
        url = server.start()
        server.stop()
        with pytest.raises((nats.errors.Error, OSError, TimeoutError)):
            asyncio.run(connect(url, name="t", policy=replace(ONE_SHOT, first_connect=5)))

    def test_follows_a_restart_on_its_port_and_a_server_that_moved(self, tmp_path: Path) -> None:
        """SIGKILL, restart on the same port: reconnected. SIGKILL, restart elsewhere with the
        server file saying so: reconnected there."""
        store = tmp_path / "store"
        server_file = tmp_path / "server.json"
        first = NatsServerProcess(store_dir=store)
        url = first.start()
        server_file.write_text(json.dumps({"url": url}))
        port = int(url.rpartition(":")[2])
        servers: list[NatsServerProcess] = [first]

        async def echo_round_trip(nc: Client) -> bytes:
            reply = await nc.request("echo", b"ping", timeout=2)
            return bytes(reply.data)

        async def scenario() -> list[str]:
            nc = await connect(url, name="t", server_file=server_file)

            async def answer(msg: Any) -> None:
                await msg.respond(msg.data)

            await nc.subscribe("echo", cb=answer)
            seen = [address_of(nc.connected_url.geturl())] if nc.connected_url else []
            for restart in ("same port", "moved"):
                assert servers[-1].process is not None
                servers[-1].process.kill()
                servers[-1].process.wait()
                again = NatsServerProcess(
                    store_dir=store, port=port if restart == "same port" else -1
                )
                servers.append(again)
                new_url = await asyncio.to_thread(again.start)
                server_file.write_text(json.dumps({"url": new_url}))
                deadline = time.monotonic() + 30
                while True:  # the subscription is made again on reconnect: the echo answers
                    try:
                        assert await echo_round_trip(nc) == b"ping"
                        break
                    except (nats.errors.Error, TimeoutError):
                        assert time.monotonic() < deadline, f"no reconnect after {restart}"
                        await asyncio.sleep(0.2)
                assert nc.connected_url is not None
                seen.append(address_of(nc.connected_url.geturl()))
            await nc.close()
            return seen

        try:
            seen = asyncio.run(scenario())
        finally:
            for server in servers:
                server.stop()
        assert seen[0] == seen[1] == f"127.0.0.1:{port}"
        assert seen[2] == address_of(servers[-1].url) != seen[0]


# --- the embedded server --------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "reconnect-data"
    try:
        yield path
    finally:
        stop_embedded(Settings.from_env({"HSL_DATA_DIR": str(path)}))


def _env(data_dir: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"NATS_URL", "HSL_LOG_LEVEL"}}
    env["HSL_DATA_DIR"] = str(data_dir)
    env.update(more)
    return env


def _hsl(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=REPO_ROOT,
        env=_env(data_dir, **env),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def _state(data_dir: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((data_dir / "nats" / STATE_FILE).read_text())
    return state


def test_a_restarted_embedded_server_keeps_its_port(data_dir: Path) -> None:
    """Killed, then started again by the next command: on the port it had."""
    settings = Settings.from_env({"HSL_DATA_DIR": str(data_dir)})
    first = connect_url(settings)
    assert first.pid is not None
    _kill(first.pid)
    again = connect_url(settings)
    assert again.origin == "started"
    assert again.pid != first.pid
    assert again.server_url == first.server_url
    assert again.state_file == data_dir / "nats" / STATE_FILE


# --- hsl serve and hsl project over a restart -------------------------------------------------


def _serve(data_dir: Path, **env: str) -> tuple[subprocess.Popen[str], str]:
    """`hsl serve` in its own process; returns it and its API's URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "serve",
            "--port",
            "0",
            "--checkpoint-interval",
            "0.2",
        ],
        cwd=REPO_ROOT,
        env=_env(data_dir, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    for _ in range(10):
        line = proc.stdout.readline()
        lines.append(line)
        if line.startswith("HTTP "):
            return proc, line.split()[1]
    proc.kill()
    _, err = proc.communicate(timeout=30)
    raise AssertionError(f"hsl serve did not start: {lines} {err}")


def _stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM; the process must still have been running and must exit 0. Returns stderr."""
    assert proc.poll() is None, "the command exited on its own"
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    return err


def _status(url: str, path: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}{path}", timeout=20) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:
        return 0


def _metric(api: str, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"{api}/metrics", timeout=20) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            value = line.split()[1]
            return None if value == "NaN" else float(value)
    return None


def _token(data_dir: Path) -> str:
    added = _hsl(
        data_dir, "users", "add", "clerk-1", "--name", "王文书", "--role", "clerk",
        "--county", "清河县", "--town", "柳溪镇",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    return added.stdout.strip().splitlines()[-1]


def _post_room(api: str, token: str, name: str) -> int:
    body = json.dumps(
        {
            "occurred_at": "2025-03-01T09:00:00+08:00",
            "name": name,
            "level": "town",
            "region": {"county": "清河县", "town": "柳溪镇"},
        }
    ).encode()
    request = urllib.request.Request(
        f"{api}/rooms",
        data=body,
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:
        return 0


def _write_until_stored(api: str, token: str, name: str) -> None:
    """POST until one is stored (201): right after a fault the first may be refused."""
    _await(lambda: _post_room(api, token, name) == 201, f"POST /rooms {name} stored")


def _at_least(api: str, name: str, value: float) -> Callable[[], bool]:
    def check() -> bool:
        got = _metric(api, name)
        return got is not None and got >= value

    return check


@pytest.mark.timeout(240)
def test_serve_rides_out_a_killed_embedded_server(data_dir: Path) -> None:
    """SIGKILL of the embedded server under `hsl serve`: /readyz goes 503; `hsl log status`
    starts it again on its port; serve, still running, is ready again and goes on writing,
    projecting and checkpointing."""
    token = _token(data_dir)
    serve, api = _serve(data_dir)
    try:
        _write_until_stored(api, token, "柳溪镇协商室一")
        _await(_at_least(api, "hsl_views_position", 1), "the views at event 1")
        _await(_at_least(api, "hsl_checkpoint_tree_size", 1), "a checkpoint of event 1")
        assert _status(api, "/readyz") == 200
        before = _state(data_dir)

        _kill(before["pid"])
        _await(lambda: _status(api, "/readyz") == 503, "/readyz answering 503")
        status = _hsl(data_dir, "log", "status")
        assert status.returncode == 0, status.stderr
        after = _state(data_dir)
        assert after["pid"] != before["pid"]
        assert after["url"] == before["url"]  # the same port: everyone reconnects to it

        _await(lambda: _status(api, "/readyz") == 200, "/readyz answering 200 again")
        _write_until_stored(api, token, "柳溪镇协商室二")
        _await(_at_least(api, "hsl_views_position", 2), "the views following the log again")
        _await(_at_least(api, "hsl_checkpoint_tree_size", 2), "checkpoints going on")
        assert serve.poll() is None
    finally:
        err = _stop(serve) if serve.poll() is None else (serve.communicate()[1] or "")
    passwords = json.loads((data_dir / "nats" / "users.json").read_text())["users"]
    assert not any(p in err for p in passwords.values())


@pytest.mark.timeout(240)
def test_hsl_project_follows_the_restarted_embedded_server(data_dir: Path) -> None:
    """A running `hsl project` applies what is written after its server was killed and
    started again (on its port, then, with the port taken, on another); its view reads
    answer again too."""
    settings = Settings.from_env({"HSL_DATA_DIR": str(data_dir)})

    def write(name: str) -> None:
        opened = open_application(settings)
        try:
            opened.app.establish_room(
                actor=CLERK,
                occurred_at=datetime(2025, 3, 1, 9, tzinfo=UTC),
                name=name,
                level="town",
                region=Region(county="清河县", town="柳溪镇"),
            )
        finally:
            opened.close()

    write("柳溪镇协商室一")
    first_url = _state(data_dir)["url"]
    project = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "project"],
        cwd=REPO_ROOT,
        env=_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    handle = connect_url(settings)
    views = RemoteViews(handle.url, "hsl", server_file=handle.state_file)
    try:
        _await(_views_at(views, 1), "the projector at event 1")
        _kill(_state(data_dir)["pid"])
        write("柳溪镇协商室二")  # starts the server again, on its port
        assert _state(data_dir)["url"] == first_url
        _await(_views_at(views, 2), "the projector following the restarted server")

        # Killed again, its port taken meanwhile: the server comes back elsewhere, and the
        # running commands find it through server.json.
        _kill(_state(data_dir)["pid"])
        with _squat(int(first_url.rpartition(":")[2])):
            write("柳溪镇协商室三")
            assert _state(data_dir)["url"] != first_url
            _await(_views_at(views, 3), "the projector following the server that moved")
        assert project.poll() is None
    finally:
        views.close()
        if project.poll() is None:
            _stop(project)


@contextlib.contextmanager
def _squat(port: int) -> Iterator[None]:
    """Listen on ``port`` (another program taking it) while in the block."""
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
    deadline = time.monotonic() + 20
    while True:
        try:
            squatter.bind(("127.0.0.1", port))
            break
        except OSError:
            # Briefly held by a client's reconnect attempt (its socket bound, refused, closing).
            assert time.monotonic() < deadline, f"port {port} stayed busy"
            time.sleep(0.1)
    squatter.listen()
    try:
        yield
    finally:
        squatter.close()


def _views_at(views: RemoteViews, head: int) -> Callable[[], bool]:
    """Whether the projector answers that its views are at ``head`` (not answering: no)."""

    def check() -> bool:
        try:
            return int(views.read(Position())) >= head
        except ViewsUnavailableError:
            return False

    return check


def _line_reader(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """The process's stdout lines, as they come, read by a thread."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _next_statuses(lines: queue.Queue[str], count: int, timeout: float = 60.0) -> list[str]:
    """The statuses of the next ``count`` events printed for the first time.

    An event printed just before the server was killed may come again, marked redelivered
    (its ack was cut off: the subscriber's documented at-least-once); it is not counted.
    """
    statuses: list[str] = []
    deadline = time.monotonic() + timeout
    while len(statuses) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"only {statuses} within {timeout:g} s"
        with contextlib.suppress(queue.Empty):
            line = lines.get(timeout=min(left, 1.0))
            if line.startswith("{"):
                event = json.loads(line)
                if not event.get("redelivered"):
                    statuses.append(str(event["status"]))
    return statuses


@pytest.mark.timeout(240)
def test_hsl_feed_and_hsl_subscribe_follow_the_restarted_embedded_server(data_dir: Path) -> None:
    """`hsl feed` publishes, and `hsl subscribe` prints, what is written after their server
    was killed and started again: neither exits, none is lost."""
    settings = Settings.from_env({"HSL_DATA_DIR": str(data_dir)})
    scenario = JetStreamScenario(connect_url(settings).url)
    running: list[subprocess.Popen[str]] = []
    try:
        scenario.drafted()
        added = _hsl(data_dir, "subscribers", "add", "watcher")
        assert added.returncode == 0, added.stderr
        subscribe = ["subscribe", "hsl.public.outcome.>", "--as", "watcher"]
        for command in (["feed", "--poll", "0.2"], subscribe):
            if running:  # the subscriber, once the feed has made the public stream
                _await(lambda: "hsl-public" in _hsl(data_dir, "log", "status").stdout, "feed")
            running.append(
                subprocess.Popen(
                    [sys.executable, "-m", "service.cli", *command],
                    cwd=REPO_ROOT,
                    env=_env(data_dir),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        printed = _line_reader(running[1])
        assert _next_statuses(printed, 1) == ["drafted"]

        _kill(_state(data_dir)["pid"])
        status = _hsl(data_dir, "log", "status")
        assert status.returncode == 0, status.stderr
        scenario.reported()  # a second outcome: drafted, then reported
        assert _next_statuses(printed, 2) == ["drafted", "reported"]
        assert all(proc.poll() is None for proc in running)
    finally:
        scenario.app.close()
        for proc in running:
            if proc.poll() is None:
                _stop(proc)


# --- a three-node cluster -------------------------------------------------------------------


def _connection_node(cluster: NatsCluster, name: str) -> NatsServerProcess:
    """The node holding the client connection called ``name`` (from its /connz)."""
    for node in cluster.nodes:
        with urllib.request.urlopen(f"{node.monitoring_url}/connz?limit=1024", timeout=5) as r:
            connz = json.loads(r.read())
        if any(c.get("name") == name for c in connz.get("connections") or []):
            return node
    raise AssertionError(f"no node holds a connection named {name!r}")


async def _replicas(urls: list[str], stream: str) -> int:
    nc = await connect(",".join(urls), name="t", policy=ONE_SHOT)
    try:
        info = await nc.jetstream(timeout=10).stream_info(stream)
        return int(info.config.num_replicas or 1)
    finally:
        await nc.close()


@pytest.mark.timeout(300)
def test_serve_on_a_cluster_survives_the_node_its_workers_use(tmp_path: Path) -> None:
    """On a fresh cluster, `hsl serve` with JETSTREAM_REPLICAS=3 creates every stream at
    three replicas; SIGKILL of the node its checkpointer and feed are connected to leaves it
    writing, projecting and checkpointing through the two left."""
    data_dir = tmp_path / "cluster-data"
    cluster = NatsCluster(tmp_path / "cluster")
    cluster.start()
    try:
        url = cluster.url
        token = _token(data_dir)
        serve, api = _serve(data_dir, NATS_URL=url, JETSTREAM_REPLICAS="3")
        try:
            _write_until_stored(api, token, "柳溪镇协商室一")
            _await(_at_least(api, "hsl_checkpoint_tree_size", 1), "a checkpoint of event 1")
            for stream in ("hsl", "hsl-public", "hsl-checkpoints"):
                assert asyncio.run(_replicas(cluster.urls, stream)) == 3, stream

            down = _connection_node(cluster, "hsl-serve-workers")
            assert down.process is not None
            down.process.kill()
            down.process.wait()

            _write_until_stored(api, token, "柳溪镇协商室二")
            _await(_at_least(api, "hsl_checkpoint_tree_size", 2), "checkpoints going on")
            _await(_at_least(api, "hsl_views_position", 2), "the views following the log")
            _await(lambda: _status(api, "/readyz") == 200, "/readyz answering 200")
            assert serve.poll() is None
        finally:
            if serve.poll() is None:
                _stop(serve)
    finally:
        cluster.stop()


def test_replicas_come_from_one_setting() -> None:
    """JETSTREAM_REPLICAS is read once, checked, and names what is wrong."""
    assert Settings.from_env({"JETSTREAM_REPLICAS": "3"}).jetstream_replicas == 3
    assert Settings.from_env({}).jetstream_replicas == 1
    for bad in ("0", "6", "three"):
        with pytest.raises(ValueError, match="JETSTREAM_REPLICAS"):
            Settings.from_env({"JETSTREAM_REPLICAS": bad})
