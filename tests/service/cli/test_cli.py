"""The ``hsl`` command line, run as a user runs it (a separate process) and in-process."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
import structlog

from events.common import Actor
from events.room import Region
from replay.checkpoint import Checkpoint, open_checkpoint
from replay.checkpointer import read_checkpoints
from replay.signed_note import VerifierKey
from service.application import HaoshangliangApplication
from service.bootstrap import application_env
from service.cli.main import main
from service.logging import configure_logging
from service.nats.embedded import connect_url
from service.nats.embedded_files import STATE_FILE
from service.nats.embedded_process import pid_alive as _pid_alive
from service.settings import Settings
from tests.support.hsl_commands import await_metric, hsl, hsl_serve
from tests.support.nats_streams import publish


@pytest.fixture
def in_process(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run ``main()`` here on ``data_dir``; restore the logging configuration it changes."""
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.delenv("HSL_LOG_LEVEL", raising=False)
    monkeypatch.setenv("HSL_DATA_DIR", str(data_dir))
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers, root.level = handlers, level
        structlog.reset_defaults()


def closed_port_url() -> str:
    """A loopback URL nobody listens on (a port the OS just handed out and took back)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"nats://127.0.0.1:{port}"


class TestLogStatus:
    def test_lists_streams_with_counts_and_sequences(self, nats_url: str, tmp_path: Path) -> None:
        """Each stream appears on one line with its message count, first and last sequence."""
        asyncio.run(publish(nats_url, "ORDERS", 3))
        asyncio.run(publish(nats_url, "AUDIT", 1))

        result = hsl("log", "status", data_dir=tmp_path / "data", nats_url=nats_url)

        assert result.returncode == 0, result.stderr
        assert nats_url in result.stdout
        assert "external" in result.stdout
        assert "nats-server 2." in result.stdout
        lines = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[1:]}
        assert lines["ORDERS"] == ["3", "1", "3"]
        assert lines["AUDIT"] == ["1", "1", "1"]

    def test_json_output_parses(self, nats_url: str, tmp_path: Path) -> None:
        """--json prints one JSON object with the same facts."""
        asyncio.run(publish(nats_url, "ORDERS", 2))

        result = hsl("log", "status", "--json", data_dir=tmp_path / "data", nats_url=nats_url)

        assert result.returncode == 0, result.stderr
        status = json.loads(result.stdout)
        assert status["url"] == nats_url
        assert status["origin"] == "external"
        assert status["pid"] is None
        assert status["streams"] == [
            {"name": "ORDERS", "messages": 2, "first_seq": 1, "last_seq": 2}
        ]

    def test_embedded_says_started_then_reused_with_pid(
        self, data_dir: Path, in_process: None, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without NATS_URL the first status starts the server, the second reuses it."""
        assert main(["log", "status"]) == 0
        first = capsys.readouterr().out
        handle = connect_url(Settings.from_env({"HSL_DATA_DIR": str(data_dir)}))
        asyncio.run(publish(handle.url, "EVENTS", 4))
        assert main(["log", "status"]) == 0
        second = capsys.readouterr().out

        assert f"embedded, started now, pid {handle.pid}" in first
        assert "streams  none" in first
        assert f"embedded, reused, pid {handle.pid}" in second
        assert str(data_dir) in second
        assert "EVENTS" in second


