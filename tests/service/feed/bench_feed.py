"""The feed's catch-up and restart beside the raw client's reads and batched writes, same run.

    python -m tests.service.feed.bench_feed [--scale K]

Writes the demo county at scale K into a fresh nats-server, then times:

- ``catch up``: a first ``catch_up`` (reads the whole log, publishes every change);
- ``restart``: a second one (rebuilds the state from the log, publishes nothing);
- ``raw read``: ``read_range`` over the same events, nothing decoded;
- ``raw write``: the same number of messages as the catch-up published, of the same size, stored
  by ``commit`` in batches of the same size into a scratch stream.

Not a test: no timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.js.api import StreamConfig

from events.jetstream.operations import OutgoingMessage, commit, direct_get_range, read_range
from events.jetstream.stream_layout import StreamLayout
from service.cli.demo import run_demo
from service.feed.integration import ALL_SUBJECTS
from service.feed.publisher import BATCH, FeedPublisher
from service.feed.stream import public_stream
from service.nats.bundled_server import NatsServerProcess
from service.settings import Settings

STREAM = "hsl"


async def _raw_read(nc: Client) -> int:
    filter_ = StreamLayout(STREAM).events_filter
    return sum([len(page) async for page in read_range(nc, STREAM, filter_)])


async def _raw_write(nc: Client, count: int, size: int) -> None:
    await nc.jetstream().add_stream(
        StreamConfig(name="scratch", subjects=["scratch.>"], allow_atomic=True)
    )
    payload = b"x" * size
    for first in range(0, count, BATCH):
        n = min(BATCH, count - first)
        await commit(
            nc,
            [
                OutgoingMessage("scratch.a", {"Nats-Msg-Id": str(first + i)}, payload)
                for i in range(n)
            ],
        )


async def _bench(url: str) -> None:
    nc = await nats.connect(url)
    try:
        first = FeedPublisher(nc, STREAM, clock=None)
        began = time.perf_counter()
        await first.resume()
        await first.step()
        catch_up = time.perf_counter() - began
        events, changes = first.position, first.published

        again = FeedPublisher(nc, STREAM, clock=None)
        began = time.perf_counter()
        await again.resume()
        await again.step()
        restart = time.perf_counter() - began

        began = time.perf_counter()
        assert await _raw_read(nc) == events
        raw_read = time.perf_counter() - began

        page, _ = await direct_get_range(nc, public_stream(STREAM), ALL_SUBJECTS, 1, 100)
        size = sum(len(m.payload) for m in page) // max(len(page), 1)
        began = time.perf_counter()
        await _raw_write(nc, changes, size)
        raw_write = time.perf_counter() - began
    finally:
        await nc.close()
    print(f"log      {events:>9,} events, {changes:,} status changes (~{size} bytes each)")
    print(f"catch up {catch_up:9.2f} s  {events / catch_up:>10,.0f} events/s")
    print(f"restart  {restart:9.2f} s  {events / restart:>10,.0f} events/s (rebuild, nothing new)")
    print(
        f"raw read {raw_read:9.2f} s  {events / raw_read:>10,.0f} events/s  restart/raw read = "
        f"{restart / raw_read:.2f}x"
    )
    print(
        f"raw write{raw_write:9.2f} s  {changes / raw_write:>10,.0f} msgs/s  (catch up - restart)"
        f"/raw write = {(catch_up - restart) / raw_write:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=4, help="demo scale (1 is ~2,400 events)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServerProcess(store_dir=Path(tmp) / "nats")
        server.start()
        try:
            settings = Settings.from_env({"NATS_URL": server.url, "HSL_DATA_DIR": tmp})
            run_demo(settings, 20240101, args.scale)
            asyncio.run(_bench(server.url))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
