"""The checkpointer and the outcome feed ride out a JetStream store with no room.

At the server's storage limit their writes are refused ("insufficient resources"); instead of
stopping (and stopping ``hsl serve`` with them) they keep following, and sign and publish
what they owe once the limit is raised, with no restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from replay.checkpointer import Checkpointer, read_checkpoints
from replay.keys import origin_for
from replay.signed_note import SignerKey
from service.feed.publisher import FeedPublisher
from service.nats.bundled_server import NatsServerProcess
from tests.support.chain import Chain
from tests.support.jetstream_scenario import JetStreamScenario

STREAM = "hsl"


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[NatsServerProcess, Path]]:
    config = tmp_path / "nats.conf"
    config.write_text("jetstream { max_file_store: 512KB }\n")
    server = NatsServerProcess(store_dir=tmp_path / "nats", extra_args=["-c", str(config)])
    server.start()
    try:
        yield server, config
    finally:
        server.stop()


async def _fill(nc: nats.NATS) -> None:
    js = nc.jetstream()
    await js.add_stream(name="filler", subjects=["filler.>"])
    for size in (16_384, 1024, 64, 1):
        with contextlib.suppress(nats.js.errors.APIError):
            while True:
                await js.publish("filler.x", b"x" * size)


async def _until(condition: object, seconds: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


def test_checkpointer_and_feed_keep_running_and_catch_up_when_room_returns(
    limited: tuple[NatsServerProcess, Path],
) -> None:
    server, config = limited
    s = JetStreamScenario(server.url)
    try:
        Chain(s)
        events = int(s.app.recorder.max_notification_id() or 0)
    finally:
        s.app.close()
    signer = SignerKey.generate(origin_for(STREAM))

    async def scenario() -> tuple[int, int]:
        nc = await nats.connect(server.url)
        try:
            await _fill(nc)
            checkpointer = Checkpointer(nc, STREAM, signer, every=1, interval=0)
            feed = FeedPublisher(nc, STREAM, clock=None)
            stop = asyncio.Event()
            tasks = [
                asyncio.create_task(checkpointer.run(stop, poll=0.05)),
                asyncio.create_task(feed.run(stop, poll=0.05)),
            ]
            await _until(
                lambda: getattr(checkpointer, "no_room", False) or any(t.done() for t in tasks)
            )
            await asyncio.sleep(0.5)  # a few more rounds while full
            assert not any(t.done() for t in tasks), [t.exception() for t in tasks if t.done()]
            assert await read_checkpoints(nc, STREAM) == []
            config.write_text("jetstream { max_file_store: 64MB }\n")
            assert server.process is not None
            server.process.send_signal(signal.SIGHUP)
            await _until(lambda: checkpointer.last_size == events and feed.published > 0)
            stop.set()
            await asyncio.gather(*tasks)
            return len(await read_checkpoints(nc, STREAM)), feed.published
        finally:
            await nc.close()

    checkpoints, published = asyncio.run(scenario())
    assert checkpoints >= 1
    assert published > 0
