"""Benchmark: ``hsl projections rebuild`` on a million-event log, beside the raw rates (issue 4).

Run with ``python -m tests.benchmarks.bench_rebuild [--data-dir D] [--nats-url URL] [--events N]``.
Not a test: it prints figures and ratios and asserts nothing about time. In one run:

1. the log: the data dir's embedded server (or ``--nats-url``); if the application's stream
   holds fewer than ``--events`` events, ``hsl demo`` seeds are written until it does (about
   3,000 events/s: a million takes ~6 minutes, so keep the data dir and pass it again);
2. the rebuild, in this process, as ``hsl projections rebuild`` does it: events/s, and the peak
   resident memory (``getrusage`` high-water) of this process and of the reader child;
3. the raw rate of reading the stream with nats-py, the better of an ordered push consumer and
   batched direct gets, each with a callback that only counts; and our raw reader alone;
4. the raw rate of DuckDB Arrow inserts of the same rows (every table of the rebuilt file, as
   Arrow, into an empty file with the same schema, one transaction);
5. live lag at a steady 1,000 events/s: a writer process stores events one per commit (the
   log's first events, replayed into a fresh stream on a temporary server) while a projector
   follows as ``hsl project`` does; lag = when the commit holding the event returned (the row
   is visible) minus when the writer got the event's acknowledgement;
6. the office's queries (docs/analytics.md, and every analytics view when
   ``projections.analytics`` has them) on the rebuilt views: p95 of ``--query-runs`` runs each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import nats
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import Environment
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from events.jetstream.factory import JetStreamFactory
from events.jetstream.raw_connection import RawConnection
from events.jetstream.recorders import JetStreamApplicationRecorder
from events.redact import redact_url
from projections.rebuild import rebuild
from projections.runner import Projector
from projections.schema import TABLES
from service.bootstrap import open_application
from service.cli.registry import SubcommandError
from service.nats.bundled_server import NatsServerProcess
from service.nats.embedded import stop_embedded
from service.settings import Settings

DEFAULT_DATA_DIR = Path(tempfile.gettempdir()) / "hsl-bench-rebuild"
EVENTS_PER_SCALE = 2_400
"""About how many events ``hsl demo`` writes per unit of ``--scale``."""

OFFICE_QUERIES: dict[str, str] = {
    "overdue per town (outcome_status)": (
        "SELECT town, count(*) FROM outcome_status WHERE overdue GROUP BY town"
    ),
    "town rooms below two a year": (
        "SELECT county, town, room_name, year, consultations_held, seqs "
        "FROM room_year_consultations WHERE meets_rule = false ORDER BY year, town"
    ),
    "funnel per town, worst first": (
        "SELECT town, adopted, implemented, loop_complete, round(completion_rate, 3) AS rate "
        "FROM closed_loop_funnel_by_town ORDER BY completion_rate"
    ),
    "overdue at end of 2025": (
        "SELECT town, implementing_unit_name, deadline, days_overdue, outcome_id "
        "FROM overdue_implementations_as_of(DATE '2025-12-31') ORDER BY days_overdue DESC"
    ),
    "member participation 2025": (
        "SELECT member_name, consultations_attended, opinions_voiced, topics_recommended "
        "FROM member_participation WHERE year = 2025 ORDER BY consultations_attended DESC"
    ),
    "quota shortfalls without reason": (
        "SELECT town, consultation_id, resident_reps, participants FROM consultation_quota "
        "WHERE NOT meets_quota AND NOT justified"
    ),
}
"""The office's questions as docs/analytics.md writes them."""


def office_queries() -> dict[str, str]:
    """The documented questions, plus every analytics view in full (when the module has them)."""
    queries = dict(OFFICE_QUERIES)
    try:
        from projections.analytics import VIEWS  # noqa: PLC0415 - optional, added by issue 4

        views: tuple[str, ...] = tuple(VIEWS)
    except ImportError:
        views = ()
    for view in views:
        queries[f"view {view}"] = f"SELECT * FROM {view}"
    return queries


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


# --- 1. the log ------------------------------------------------------------------------------


