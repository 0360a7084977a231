"""Benchmark: one outcome's history (``hsl replay outcome``) from a large log, beside raw reads.

Run with ``python -m tests.benchmarks.bench_history --url NATS_URL [--outcomes N]`` against a
server holding a large demo log (``hsl demo --scale 430`` writes about a million events), e.g.
the one ``tests.benchmarks.bench_rebuild`` leaves, or with ``--scale K`` to write one first into
a temporary store. For N outcomes drawn from the middle and the end of the log it times, in the
same run, in this order:

- ``history, first read``: the timelines read once, the server's caches cold for those subjects;
- ``history``: ``replay.history.HistoryReader.timeline("outcome", id)``: the outcome's subject,
  then its topic's, consultation's and re-consultations' subjects, decoded and merged;
- ``raw``: nats-py direct gets (``next_by_subj`` batches) of the same subjects, nothing decoded.

Not a test: it prints the median, p95 and max of each and their ratio; no timing asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import nats

from events.jetstream.operations import direct_get_range
from replay.history import HistoryReader
from service.application import HaoshangliangApplication
from service.bootstrap import application_env
from service.cli.main import main as hsl_main
from service.nats.bundled_server import NatsServerProcess

TARGET_MS = 20.0


def _outcomes(app: HaoshangliangApplication, n: int) -> list[str]:
    last = app.recorder.max_notification_id() or 0
    found: list[str] = []
    for start in (max(1, last // 2), max(1, last - 50_000)):
        for notification in app.recorder.select_notifications(start=start, limit=20_000):
            if notification.topic == "outcome.drafted":
                found.append(str(notification.originator_id))
    step = max(1, len(found) // n)
    return found[::step][:n]


async def _raw(url: str, stream: str, subjects_per_outcome: list[list[str]]) -> list[float]:
    nc = await nats.connect(url)
    times = []
    try:
        for subjects in subjects_per_outcome:
            started = time.perf_counter()
            for subject in subjects:
                await direct_get_range(nc, stream, subject, 1, 1000)
            times.append((time.perf_counter() - started) * 1000)
    finally:
        await nc.close()
    return times


def _summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return (
        f"median {statistics.median(ordered):6.2f} ms  p95 {p95:6.2f} ms  max {ordered[-1]:6.2f} ms"
    )


def measure(url: str, n: int) -> None:
    app = HaoshangliangApplication(env=application_env(url))
    try:
        recorder = app.recorder
        layout = recorder.layout  # type: ignore[attr-defined]
        total = recorder.max_notification_id() or 0
        outcomes = _outcomes(app, n)
        reader = HistoryReader(recorder)  # type: ignore[arg-type]
        cold, history, subjects = [], [], []
        for outcome in outcomes:
            started = time.perf_counter()
            timeline = reader.timeline("outcome", outcome)
            cold.append((time.perf_counter() - started) * 1000)
            subjects.append([layout.event_subject(a) for a in timeline.aggregates_read])
        raw = asyncio.run(_raw(url, layout.stream, subjects))
        for outcome in outcomes:
            started = time.perf_counter()
            reader.timeline("outcome", outcome)
            history.append((time.perf_counter() - started) * 1000)
    finally:
        app.close()
    print(
        f"log of {total:,} events; {len(outcomes)} outcomes, "
        f"{statistics.mean(len(s) for s in subjects):.1f} subjects each"
    )
    print(f"{'history, first read (cold)':30} {_summary(cold)}")
    print(f"{'raw direct gets, same subjects':30} {_summary(raw)}")
    print(f"{'history (hsl replay outcome)':30} {_summary(history)}")
    ratio = statistics.median(raw) / statistics.median(history)
    verdict = "ok" if statistics.median(history) < TARGET_MS else "ABOVE"
    print(f"ratio raw/history (medians) {ratio:.2f}; target < {TARGET_MS:g} ms: {verdict}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--url", help="a NATS server holding the log (else one is made)")
    parser.add_argument("--scale", type=int, default=5, help="demo scale when making a log")
    parser.add_argument("--outcomes", type=int, default=100)
    args = parser.parse_args(argv)
    if args.url:
        measure(args.url, args.outcomes)
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServerProcess(store_dir=Path(tmp) / "nats")
        url = server.start()
        try:
            os.environ["NATS_URL"] = url
            if hsl_main(["demo", "--scale", str(args.scale)]) != 0:
                raise SystemExit("the demo failed")
            measure(url, args.outcomes)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
