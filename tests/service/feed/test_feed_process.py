"""``hsl feed`` as a real process, SIGKILLed part way again and again: none twice, none lost."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest

from service.cli.demo import run_demo
from service.feed.publisher import catch_up
from service.feed.stream import public_stream
from service.nats.bundled_server import NatsServerProcess
from service.settings import Settings
from tests.support.feed_stream import STREAM, public_changes, reference_changes, with_client
from tests.support.jetstream_scenario import JetStreamScenario
from tests.support.paths import REPO_ROOT

KILLS = 4


@pytest.fixture
def demo_log(tmp_path: Path) -> Iterator[str]:
    """The demo county (scale 2) in a server of its own, no feed published yet."""
    server = NatsServerProcess(store_dir=tmp_path / "nats")
    server.start()
    try:
        settings = Settings.from_env({"NATS_URL": server.url, "HSL_DATA_DIR": str(tmp_path)})
        run_demo(settings, 20240101, 2)
        yield server.url
    finally:
        server.stop()


async def _count(url: str) -> int:
    nc = await nats.connect(url)
    try:
        return int((await nc.jetstream().stream_info(public_stream(STREAM))).state.messages)
    except Exception:
        return 0
    finally:
        await nc.close()


def test_killed_part_way_again_and_again_it_publishes_each_change_once(
    demo_log: str, tmp_path: Path
) -> None:
    url = demo_log
    env = {
        **os.environ,
        "NATS_URL": url,
        "HSL_DATA_DIR": str(tmp_path / "data"),
        "HSL_LOG_LEVEL": "warning",
        "PYTHONPATH": str(REPO_ROOT),
    }
    kills, before = 0, 0
    while True:
        feed = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "feed", "--once"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while feed.poll() is None and time.monotonic() < deadline:
            if kills < KILLS and asyncio.run(_count(url)) > before:
                feed.send_signal(signal.SIGKILL)  # mid-way: it has more to publish
                feed.wait()
                kills += 1
                break
            time.sleep(0.005)
        _, errors = feed.communicate(timeout=60)
        before = asyncio.run(_count(url))
        if feed.returncode == 0:
            break
        assert feed.returncode == -signal.SIGKILL, errors
    # The run that finished used the wall clock at its end: the reference checks it once, too.
    published = with_client(url, public_changes)
    last_overdue = max(
        (c.recorded_at for c in published if c.source_type == "clock.deadline_passed"),
        default=datetime.now(UTC),
    )
    expected = with_client(url, lambda nc: reference_changes(nc, last_overdue))
    assert kills >= 1
    assert [(c.source_sequence, c.status, c.outcome_id) for c in published] == [
        (c.source_sequence, c.status, c.outcome_id) for c in expected
    ]
    assert with_client(url, lambda nc: catch_up(nc, STREAM, clock=None)) == 0


def test_hsl_feed_follows_the_log_until_sigterm(nats_url: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "NATS_URL": nats_url,
        "HSL_DATA_DIR": str(tmp_path / "data"),
        "HSL_LOG_LEVEL": "warning",
        "PYTHONPATH": str(REPO_ROOT),
    }
    feed = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "feed", "--poll", "0.05"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert feed.stdout is not None
        assert feed.stdout.readline().startswith("publishing to hsl-public")
        s = JetStreamScenario(nats_url)
        try:
            s.reported()  # written while the feed runs
        finally:
            s.app.close()
        deadline = time.monotonic() + 30
        while asyncio.run(_count(nats_url)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        feed.send_signal(signal.SIGTERM)
        out, errors = feed.communicate(timeout=30)
    finally:
        if feed.poll() is None:
            feed.kill()
    assert feed.returncode == 0, errors
    assert "published 2 outcome status changes to hsl-public" in out
    assert [c.status for c in with_client(nats_url, public_changes)] == ["drafted", "reported"]