class TestLogStop:
    def test_stops_the_embedded_server(self, data_dir: Path) -> None:
        """`hsl log stop` ends the server another `hsl` started and removes its state."""
        started = json.loads(hsl("log", "status", "--json", data_dir=data_dir).stdout)

        result = hsl("log", "stop", data_dir=data_dir)

        assert result.returncode == 0, result.stderr
        assert f"pid {started['pid']}" in result.stdout
        assert not (data_dir / "nats" / STATE_FILE).exists()
        assert not _pid_alive(started["pid"])

    def test_without_server_says_so(
        self, data_dir: Path, in_process: None, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Nothing to stop is not an error."""
        assert main(["log", "stop"]) == 0
        assert "no embedded nats-server is running" in capsys.readouterr().out

    def test_refuses_when_nats_url_is_set(
        self,
        nats_url: str,
        in_process: None,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A server named by NATS_URL is not ours to stop."""
        monkeypatch.setenv("NATS_URL", nats_url)

        assert main(["log", "stop"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("hsl: error: NATS_URL is set")
        assert err.count("\n") == 1


class TestServe:
    def test_serves_until_sigterm_and_stops_the_server_it_started(self, data_dir: Path) -> None:
        """`hsl serve` says where NATS is, and on SIGTERM stops the server it started."""
        proc = hsl_serve(data_dir, "--checkpoint-interval", "0.2")
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline() for _ in range(6)]
            assert lines[0].startswith("NATS     nats://127.0.0.1:"), lines
            assert "started now" in lines[0]
            assert str(data_dir) in lines[1]
            assert lines[2].startswith("checkpoints signed by haoshangliang/hsl+"), lines
            assert lines[3].startswith("feed     hsl-public"), lines
            assert lines[4].startswith(f"views    {data_dir}"), lines
            assert lines[5].startswith("HTTP     http://127.0.0.1:"), lines
            api = lines[5].split()[1]
            with urllib.request.urlopen(f"{api}/healthz", timeout=10) as answer:
                assert json.loads(answer.read()) == {"status": "ok"}
            state = json.loads((data_dir / "nats" / STATE_FILE).read_text())
            key = VerifierKey.parse(lines[2].split()[-1])
            assert "as user service" in lines[0]
            # What serve prints has no password; a client takes it from the data dir.
            url = connect_url(Settings.from_env({"HSL_DATA_DIR": str(data_dir)})).url
            assert url.startswith("nats://service:")
            assert url not in lines[0]
            app = HaoshangliangApplication(env=application_env(url))
            try:
                app.establish_room(
                    actor=Actor(id="clerk-1", role="clerk"),
                    occurred_at=datetime.now(UTC),
                    name="淮城镇有事好商量协商室",
                    level="town",
                    region=Region(county="淮城县", town="淮城镇"),
                )
            finally:
                app.close()
            checkpoint = _await_checkpoint(url, key)
            assert checkpoint.size == 1
            with urllib.request.urlopen(f"{api}/metrics", timeout=10) as answer:
                assert "\nhsl_checkpoint_tree_size 1\n" in answer.read().decode()
            await_metric(api, "hsl_views_position 1")  # the projector inside serve
            with urllib.request.urlopen(f"{api}/readyz", timeout=10) as answer:
                assert answer.status == 200

            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

        assert proc.returncode == 0, err
        assert "stopped the embedded nats-server" in out
        assert not (data_dir / "nats" / STATE_FILE).exists()
        assert not _pid_alive(state["pid"])

    def test_demo_flag_loads_the_county_into_an_empty_log_and_the_views(
        self, data_dir: Path
    ) -> None:
        """`hsl serve --demo`, the README's first command: the demo loaded, views current."""
        proc = hsl_serve(data_dir, "--demo")
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline() for _ in range(7)]
            loaded = next(line for line in lines if line.startswith("demo     loaded: "))
            total = int(loaded.split()[2])
            assert total > 2000
            api = next(line for line in lines if line.startswith("HTTP ")).split()[1]
            await_metric(api, f"hsl_views_position {total}", timeout=30)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err

    def test_leaves_a_reused_server_running(self, data_dir: Path) -> None:
        """A server `serve` found already running outlives it."""
        started = json.loads(hsl("log", "status", "--json", data_dir=data_dir).stdout)
        proc = hsl_serve(data_dir, "--checkpoint-interval", "0.2", stderr=subprocess.DEVNULL)
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

        assert f"reused, pid {started['pid']}" in first
        assert proc.returncode == 0
        assert _pid_alive(started["pid"])


class TestLogging:
    def test_json_lines_off_a_terminal_with_bound_context(self, in_process: None) -> None:
        """Off a terminal each log line is JSON and carries context bound with contextvars."""
        stream = io.StringIO()
        configure_logging("info", stream=stream)
        logger = structlog.get_logger("test")

        with structlog.contextvars.bound_contextvars(request_id="r-1", aggregate_id="a-9"):
            logger.info("recorded", sequence=7)
        logger.debug("not shown at info")
        logging.getLogger("nats.aio.client").warning("from the stdlib")

        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [line["event"] for line in lines] == ["recorded", "from the stdlib"]
        assert lines[0]["request_id"] == "r-1"
        assert lines[0]["aggregate_id"] == "a-9"
        assert lines[0]["sequence"] == 7
        assert lines[0]["level"] == "info"
        assert lines[1]["logger"] == "nats.aio.client"


class TestErrors:
    def test_unreachable_nats_url_is_one_line(self, tmp_path: Path) -> None:
        """A server that does not answer gives one clear line on stderr, exit 1, no traceback."""
        url = closed_port_url()

        result = hsl("log", "status", data_dir=tmp_path, nats_url=url)

        assert result.returncode == 1
        assert result.stderr.startswith(f"hsl: error: cannot connect to NATS at {url}")
        assert result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr

    @pytest.mark.parametrize("command", [("audit", "checkpoint", "--once"), ("feed", "--once")])
    def test_commands_that_probe_the_server_say_so_in_one_line(
        self, tmp_path: Path, command: tuple[str, ...]
    ) -> None:
        """``audit checkpoint`` and ``feed`` check the server the same way: a server that does
        not answer is one line naming it (``audit checkpoint`` said "unexpected
        BootstrapError" before)."""
        url = closed_port_url()

        result = hsl(*command, data_dir=tmp_path, nats_url=url)

        assert result.returncode == 1
        assert result.stderr.startswith("hsl: error: ")
        assert "unexpected" not in result.stderr
        assert url in result.stderr
        assert result.stderr.count("\n") == 1

    def test_unwritable_data_dir_is_one_line(self, tmp_path: Path) -> None:
        """A data dir that cannot be created is named, without a traceback."""
        (tmp_path / "file").write_text("")

        result = hsl("log", "status", data_dir=tmp_path / "file" / "data")

        assert result.returncode == 1
        assert "is not writable" in result.stderr
        assert result.stderr.count("\n") == 1

    def test_bad_log_level_is_named(
        self,
        in_process: None,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """An unusable setting names the variable and the accepted values."""
        monkeypatch.setenv("HSL_LOG_LEVEL", "loud")

        assert main(["log", "status"]) == 1
        assert "HSL_LOG_LEVEL='loud' is not one of debug" in capsys.readouterr().err

    def test_missing_subcommand_is_a_usage_error(
        self, in_process: None, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`hsl log` alone shows usage and exits 2, as argparse does."""
        with pytest.raises(SystemExit) as exit_info:
            main(["log"])
        assert exit_info.value.code == 2
        assert "usage: hsl log" in capsys.readouterr().err


def _await_checkpoint(url: str, key: VerifierKey, timeout: float = 10.0) -> Checkpoint:
    """The first checkpoint `hsl serve` signs, read from its stream and verified."""

    async def read() -> Checkpoint | None:
        nc = await nats.connect(url)
        try:
            stored = await read_checkpoints(nc, "hsl")
        except Exception:
            return None
        finally:
            await nc.close()
        return open_checkpoint(stored[0].note, [key])[0] if stored else None

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = asyncio.run(read())
        if found is not None:
            return found
        time.sleep(0.1)
    raise AssertionError("hsl serve signed no checkpoint in time")