def ensure_log(settings: Settings, events: int, seed: int) -> int:
    """Write demo seeds until the application's stream holds ``events``; return the count."""
    from service.cli.demo import run_demo  # noqa: PLC0415 - only when writing

    while True:
        opened = open_application(settings)
        try:
            have = opened.app.recorder.max_notification_id() or 0
        finally:
            opened.close()
        if have >= events:
            return have
        scale = max(1, math.ceil((events - have) / EVENTS_PER_SCALE))
        print(f"the log holds {have:,} events; writing demo seed {seed} at scale {scale}")
        started = time.perf_counter()
        try:
            run_demo(settings, seed, scale, progress=None)
        except SubcommandError as e:
            if "already in the log" not in str(e):
                raise
            print(f"  seed {seed} is already there; trying {seed + 1}")
        else:
            print(f"  written in {time.perf_counter() - started:.0f} s")
        seed += 1


# --- 3. raw reads ----------------------------------------------------------------------------


async def _raw_ordered_consumer(url: str, stream: str, subjects: str, total: int) -> float:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        done = asyncio.get_running_loop().create_future()
        seen = 0

        async def count(msg: Msg) -> None:
            nonlocal seen
            seen += 1
            if seen == total and not done.done():
                done.set_result(None)

        started = time.perf_counter()
        sub = await js.subscribe(
            subjects,
            stream=stream,
            cb=count,
            ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
            pending_msgs_limit=-1,
            pending_bytes_limit=-1,
        )
        await done
        elapsed = time.perf_counter() - started
        await sub.unsubscribe()
        return total / elapsed
    finally:
        await nc.close()


async def _raw_direct_get(url: str, stream: str, subjects: str, total: int) -> float:
    """Batched direct gets of 10,000, each reply counted by a subscription callback."""
    nc = await nats.connect(url)
    try:
        inbox = nc.new_inbox()
        state = {"seen": 0, "last": 0, "pending": -1}
        batch_done: asyncio.Event = asyncio.Event()

        async def count(msg: Msg) -> None:
            headers = msg.headers or {}
            status = headers.get("Status")
            if status is None:
                state["seen"] += 1
                state["last"] = int(headers["Nats-Sequence"])
            else:
                state["pending"] = int(headers.get("Nats-Num-Pending", "0"))
                batch_done.set()

        sub = await nc.subscribe(inbox, cb=count, pending_msgs_limit=-1, pending_bytes_limit=-1)
        started = time.perf_counter()
        while state["seen"] < total:
            batch_done.clear()
            request = (
                f'{{"seq":{state["last"] + 1},"batch":10000,"next_by_subj":"{subjects}"}}'
            ).encode()
            await nc.publish(f"$JS.API.DIRECT.GET.{stream}", request, reply=inbox)
            await batch_done.wait()
            if state["pending"] == 0:
                break
        elapsed = time.perf_counter() - started
        await sub.unsubscribe()
        return state["seen"] / elapsed
    finally:
        await nc.close()


def raw_read_rates(url: str, stream: str, subjects: str, total: int) -> dict[str, float]:
    rates = {
        "nats-py ordered push consumer": asyncio.run(
            _raw_ordered_consumer(url, stream, subjects, total)
        ),
        "nats-py batched direct get": asyncio.run(_raw_direct_get(url, stream, subjects, total)),
    }
    connection = RawConnection.open(url)
    try:
        started = time.perf_counter()
        seen = 0
        with _collector_paused():
            for page in connection.consume_pages(
                stream, subjects, start=1, stop=total, page=10_000
            ):
                seen += len(page[0])
        rates["ours: raw reader alone (in-process)"] = seen / (time.perf_counter() - started)
    finally:
        connection.close()
    return rates


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# --- 4. raw Arrow inserts --------------------------------------------------------------------


def raw_insert_rate(views: Path, scratch: Path) -> tuple[int, float]:
    """Rows of every table of ``views``, as Arrow, inserted into an empty copy of the schema."""
    with duckdb.connect(str(views), read_only=True) as source:
        tables = {t: source.sql(f"SELECT * FROM {t}").to_arrow_table() for t in TABLES}
        ddl = [
            str(sql)
            for (sql,) in source.execute(
                "SELECT sql FROM duckdb_tables() WHERE schema_name = 'main'"
            ).fetchall()
        ]
    scratch.unlink(missing_ok=True)
    with duckdb.connect(str(scratch)) as con:
        for statement in ddl:
            con.execute(statement)
        rows = sum(t.num_rows for t in tables.values())
        started = time.perf_counter()
        con.execute("BEGIN TRANSACTION")
        for name, arrow in tables.items():  # noqa: B007 - DuckDB reads the local `arrow`
            con.execute(f"INSERT INTO {name} SELECT * FROM arrow")
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        elapsed = time.perf_counter() - started
    scratch.unlink(missing_ok=True)
    return rows, elapsed


# --- 5. live lag -----------------------------------------------------------------------------


