"""Benchmark: commands per second over HTTP, 8 concurrent clients, beside the recorder's rate.

Run with ``python -m tests.benchmarks.bench_http [--commands N]``. One bundled nats-server on
a temporary store; in the same run it measures

(a) the raw recorder: 8 threads inserting one-event saves (``insert_events``),
(b) the application: 8 threads calling ``file_annual_plan`` directly (load the room, save;
    with the API's aggregate cache, ``service.http.server.APP_ENV``),
(c) the API: 8 clients posting ``POST /rooms/{id}/plans`` to uvicorn on loopback (token,
    policy, the same command), keep-alive connections,

and prints each rate and the ratios (c)/(a) (target >= 0.5x) and (c)/(b); then (d)/(e) the
same for ``establish_room``, which loads nothing, so (e)/(d) is the HTTP layer's own cost.
Each writer has its own room, so no write conflicts; a room's history grows as the run goes,
and each load reads it whole (``events.jetstream`` reads an aggregate's subject from the
start). The clients run in this process, sharing its GIL with the server. Not a test: it
prints figures and asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from eventsourcing.persistence import StoredEvent

from events.common import Actor
from events.room import Region
from service.application import HaoshangliangApplication
from service.auth.users import Grant, Scope, UserStore
from service.bootstrap import application_env
from service.http.app import Services, create_app
from service.http.server import APP_ENV, _Server, bind, url_of
from service.logging import configure_logging
from service.nats_server import NatsServerProcess

WRITERS = 8
CLERK = Actor(id="bench-clerk", role="clerk")
PAYLOAD = b'{"type":"room.annual_plan_filed","year":2025,"planned_consultations":2}'


def _parallel(count: int, work: Callable[[int, int], None]) -> float:
    """Run ``work(writer, n)`` on WRITERS threads, ``count`` calls in all; calls per second."""
    per = count // WRITERS
    threads = [threading.Thread(target=work, args=(w, per)) for w in range(WRITERS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return per * WRITERS / (time.perf_counter() - started)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=2000)
    n = parser.parse_args().commands
    configure_logging("warning")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        server = NatsServerProcess(store_dir=base / "nats")
        url = server.start()
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

            users = UserStore(base / "users.json")
            _, token = users.add(CLERK.id, "bench", [Grant(role="clerk", scope=Scope())])
            api = create_app(Services(app=app, users=users, views_path=base / "views.duckdb"))
            sock = bind("127.0.0.1", 0)
            http = _Server(uvicorn.Config(api, log_config=None, access_log=False))
            loop_thread = threading.Thread(
                target=lambda: asyncio.run(http.serve(sockets=[sock])), daemon=True
            )
            loop_thread.start()
            while not http.started:
                time.sleep(0.01)
            base_url = url_of(sock)

            def over_http(writer: int, count: int) -> None:
                headers = {"Authorization": f"Bearer {token}"}
                with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
                    for i in range(count):
                        body = {
                            "occurred_at": datetime.now(UTC).isoformat(),
                            "year": 2000 + i % 50,
                            "planned_consultations": 2,
                        }
                        r = client.post(f"/rooms/{rooms[writer]}/plans", json=body)
                        r.raise_for_status()

            def create_direct(writer: int, count: int) -> None:
                for i in range(count):
                    app.establish_room(
                        actor=CLERK,
                        occurred_at=datetime.now(UTC),
                        name=f"新协商议事室{i}",
                        level="town",
                        region=Region(county="清河县", town=f"新镇{i}"),
                    )

            def create_over_http(writer: int, count: int) -> None:
                headers = {"Authorization": f"Bearer {token}"}
                with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
                    for i in range(count):
                        body = {"occurred_at": datetime.now(UTC).isoformat(), **_room(i)}
                        client.post("/rooms", json=body).raise_for_status()

            a = _parallel(n, raw)
            b = _parallel(n, direct)
            c = _parallel(n, over_http)
            d = _parallel(n, create_direct)
            e = _parallel(n, create_over_http)
            http.should_exit = True
            loop_thread.join(timeout=10)
        finally:
            app.close()
            server.stop()
    print(f"(a) recorder, {WRITERS} threads, one-event saves : {a:8.0f} events/s")
    print(f"(b) application, {WRITERS} threads, commands      : {b:8.0f} commands/s")
    print(f"(c) HTTP API, {WRITERS} clients, commands         : {c:8.0f} commands/s")
    print(f"(c)/(a) = {c / a:.2f}x (target >= 0.5x)   (c)/(b) = {c / b:.2f}x")
    print(f"(d) application, {WRITERS} threads, establish_room: {d:8.0f} commands/s")
    print(f"(e) HTTP API, {WRITERS} clients, establish_room   : {e:8.0f} commands/s")
    print(f"(e)/(a) = {e / a:.2f}x   (e)/(d) = {e / d:.2f}x")


if __name__ == "__main__":
    main()
