"""Benchmark: saves per second through our recorder against raw nats-py, on one server.

Run with ``python -m tests.benchmarks.bench_log [--events N] [--rounds R]``. It starts one bundled
nats-server on a temporary store and measures, in the same run:

(a) one writer, one-event saves   vs raw awaited ``js.publish``        (target >= 0.8x)
(b) 8 concurrent writers           vs raw pipelined ``js.publish_async`` (target >= 0.5x)
(c) three-event atomic commits     in events/s vs the rate of (a)       (target >= 0.5x)
(c') the same with 8 writers, for information: each atomic batch waits on the server

Two more raw baselines, without targets, say where the limits of (b) and (c) lie:

(b-raw) raw nats-py driven by 8 synchronous threads (one client on a loop thread, each thread
        waiting for its own ``js.publish``): the cheapest way a synchronous, threaded caller,
        which is what eventsourcing's recorder API is, can use the client at all;
(c-raw) raw nats-py three-message ADR-50 atomic batches, one writer, with nothing but the
        batch headers: what the server itself allows for (c).

Not a test: it prints figures and ratios and asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import nats
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import Environment

from events.jetstream.factory import JetStreamFactory
from events.jetstream.recorders import JetStreamApplicationRecorder
from service.nats.bundled_server import NatsCluster, NatsServerProcess

PAYLOAD = (
    b'{"type":"outcome.progress_reported","actor":{"id":"p-0042","role":"implementing_unit"},'
    b'"occurred_at":"2026-11-20T09:30:00Z","recorded_at":"2026-11-20T09:31:12Z",'
    b'"percent":60,"note":"\xe9\x81\x93\xe8\xb7\xaf\xe7\xa1\xac\xe5\x8c\x96\xe5\xb7\xb2\xe5'
    b'\xae\x8c\xe6\x88\x90\xe4\xb8\x89\xe5\x85\xac\xe9\x87\x8c"}'
)
TOPIC = "outcome.progress_reported"
WRITERS = 8


def _events(count: int) -> list[StoredEvent]:
    aggregate = uuid.uuid4()
    return [StoredEvent(aggregate, v, TOPIC, PAYLOAD) for v in range(1, count + 1)]


def _rate(count: int, run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return count / (time.perf_counter() - started)


def bench_recorder_single(recorder: JetStreamApplicationRecorder, n: int) -> float:
    batches = [_events(1) for _ in range(n)]

    def run() -> None:
        for batch in batches:
            recorder.insert_events(batch)

    return _rate(n, run)


def bench_recorder_concurrent(
    recorder: JetStreamApplicationRecorder, n: int, events_per_commit: int = 1
) -> float:
    per_writer = n // WRITERS // events_per_commit
    batches = [[_events(events_per_commit) for _ in range(per_writer)] for _ in range(WRITERS)]

    def writer(mine: list[list[StoredEvent]]) -> None:
        for batch in mine:
            recorder.insert_events(batch)

    def run() -> None:
        threads = [threading.Thread(target=writer, args=(b,)) for b in batches]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    return _rate(per_writer * WRITERS * events_per_commit, run)


def bench_recorder_triples(recorder: JetStreamApplicationRecorder, n: int) -> float:
    commits = [_events(3) for _ in range(n // 3)]

    def run() -> None:
        for batch in commits:
            recorder.insert_events(batch)

    return _rate(len(commits) * 3, run)


def _raw_threaded(url: str, stream: str, n: int) -> float:
    """(b-raw): 8 threads, each waiting on its own raw ``js.publish`` run on one loop thread."""
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    nc = asyncio.run_coroutine_threadsafe(nats.connect(url.split(",")), loop).result()
    js = nc.jetstream()
    per_writer = n // WRITERS
    subjects = [
        [f"hsl.{stream}.events.{uuid.uuid4()}" for _ in range(per_writer)] for _ in range(WRITERS)
    ]

    def writer(mine: list[str]) -> None:
        for subject in mine:
            asyncio.run_coroutine_threadsafe(js.publish(subject, PAYLOAD), loop).result()

    def run() -> None:
        threads = [threading.Thread(target=writer, args=(m,)) for m in subjects]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    try:
        return _rate(per_writer * WRITERS, run)
    finally:
        asyncio.run_coroutine_threadsafe(nc.close(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        runner.join()
        loop.close()


async def _raw_triples(url: str, stream: str, n: int) -> float:
    """(c-raw): raw three-message atomic batches, the commit awaited, one writer."""
    nc = await nats.connect(url.split(","))
    commits = n // 3
    try:
        started = time.perf_counter()
        for _ in range(commits):
            subject = f"hsl.{stream}.events.{uuid.uuid4()}"
            batch = uuid.uuid4().hex
            for position in (1, 2):
                headers = {"Nats-Batch-Id": batch, "Nats-Batch-Sequence": str(position)}
                await nc.publish(subject, PAYLOAD, headers=headers)
            headers = {"Nats-Batch-Id": batch, "Nats-Batch-Sequence": "3", "Nats-Batch-Commit": "1"}
            reply = await nc.request(subject, PAYLOAD, timeout=5, headers=headers)
            if b'"error"' in reply.data:
                raise RuntimeError(f"raw batch refused: {reply.data!r}")
        return commits * 3 / (time.perf_counter() - started)
    finally:
        await nc.close()


async def _raw_rates(url: str, stream: str, n: int) -> tuple[float, float]:
    nc = await nats.connect(url.split(","))
    js = nc.jetstream()
    subjects = [f"hsl.{stream}.events.{uuid.uuid4()}" for _ in range(n)]
    try:
        started = time.perf_counter()
        for subject in subjects:
            await js.publish(subject, PAYLOAD)
        awaited = n / (time.perf_counter() - started)
        subjects = [f"hsl.{stream}.events.{uuid.uuid4()}" for _ in range(n)]
        started = time.perf_counter()
        for subject in subjects:
            await js.publish_async(subject, PAYLOAD)
        await js.publish_async_completed()
        pipelined = n / (time.perf_counter() - started)
    finally:
        await nc.close()
    return awaited, pipelined


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000, help="events per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median kept)")
    parser.add_argument(
        "--cluster", action="store_true", help="a 3-node cluster on loopback, R3 streams"
    )
    args = parser.parse_args(argv)
    n = args.events // args.rounds
    measured: dict[str, list[float]] = {
        k: [] for k in ("raw", "raw_async", "raw_threads", "raw_triples", "a", "b", "c", "c8")
    }
    with tempfile.TemporaryDirectory() as tmp:
        server: NatsServerProcess | NatsCluster
        if args.cluster:
            server = NatsCluster(Path(tmp))
            replicas = "3"
        else:
            server = NatsServerProcess(store_dir=Path(tmp) / "nats")
            replicas = "1"
        server.start()
        factory = JetStreamFactory(
            Environment("Bench", {"NATS_URL": server.url, "JETSTREAM_REPLICAS": replicas})
        )
        try:
            recorder = factory.application_recorder()
            assert isinstance(recorder, JetStreamApplicationRecorder)
            stream = recorder.layout.stream
            bench_recorder_single(recorder, min(n, 1000))  # warm up both paths
            asyncio.run(_raw_rates(server.url, stream, min(n, 1000)))
            # Raw and ours alternate, so that drift of the machine or the server's store
            # (it grows, it flushes) falls on both alike; the median of the rounds is kept.
            for _ in range(args.rounds):
                raw_awaited, raw_pipelined = asyncio.run(_raw_rates(server.url, stream, n))
                measured["raw"].append(raw_awaited)
                measured["raw_async"].append(raw_pipelined)
                measured["raw_threads"].append(_raw_threaded(server.url, stream, n))
                measured["raw_triples"].append(asyncio.run(_raw_triples(server.url, stream, n)))
                measured["a"].append(bench_recorder_single(recorder, n))
                measured["b"].append(bench_recorder_concurrent(recorder, n))
                measured["c"].append(bench_recorder_triples(recorder, n))
                measured["c8"].append(bench_recorder_concurrent(recorder, n, events_per_commit=3))
        finally:
            factory.close()
            server.stop()
    m = {k: statistics.median(v) for k, v in measured.items()}
    rows = [
        ("(a) 1 writer, 1-event saves", m["a"], "raw awaited js.publish", m["raw"], 0.8),
        (
            f"(b) {WRITERS} writers, 1-event saves",
            m["b"],
            "raw pipelined publish_async",
            m["raw_async"],
            0.5,
        ),
        ("(c) 3-event atomic commits", m["c"], "(a) in events/s", m["a"], 0.5),
        (f"(c') {WRITERS} writers, 3-event commits", m["c8"], "(a) in events/s", m["a"], 0.0),
        (
            "(b) against (b-raw)",
            m["b"],
            f"raw js.publish, {WRITERS} threads",
            m["raw_threads"],
            0.0,
        ),
        ("(c) against (c-raw)", m["c"], "raw 3-message atomic batches", m["raw_triples"], 0.0),
        ("(c-raw) against raw awaited", m["raw_triples"], "raw awaited js.publish", m["raw"], 0.0),
    ]
    print(
        f"{args.rounds} interleaved rounds of {n} events each, median kept; "
        f"payload {len(PAYLOAD)} bytes; "
        + ("3-node cluster, R3" if args.cluster else "one nats-server, R1")
        + " file storage"
    )
    print(f"{'case':34} {'ours ev/s':>10} {'baseline':30} {'base ev/s':>10} {'ratio':>6} target")
    for name, ours, base_name, base, target in rows:
        ratio = ours / base
        verdict = ("ok" if ratio >= target else "BELOW") if target else "(no target)"
        print(
            f"{name:34} {ours:10.0f} {base_name:30} {base:10.0f} {ratio:6.2f} >= {target} {verdict}"
        )


if __name__ == "__main__":
    main()