def lag_writer(url: str, name: str, events_file: Path, rate: float, out: Path) -> None:
    """Store the events of ``events_file`` one per commit at ``rate``/s; write (seq, acked)."""
    rows: list[tuple[Any, int, str, bytes]] = pickle.loads(events_file.read_bytes())
    factory = JetStreamFactory(Environment(name, {"NATS_URL": url}))
    acked: list[tuple[int, float]] = []
    try:
        recorder = factory.application_recorder()
        started = time.time()
        for i, (originator_id, version, topic, state) in enumerate(rows):
            due = started + i / rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            ids = recorder.insert_events([StoredEvent(originator_id, version, topic, state)])
            acked.append((int((ids or [0])[0]), time.time()))
    finally:
        factory.close()
    out.write_bytes(pickle.dumps(acked))


def live_lag(source: JetStreamApplicationRecorder, seconds: float, rate: float) -> dict[str, float]:
    count = int(seconds * rate)
    first = source.select_notifications(start=1, limit=count)
    events = [(n.originator_id, n.originator_version, n.topic, n.state) for n in first]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "events.pickle").write_bytes(pickle.dumps(events))
        server = NatsServerProcess(store_dir=root / "nats")
        server.start()
        name = f"LagBench{uuid.uuid4().hex[:6]}"
        factory = JetStreamFactory(Environment(name, {"NATS_URL": server.url}))
        con = duckdb.connect(str(root / "live.duckdb"))
        visible: list[tuple[float, int]] = []
        stop = threading.Event()
        try:
            recorder = factory.application_recorder()
            projector = Projector(con, recorder, name)
            follower = threading.Thread(
                target=projector.follow,
                args=(stop,),
                kwargs={"on_batch": lambda at: visible.append((time.time(), at))},
            )
            follower.start()
            time.sleep(0.5)  # subscribed
            writer = subprocess.run(
                [sys.executable, "-m", "tests.benchmarks.bench_rebuild", "--lag-writer",
                 server.url, name, str(root / "events.pickle"), str(rate), str(root / "acked")],
                check=True,
            )  # fmt: skip
            del writer
            acked: list[tuple[int, float]] = pickle.loads((root / "acked").read_bytes())
            deadline = time.time() + 30
            while projector.position < acked[-1][0] and time.time() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            with contextlib.suppress(NameError):
                follower.join(timeout=10)
            con.close()
            factory.close()
            server.stop()
    lags = []
    index = 0
    for seq, at in acked:
        while index < len(visible) and visible[index][1] < seq:
            index += 1
        if index == len(visible):
            break
        lags.append((visible[index][0] - at) * 1000)
    writer_rate = len(acked) / (acked[-1][1] - acked[0][1])
    return {
        "events": len(lags),
        "writer rate": writer_rate,
        "p50 ms": percentile(lags, 50),
        "p99 ms": percentile(lags, 99),
        "max ms": max(lags),
        "batches": len(visible),
    }


# --- 6. office queries -----------------------------------------------------------------------


def query_timings(views: Path, runs: int) -> dict[str, tuple[float, float, int]]:
    """name → (p95 ms, median ms, rows) over ``runs`` runs after one warm-up."""
    results = {}
    with duckdb.connect(str(views), read_only=True) as con:
        for name, sql in office_queries().items():
            try:
                rows = len(con.execute(sql).fetchall())
            except duckdb.Error as e:
                print(f"  {name}: skipped ({str(e).splitlines()[0]})")
                continue
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                con.execute(sql).fetchall()
                times.append((time.perf_counter() - started) * 1000)
            results[name] = (percentile(times, 95), statistics.median(times), rows)
    return results


# --- main ------------------------------------------------------------------------------------


