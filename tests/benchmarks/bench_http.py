"""Benchmark: commands per second over HTTP, 8 concurrent clients, beside the recorder's rate.

Run with ``python -m tests.benchmarks.bench_http [--commands N] [--api-processes K]
[--py-spy FILE]``. One bundled nats-server on a temporary store; in the same run it measures

(a) the raw recorder: 8 threads inserting one-event saves (``insert_events``),
(b) the application: 8 threads calling ``file_annual_plan`` directly (load the room, save;
    with the API's aggregate cache, ``service.http.server.APP_ENV``),
(c) the API: 8 clients posting ``POST /rooms/{id}/plans`` (token, policy, the same command)
    over keep-alive connections,

and prints each rate and the ratios (c)/(a) (target >= 0.5x) and (c)/(b); then (d)/(e) the
same for ``establish_room``, which loads nothing, so (e)/(d) is the HTTP layer's own cost;
and (f) ``GET /healthz`` (no token, no log, no thread): the HTTP stack's floor.
Each writer has its own room, so no write conflicts.

The API runs as ``hsl serve`` runs it, in its own process (its own application on the log,
uvicorn on the main thread's loop, JSON log lines at ``--log-level``, default info, to a
file); ``--api-processes K`` starts K of them on one port (``SO_REUSEPORT``), which is what a
``--workers`` option would give. The clients run in a third process (raw asyncio streams, one
keep-alive connection each, requests built before the clock starts), so nobody shares the
API's GIL; all share the machine's cores, so every phase prints the CPU time each process
spent per call (API, nats-server, clients). ``--py-spy FILE`` records the (first) API process
during (c), the thread holding the GIL as collapsed stacks in FILE, and prints where that
time goes, layer by layer, per request. Not a test: it prints figures and asserts nothing
about time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from eventsourcing.persistence import StoredEvent

from events.common import Actor
from events.room import Region
from service.application import HaoshangliangApplication
from service.auth.users import Grant, Scope, UserStore
from service.bootstrap import application_env
from service.http.app import create_app
from service.http.server import APP_ENV, _Server
from service.http.services import Services
from service.http.views_reader import ViewsReader
from service.logging import configure_logging
from service.nats.bundled_server import NatsServerProcess

WRITERS = 8
CLERK = Actor(id="bench-clerk", role="clerk")
PAYLOAD = b'{"type":"room.annual_plan_filed","year":2025,"planned_consultations":2}'
TICKS = os.sysconf("SC_CLK_TCK")


# --- the client process ------------------------------------------------------------------------


def _request(host: str, port: int, token: str, path: str, body: dict[str, object] | None) -> bytes:
    """A POST of ``body`` to ``path``, or a GET of ``path`` when there is no body."""
    if body is None:
        return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    data = json.dumps(body, ensure_ascii=False).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def _one_client(host: str, port: int, requests: list[bytes], go: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    await go.wait()
    for request in requests:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length)
        if status >= 300:
            raise RuntimeError(f"{status}: {body.decode()}")
    writer.close()


async def _clients(host: str, port: int, jobs: list[list[bytes]]) -> None:
    go = asyncio.Event()
    tasks = [asyncio.create_task(_one_client(host, port, job, go)) for job in jobs]
    await asyncio.sleep(0.2)  # every connection open
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    go.set()
    await asyncio.gather(*tasks)


def client_main() -> None:
    """``--client``: read the job (JSON on stdin), connect, say ready, wait for go, post."""
    job = json.loads(sys.stdin.readline())
    host, port, token = job["host"], job["port"], job["token"]
    jobs = [[_request(host, port, token, p, b) for p, b in calls] for calls in job["writers"]]
    cpu = time.process_time()
    asyncio.run(_clients(host, port, jobs))
    print(json.dumps({"cpu": time.process_time() - cpu}), flush=True)


# --- an API process ------------------------------------------------------------------------------


def serve_main(url: str, users_path: str, port: int, log_level: str, log_path: str) -> None:
    """``--serve``: the API as ``hsl serve`` runs it (its own application with the aggregate
    cache, uvicorn on the main thread's loop), on ``port`` shared with the other API processes
    (``SO_REUSEPORT``: the kernel spreads connections); says ready, ends when stdin closes."""
    with open(log_path, "a") as log_file:
        configure_logging(log_level, stream=log_file)
        app = HaoshangliangApplication(env=application_env(url, APP_ENV))
        services = Services(
            app=app, users=UserStore(Path(users_path)), views=ViewsReader(Path(users_path).parent)
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(2048)
        sock.setblocking(False)
        http = _Server(uvicorn.Config(create_app(services), log_config=None, access_log=False))

        def stop_on_eof() -> None:
            sys.stdin.read()
            http.should_exit = True

        async def serve() -> None:
            task = asyncio.create_task(http.serve(sockets=[sock]))
            while not http.started:
                await asyncio.sleep(0.01)
            print("ready", flush=True)
            await task

        threading.Thread(target=stop_on_eof, daemon=True).start()
        try:
            asyncio.run(serve())
        finally:
            app.close()


def _start_apis(
    count: int, url: str, users: Path, log_level: str
) -> tuple[int, list[subprocess.Popen[str]]]:
    """``count`` API processes on one free port; returns the port and the processes."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    command = [sys.executable, "-m", "tests.benchmarks.bench_http", "--serve", url, str(users)]
    command += [str(port), log_level, str(users.parent / "api.log")]
    children = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    for child in children:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("an API process did not start")
    return port, children


def _stop_apis(children: list[subprocess.Popen[str]]) -> None:
    for child in children:
        assert child.stdin is not None
        child.stdin.close()
    for child in children:
        child.wait(timeout=30)


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Rate:
    """One phase: calls per second and the CPU seconds each process spent per call."""

    per_second: float
    cpu_ms: dict[str, float]


def _ticks(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Meter:
    """CPU of the API (this process, or the API processes) and of nats-server, per phase."""

    def __init__(self, nats_pid: int) -> None:
        self.nats_pid = nats_pid

    def measure(
        self, calls: int, run: Callable[[], float | None], api_pids: list[int] | None = None
    ) -> Rate:
        def api_cpu() -> float:
            if api_pids is None:
                return time.process_time()
            return sum(_ticks(pid) for pid in api_pids)

        cpu, nats, started = api_cpu(), _ticks(self.nats_pid), time.perf_counter()
        client_cpu = run()
        elapsed = time.perf_counter() - started
        cpu_ms = {
            "api": (api_cpu() - cpu) * 1000 / calls,
            "nats-server": (_ticks(self.nats_pid) - nats) * 1000 / calls,
        }
        if client_cpu is not None:
            cpu_ms["client"] = client_cpu * 1000 / calls
        return Rate(calls / elapsed, cpu_ms)


def _parallel(count: int, work: Callable[[int, int], None]) -> Callable[[], None]:
    """``work(writer, n)`` on WRITERS threads, ``count`` calls in all."""
    per = count // WRITERS

    def run() -> None:
        threads = [threading.Thread(target=work, args=(w, per)) for w in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    return run


def _over_http(
    host: str, port: int, token: str, writers: list[list[tuple[str, dict[str, object] | None]]]
) -> tuple[subprocess.Popen[str], Callable[[], float]]:
    """Start the client process (connected, waiting); the callable lets it go."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.benchmarks.bench_http", "--client"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    stdin, stdout = child.stdin, child.stdout
    stdin.write(json.dumps({"host": host, "port": port, "token": token, "writers": writers}))
    stdin.write("\n")
    stdin.flush()
    if stdout.readline().strip() != "ready":
        raise RuntimeError("the client process did not start")

    def go() -> float:
        stdin.write("go\n")
        stdin.flush()
        line = stdout.readline()
        if child.wait() != 0 or not line:
            raise RuntimeError("the client process failed")
        return float(json.loads(line)["cpu"])

    return child, go


def _room(i: int) -> dict[str, object]:
    """A new town room's fields: nothing to load, so only the HTTP layer is added."""
    return {
        "name": f"新协商议事室{i}",
        "level": "town",
        "region": {"county": "清河县", "town": f"新镇{i}"},
    }


def _rooms(app: HaoshangliangApplication) -> list[uuid.UUID]:
    return [
        app.establish_room(
            actor=CLERK,
            occurred_at=datetime.now(UTC),
            name=f"第{i}协商议事室",
            level="town",
            region=Region(county="清河县", town=f"镇{i}"),
        )
        for i in range(WRITERS)
    ]


def _py_spy(target: str, pid: int) -> subprocess.Popen[bytes]:
    options = ["--format", "raw", "--gil", "--threads", "--rate", str(SPY_RATE), "--nonblocking"]
    return subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), *options, "-o", target],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run(n: int, spy: str | None, log_level: str, api_processes: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "direct.log", "w") as log_file:
        base = Path(tmp)
        # As ``hsl serve`` logs under a service manager: JSON lines at HSL_LOG_LEVEL (info).
        configure_logging(log_level, stream=log_file)
        server = NatsServerProcess(store_dir=base / "nats")
        url = server.start()
        assert server.process is not None
        meter = Meter(server.process.pid)
        app = HaoshangliangApplication(env=application_env(url, APP_ENV))
        try:
            rooms = _rooms(app)
            recorder = app.recorder

            def raw(writer: int, count: int) -> None:
                aggregate = uuid.uuid4()
                for v in range(1, count + 1):
                    recorder.insert_events([StoredEvent(aggregate, v, "bench", PAYLOAD)])

            def direct(writer: int, count: int) -> None:
                for i in range(count):
                    app.file_annual_plan(
                        rooms[writer],
                        actor=CLERK,
                        occurred_at=datetime.now(UTC),
                        year=2000 + i % 50,
                        planned_consultations=2,
                    )

            def create_direct(writer: int, count: int) -> None:
                for i in range(count):
                    app.establish_room(
                        actor=CLERK,
                        occurred_at=datetime.now(UTC),
                        name=f"新协商议事室{i}",
                        level="town",
                        region=Region(county="清河县", town=f"新镇{i}"),
                    )

            users = UserStore(base / "users.json")
            _, token = users.add(CLERK.id, "bench", [Grant(role="clerk", scope=Scope())])
            host = "127.0.0.1"
            port, apis = _start_apis(api_processes, url, users.path, log_level)
            api_pids = [child.pid for child in apis]
            per = n // WRITERS
            now = datetime.now(UTC).isoformat()
            plans: list[list[tuple[str, dict[str, object] | None]]] = [
                [
                    (
                        f"/rooms/{rooms[w]}/plans",
                        {"occurred_at": now, "year": 2000 + i % 50, "planned_consultations": 2},
                    )
                    for i in range(per)
                ]
                for w in range(WRITERS)
            ]
            new_rooms: list[list[tuple[str, dict[str, object] | None]]] = [
                [("/rooms", {"occurred_at": now, **_room(i)}) for i in range(per)]
                for _ in range(WRITERS)
            ]
            calls = per * WRITERS
            a = meter.measure(calls, _parallel(n, raw))
            b = meter.measure(calls, _parallel(n, direct))
            try:
                _, go = _over_http(host, port, token, plans)
                profiler = _py_spy(spy, api_pids[0]) if spy else None
                if profiler is not None:
                    time.sleep(1.0)
                c = meter.measure(calls, go, api_pids)
                if profiler is not None:
                    profiler.send_signal(2)
                    profiler.wait(timeout=30)
                d = meter.measure(calls, _parallel(n, create_direct))
                _, go = _over_http(host, port, token, new_rooms)
                e = meter.measure(calls, go, api_pids)
                health: list[list[tuple[str, dict[str, object] | None]]]
                health = [[("/healthz", None)] * per for _ in range(WRITERS)]
                _, go = _over_http(host, port, token, health)
                f = meter.measure(calls, go, api_pids)
            finally:
                _stop_apis(apis)
        finally:
            app.close()
            server.stop()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{calls} calls per phase, {os.cpu_count()} CPUs, load average before exit {load}")
    print(f"API: {api_processes} process(es), each its own application on the log")
    rows = [
        (f"(a) recorder, {WRITERS} threads, one-event saves ", a, "events/s"),
        (f"(b) application, {WRITERS} threads, file_annual_plan", b, "commands/s"),
        (f"(c) HTTP API, {WRITERS} clients, file_annual_plan ", c, "commands/s"),
        (f"(d) application, {WRITERS} threads, establish_room ", d, "commands/s"),
        (f"(e) HTTP API, {WRITERS} clients, establish_room   ", e, "commands/s"),
        (f"(f) HTTP API, {WRITERS} clients, GET /healthz     ", f, "requests/s"),
    ]
    for label, rate, unit in rows:
        cpu = "  ".join(f"{k} {v:.3f}" for k, v in rate.cpu_ms.items())
        print(f"{label}: {rate.per_second:7.0f} {unit:<10}  CPU ms/call: {cpu}")
    print(
        f"(c)/(a) = {c.per_second / a.per_second:.2f}x (target >= 0.5x)"
        f"   (c)/(b) = {c.per_second / b.per_second:.2f}x"
    )
    print(
        f"(e)/(a) = {e.per_second / a.per_second:.2f}x"
        f"   (e)/(d) = {e.per_second / d.per_second:.2f}x"
    )
    if spy:
        breakdown(spy, calls, c.cpu_ms["api"])


# --- the breakdown of a py-spy record -------------------------------------------------------

SPY_RATE = 1000
"""py-spy samples per second; with ``--gil`` each sample is the thread holding the GIL."""

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("structlog + logging (two JSON lines)", ("structlog/", "logging/", "json/")),
    ("metrics", ("service/http/metrics.py",)),
    ("token check", ("service/http/bearer.py", "service/auth/users.py")),
    ("policy and scope", ("service/auth/",)),
    ("aggregate copy (the cache's deepcopy)", ("copy.py",)),
    ("command, domain, event mapper", ("service/", "events/mapper", "eventsourcing/")),
    ("log recorder + NATS client (nats-py)", ("events/", "nats/")),
    ("HTTP: uvicorn + h11", ("uvicorn/", "h11/")),
    ("Litestar (routing, DI, msgspec)", ("litestar/", "msgspec/")),
    ("thread hand-offs (anyio, executor, locks)", ("anyio/", "concurrent/", "threading.py")),
)
"""A sample's layer: walking its stack from the innermost frame out, the first frame whose
file matches one of a layer's markers (layers tried in this order for each frame). Samples in
asyncio itself (sockets, selector, callbacks) go to the loop whose thread they ran on."""


