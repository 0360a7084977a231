"""Benchmark: the demo's write rate, beside the raw client's on the same server and payloads.

Run with ``python -m tests.benchmarks.bench_demo [--scale K] [--seed N]``. It starts one
bundled nats-server on a temporary store and, in the same run, measures:

- ``demo``: ``hsl demo`` through the application on JetStream (commands, rules, one save each);
- ``popo``: the same demo on eventsourcing's in-memory store: the cost of our application,
  domain and generator without the log;
- ``raw``: nats-py awaited ``js.publish`` of the demo's own stored payloads, one by one, to
  fresh subjects of a separate stream on the same server: the log's floor.

Not a test: it prints figures and ratios and asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import nats
from nats.js.api import StreamConfig

from service.application import HaoshangliangApplication
from service.bootstrap import open_application
from service.cli.demo import DEMO_ENV, write_demo
from service.demo.county import build_county
from service.demo.generator import Demo
from service.demo.timeline import DemoClock
from service.nats.bundled_server import NatsServerProcess
from service.settings import Settings


def popo_rate(seed: int, scale: int) -> tuple[int, float]:
    """Events and events/s of the demo on the in-memory store."""
    clock = DemoClock()
    env = {"PERSISTENCE_MODULE": "eventsourcing.popo", **DEMO_ENV}
    app = HaoshangliangApplication(env=env)  # recorded_at by the real clock, as `hsl demo`
    started = time.perf_counter()
    Demo(app, build_county(seed, scale), clock).run()
    seconds = time.perf_counter() - started
    events = app.recorder.max_notification_id() or 0
    return events, events / seconds


async def raw_rate(url: str, payloads: list[bytes]) -> float:
    """Awaited ``js.publish`` of each payload to its own subject of a scratch stream."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="RAW", subjects=["raw.>"]))
        subjects = [f"raw.events.{uuid.uuid4()}" for _ in payloads]
        started = time.perf_counter()
        for subject, payload in zip(subjects, payloads, strict=True):
            await js.publish(subject, payload)
        return len(payloads) / (time.perf_counter() - started)
    finally:
        await nc.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--scale", type=int, default=20, help="demo scale (about 2,400 x K)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--raw", type=int, default=20_000, help="payloads for the raw baseline")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, NatsServerProcess(Path(tmp) / "nats") as server:
        settings = Settings.from_env({"NATS_URL": server.url, "HSL_DATA_DIR": tmp})
        clock = DemoClock()
        opened = open_application(settings, env_overrides=DEMO_ENV)
        try:
            summary = write_demo(opened, build_county(args.seed, args.scale), clock)
            page = opened.app.recorder.select_notifications(start=1, limit=args.raw)
            payloads = [n.state for n in page]
        finally:
            opened.close()
        raw = asyncio.run(raw_rate(server.url, payloads))
    popo_events, popo = popo_rate(args.seed, args.scale)
    assert popo_events == summary.total
    size = sum(map(len, payloads)) / len(payloads)
    print(f"demo seed {args.seed}, scale {args.scale}: {summary.total:,} events")
    print(f"  demo on JetStream   {summary.rate:>9,.0f} events/s  ({summary.seconds:.1f} s)")
    print(f"  demo in memory      {popo:>9,.0f} events/s  (application + domain + generator)")
    print(f"  raw js.publish      {raw:>9,.0f} events/s  ({len(payloads):,} of its payloads)")
    print(f"  mean payload        {size:>9,.0f} bytes")
    print(f"  ratio demo / raw    {summary.rate / raw:>9.2f}")
    per_event = 1e6 / summary.rate
    log_part = 1e6 / raw
    print(
        f"  per event: {per_event:.0f} µs = ~{log_part:.0f} µs raw publish "
        f"+ ~{1e6 / popo:.0f} µs our Python + {per_event - log_part - 1e6 / popo:.0f} µs recorder"
    )


if __name__ == "__main__":
    main()
