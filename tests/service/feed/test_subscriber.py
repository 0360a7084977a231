"""``hsl subscribe``: a durable consumer; stopped and restarted, it misses none, repeats none."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from service.cli.demo import run_demo
from service.cli.main import main
from service.feed.integration import to_builtins
from service.feed.publisher import FeedPublisher, catch_up
from service.feed.stream import public_stream
from service.feed.subscriber import subscribe
from service.nats.bundled_server import NatsServerProcess
from service.settings import Settings
from tests.support.feed_stream import STREAM, public_changes, with_client
from tests.support.jetstream_scenario import JetStreamScenario
from tests.support.paths import REPO_ROOT
from tests.support.scenario import PARTY

EVERYTHING = "hsl.public.outcome.>"


def _expected(url: str, subject_status: str | None = None) -> list[dict[str, Any]]:
    changes = with_client(url, public_changes)
    return [
        json.loads(json.dumps(to_builtins(c)))
        for c in changes
        if subject_status is None or c.status == subject_status
    ]


def _env(url: str, tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "NATS_URL": url,
        "HSL_DATA_DIR": str(tmp / "data"),
        "HSL_LOG_LEVEL": "warning",
        "PYTHONPATH": str(REPO_ROOT),
    }


def _hsl(*args: str) -> list[str]:
    return [sys.executable, "-m", "service.cli", *args]


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The demo county in a server of its own, its feed published (module-wide: it is slow)."""
    tmp = tmp_path_factory.mktemp("feed-demo")
    server = NatsServerProcess(store_dir=tmp / "nats")
    server.start()
    try:
        settings = Settings.from_env({"NATS_URL": server.url, "HSL_DATA_DIR": str(tmp / "data")})
        run_demo(settings, 20240101)
        with_client(server.url, lambda nc: catch_up(nc, STREAM, clock=None))
        yield server.url, tmp
    finally:
        server.stop()


def test_the_demo_reaches_a_subscriber_exactly_once_across_a_stop_and_a_restart(
    demo: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = demo
    expected = _expected(url)
    assert len(expected) > 100
    env = _env(url, tmp_path)
    command = _hsl("subscribe", EVERYTHING, "--as", "dashboard")
    first = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert first.stdout is not None
    seen = [first.stdout.readline() for _ in range(25)]  # stop it part way, by a signal
    first.send_signal(signal.SIGTERM)
    rest, errors = first.communicate(timeout=60)
    assert first.returncode == 0, errors
    printed = _lines("".join(seen) + rest)
    assert 25 <= len(printed) < len(expected)
    second = subprocess.run(
        [*command, "--count", str(len(expected) - len(printed))],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert second.returncode == 0, second.stderr
    printed += _lines(second.stdout)
    assert printed == expected  # none missed, none repeated, in order, none "redelivered"

    async def pending(nc: Client) -> tuple[int, int]:
        info = await nc.jetstream().consumer_info(public_stream(STREAM), "dashboard")
        return info.num_pending, info.num_ack_pending

    assert with_client(url, pending) == (0, 0)


def test_a_filtered_subscriber_sees_only_its_subject(
    demo: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = demo
    expected = _expected(url, "adopted")
    assert expected
    env = _env(url, tmp_path)
    printed: list[dict[str, Any]] = []
    for count in (1, len(expected) - 1):  # stopped after one, then the rest
        run = subprocess.run(
            _hsl(
                "subscribe",
                "hsl.public.outcome.adopted.*",
                "--as",
                "adopted",
                "--count",
                str(count),
            ),
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        printed += _lines(run.stdout)
    assert printed == expected


def test_a_live_subscriber_follows_the_publisher_as_the_log_grows(nats_url: str) -> None:
    s = JetStreamScenario(nats_url)

    async def live(nc: Client) -> list[str]:
        stop = asyncio.Event()
        publisher = FeedPublisher(nc, STREAM, clock=None)
        await publisher.resume()  # creates the public stream
        feeding = asyncio.create_task(publisher.run(stop, poll=0.05))
        lines: list[str] = []
        loop = asyncio.get_running_loop()
        outcome = await loop.run_in_executor(None, s.reported)
        received = await subscribe(nc, STREAM, EVERYTHING, "live", stop, out=lines.append, count=2)
        await loop.run_in_executor(
            None,
            lambda: s.app.adopt_outcome(
                outcome, actor=PARTY, occurred_at=s.at(), adopted_as="consensus", decided_by="党委"
            ),
        )
        received += await subscribe(nc, STREAM, EVERYTHING, "live", stop, out=lines.append, count=1)
        stop.set()
        await feeding
        assert received == 3
        return [json.loads(line)["status"] for line in lines]

    try:
        assert with_client(nats_url, live) == ["drafted", "reported", "adopted"]
    finally:
        s.app.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["hsl.events.>"], "is not on the public feed"),
        (["hsl.public.outcome.adoptd.*"], "unknown status 'adoptd'"),
        (["hsl.public.outcome.adopted.room-1"], "is not a room id"),
        (["hsl.public.outcome.adopted"], "tokens after the prefix"),
        ([EVERYTHING, "--durable", "a.b"], "durable name 'a.b'"),
        ([EVERYTHING, "--count", "0"], "--count must be 1 or more"),
    ],
)
def test_bad_input_is_a_one_line_error(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["subscribe", "--as", "dashboard", *args]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("hsl: error: ")
    assert message in err


def test_subscribing_before_the_feed_exists_says_what_to_run(
    nats_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.setenv("HSL_DATA_DIR", str(tmp_path))
    assert main(["subscribe", "--as", "dashboard", EVERYTHING]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "does not exist yet: run `hsl feed`" in err


def test_a_durable_cannot_switch_subjects(
    nats_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.setenv("HSL_DATA_DIR", str(tmp_path))
    s = JetStreamScenario(nats_url)
    try:
        s.drafted()
    finally:
        s.app.close()
    assert main(["feed", "--once"]) == 0
    assert "published 1 outcome status changes" in capsys.readouterr().out
    assert (
        main(["subscribe", "--as", "dashboard", EVERYTHING, "--durable", "d", "--count", "1"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["status"] == "drafted"
    assert (
        main(["subscribe", "--as", "dashboard", "hsl.public.outcome.closed.*", "--durable", "d"])
        == 1
    )
    assert "durable 'd' follows 'hsl.public.outcome.>'" in capsys.readouterr().err