def _layer(thread: str, frames: list[str]) -> str:
    for frame in reversed(frames):
        if "asyncio/" in frame or "selectors.py" in frame or "socket.py" in frame:
            break
        found = next((n for n, marks in LAYERS if any(m in frame for m in marks)), None)
        if found is not None:
            return found
    if "nats-loop" in thread:
        return "asyncio on the NATS loop (sockets, callbacks)"
    if "worker" in thread.lower() or "asyncio_" in thread:
        return "asyncio run by a worker thread (NATS calls)"
    return "asyncio on the HTTP loop (sockets, callbacks)"


def breakdown(path: str, calls: int, cpu_ms: float) -> None:
    """Print the API process's GIL-holding samples by layer, as µs per call."""
    totals: Counter[str] = Counter()
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        thread, *frames = stack.split(";")
        totals[_layer(thread, frames)] += int(count)
    held = sum(totals.values())
    print(f"API process during (c), by layer (py-spy --gil, {held} samples at {SPY_RATE}/s):")
    for name, n in totals.most_common():
        print(f"  {name:<46} {n * 1e6 / SPY_RATE / calls:6.0f} µs/call  {n / held:4.0%}")
    print(
        f"  {'GIL held, in all':<46} {held * 1e6 / SPY_RATE / calls:6.0f} µs/call"
        f"  (process CPU {cpu_ms * 1000:.0f} µs/call: the rest is outside the GIL, syscalls)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--py-spy", metavar="FILE", help="record the API process during (c)")
    parser.add_argument(
        "--log-level", default="info", help="the API's log level (hsl serve's default: info)"
    )
    parser.add_argument(
        "--api-processes",
        type=int,
        default=1,
        metavar="K",
        help="K API processes sharing the port (what a --workers option would give)",
    )
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main()
    elif args.serve:
        url, users, port, level, log_path = args.serve
        serve_main(url, users, int(port), level, log_path)
    else:
        run(args.commands, args.py_spy, args.log_level, args.api_processes)


if __name__ == "__main__":
    main()