def timed(label: str, run: Callable[[], Any]) -> tuple[Any, float]:
    print(f"{label} …", flush=True)
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.bench_rebuild")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--nats-url", help="an external server (default: the data dir's own)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1, help="first demo seed if writing")
    parser.add_argument("--lag-seconds", type=float, default=30.0)
    parser.add_argument("--lag-rate", type=float, default=1000.0)
    parser.add_argument("--query-runs", type=int, default=20)
    parser.add_argument(
        "--keep-server", action="store_true", help="leave an embedded server it started running"
    )
    parser.add_argument("--lag-writer", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.lag_writer:
        url, name, events_file, rate, out = args.lag_writer
        lag_writer(url, name, Path(events_file), float(rate), Path(out))
        return

    env = {"HSL_DATA_DIR": str(args.data_dir)}
    if args.nats_url:
        env["NATS_URL"] = args.nats_url
    settings = Settings.from_env(env)
    stop_server = False
    try:
        opened = open_application(settings)
        stop_server = opened.handle.origin == "started" and not args.keep_server
        opened.close()
        total = ensure_log(settings, args.events, args.seed)
        opened = open_application(settings)
        try:
            report(args, opened.app, opened.url, total)
        finally:
            opened.close()
    finally:
        if stop_server:
            stop_embedded(settings)


def report(args: argparse.Namespace, app: Any, url: str, total: int) -> None:
    recorder = app.recorder
    assert isinstance(recorder, JetStreamApplicationRecorder)
    stream, subjects = recorder.layout.stream, recorder.layout.events_filter
    views = args.data_dir / "bench-rebuild.duckdb"
    shown = redact_url(url)  # it carries the service user's password on the embedded server
    print(f"log: {total:,} events in stream {stream!r} at {shown}; {os.cpu_count()} cores")

    before = peak_rss_mb()
    load_before = os.getloadavg()[0]
    cpu, cpu_children = time.process_time(), _cpu(resource.RUSAGE_CHILDREN)
    position, elapsed = timed("rebuild", lambda: rebuild(recorder, app.name, views))
    cpu, cpu_children = time.process_time() - cpu, _cpu(resource.RUSAGE_CHILDREN) - cpu_children
    rebuild_rate = position / elapsed
    rss, rss_child = peak_rss_mb(), peak_rss_mb(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]

    reads, _ = timed("raw reads", lambda: raw_read_rates(url, stream, subjects, total))
    (rows, insert_time), _ = timed(
        "raw Arrow inserts", lambda: raw_insert_rate(views, args.data_dir / "bench-insert.duckdb")
    )
    lag, _ = timed(
        f"live lag at {args.lag_rate:,.0f} events/s for {args.lag_seconds:.0f} s",
        lambda: live_lag(recorder, args.lag_seconds, args.lag_rate),
    )
    queries, _ = timed("office queries", lambda: query_timings(views, args.query_runs))

    best_name = max((k for k in reads if k.startswith("nats-py")), key=lambda k: reads[k])
    best = reads[best_name]
    insert_events_rate = total / insert_time
    print()
    print(f"rebuild: {position:,} events in {elapsed:.1f} s = {rebuild_rate:,.0f} events/s")
    print(
        f"  peak RSS {rss:,.0f} MB (this process; {before:,.0f} MB before the rebuild), "
        f"reader child {rss_child:,.0f} MB"
    )
    print(
        f"  CPU: {cpu:.1f} s in this process (all threads), {cpu_children:.1f} s in the reader "
        f"child; load average {load_before:.1f} when it started, {load:.1f} when it ended "
        f"({os.cpu_count()} cores)"
    )
    print("raw stream reads:")
    for name, rate in reads.items():
        print(f"  {name:40} {rate:12,.0f} events/s")
    print(
        f"raw DuckDB Arrow inserts: {rows:,} rows in {insert_time:.2f} s = "
        f"{rows / insert_time:,.0f} rows/s = {insert_events_rate:,.0f} events/s equivalent"
    )
    print("ratios:")
    print(f"  rebuild / best raw nats-py read ({best_name}) = {rebuild_rate / best:.2f}")
    ratio = rebuild_rate / insert_events_rate
    print(f"  rebuild / raw Arrow inserts (events equivalent) = {ratio:.2f}")
    verdict = "met" if rebuild_rate >= 100_000 else "NOT met"
    print(f"  target >= 100,000 events/s: {verdict}")
    memory = "met" if max(rss, rss_child) <= 1024 else "NOT met"
    print(f"  target peak <= 1 GiB: {memory}")
    print(
        f"live lag: {lag['events']:,} events at {lag['writer rate']:,.0f}/s in "
        f"{lag['batches']:,} commits: p50 {lag['p50 ms']:.1f} ms, p99 {lag['p99 ms']:.1f} ms, "
        f"max {lag['max ms']:.1f} ms (target p99 < 200 ms: "
        f"{'met' if lag['p99 ms'] < 200 else 'NOT met'})"
    )
    print(f"office queries on the {total:,}-event views ({args.query_runs} runs each):")
    for name, (p95, median, count) in queries.items():
        flag = "" if p95 < 50 else "  ABOVE 50 ms"
        print(f"  {name:44} p95 {p95:7.1f} ms  median {median:7.1f} ms  {count:6,} rows{flag}")


if __name__ == "__main__":
    main()
