"""A log store with no room: a clear 503 naming it, nothing partial, and recovery by itself.

The server's JetStream storage limit (``max_file_store``) reproduces what a full volume
gives a JetStream server that guards its disk: every write refused with "insufficient
resources". Raising the limit (a config reload, as an operator would after adding space)
lets writes through again, and the API, never restarted, records the next request.

On a small tmpfs (where this machine allows mounting one), the disk itself fills under the
server: nats-server then stops answering writes until it is restarted. The API answers 503
"result unknown" meanwhile, stores nothing partial, and once the server is back a retry with
the request's Idempotency-Key records it exactly once, again without restarting the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import Environment

from events.jetstream import commits, operations
from events.jetstream.factory import JetStreamFactory
from events.jetstream.recorders import JetStreamApplicationRecorder
from events.jetstream.write_errors import StorageFullError
from service.auth.users import UserStore
from service.http import idempotency
from service.http.idempotency import REPLAYED_HEADER
from service.nats.bundled_server import NatsServerProcess
from tests.support.http_instance import AT, Instance, instance, room, stored
from tests.support.small_disk import fill_disk, small_disk

FILLER = "filler"


def _config(path: Path, limit: str) -> None:
    path.write_text(f"jetstream {{ max_file_store: {limit} }}\n")


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[NatsServerProcess, Path]]:
    """A server whose JetStream may store little, and its config file (to raise the limit)."""
    config = tmp_path / "nats.conf"
    _config(config, "512KB")
    server = NatsServerProcess(store_dir=tmp_path / "nats", extra_args=["-c", str(config)])
    server.start()
    try:
        yield server, config
    finally:
        server.stop()


def _fill(url: str) -> None:
    """Use up the server's storage with another stream, down to the last bytes."""

    async def fill() -> None:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            with contextlib.suppress(Exception):
                await js.add_stream(name=FILLER, subjects=[f"{FILLER}.>"])
            for size in (16_384, 1024, 64, 1):
                while True:
                    try:
                        await js.publish(f"{FILLER}.x", b"x" * size)
                    except nats.js.errors.APIError:
                        break
        finally:
            await nc.close()

    asyncio.run(fill())


def _raise_limit(server: NatsServerProcess, config: Path) -> None:
    _config(config, "64MB")
    assert server.process is not None
    server.process.send_signal(signal.SIGHUP)


def _until(call: Callable[[], Any], done: Callable[[Any], bool], seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    result = call()
    while not done(result) and time.monotonic() < deadline:
        time.sleep(0.2)
        result = call()
    return result


class TestDeafStore:
    def test_while_the_watch_knows_the_store_is_deaf_writes_are_refused_at_once(
        self, people: tuple[UserStore, str], tmp_path: Path
    ) -> None:
        """A stream that went deaf after a failed disk write answers no publish; the serving
        process's watch (``service.nats.store_recovery``) knows, and says so at once."""
        users, token = people
        deaf: list[StorageFullError] = []
        server = NatsServerProcess(store_dir=tmp_path / "nats")
        server.start()
        try:
            with instance(
                server.url, users, token, tmp_path, lambda: next(iter(deaf), None)
            ) as api:
                assert api.post("/rooms", room(AT), key="before").status_code == 201
                before = stored(server.url)
                deaf.append(StorageFullError("stream 'hsl' refuses writes", store="hsl"))

                started = time.monotonic()
                refused = api.post("/rooms", room(AT, name="满盘时的议事室"), key="deaf-1")
                assert time.monotonic() - started < operations.REQUEST_TIMEOUT
                assert refused.status_code == 503, refused.text
                assert refused.json()["type"] == "urn:hsl:problem:storage-full"
                assert "hsl" in refused.json()["detail"]
                assert "本次未记录" in refused.json()["detail"]
                bad = api.post("/rooms", {**room(AT), "level": "planet"})
                assert bad.status_code == 422, "a bad request is still told what is wrong"
                ready = api.client.get("/readyz")
                assert ready.status_code == 503
                assert "refuses writes" in ready.json()["nats"]
                assert stored(server.url) == before

                deaf.clear()
                again = api.post("/rooms", room(AT, name="满盘时的议事室"), key="deaf-1")
                assert again.status_code == 201, again.text
                assert api.client.get("/readyz").json()["nats"] == "ok"
                assert stored(server.url) == before + 1
        finally:
            server.stop()


class TestStorageLimit:
    def test_full_store_is_a_503_naming_it_then_writes_resume_without_restart(
        self,
        limited: tuple[NatsServerProcess, Path],
        people: tuple[UserStore, str],
        tmp_path: Path,
    ) -> None:
        server, config = limited
        users, token = people
        with instance(server.url, users, token, tmp_path) as api:
            assert api.post("/rooms", room(AT), key="warm-up").status_code == 201
            _fill(server.url)
            before = stored(server.url)

            plain = api.post("/rooms", room(AT, name="满盘时的议事室"))
            assert plain.status_code == 503, plain.text
            problem = plain.json()
            assert problem["type"] == "urn:hsl:problem:storage-full"
            assert "hsl" in problem["detail"]
            assert "本次未记录" in problem["detail"]

            keyed = api.post("/rooms", room(AT, name="满盘时的议事室"), key="full-1")
            assert keyed.status_code == 503
            assert keyed.json()["type"] == "urn:hsl:problem:storage-full"
            assert "KV_hsl_idempotency" in keyed.json()["detail"]  # the claim's store
            assert stored(server.url) == before

            _raise_limit(server, config)
            again = _until(
                lambda: api.post("/rooms", room(AT, name="满盘时的议事室"), key="full-1"),
                lambda r: r.status_code != 503,
            )
            assert again.status_code == 201, again.text
            assert again.headers[REPLAYED_HEADER] == "false"
            replay = api.post("/rooms", room(AT, name="满盘时的议事室"), key="full-1")
            assert replay.content == again.content
            assert stored(server.url) == before + 1

    def test_a_full_store_stores_no_part_of_a_multi_aggregate_commit(
        self, limited: tuple[NatsServerProcess, Path]
    ) -> None:
        server, config = limited
        factory = JetStreamFactory(Environment(name="Log", env={"NATS_URL": server.url}))
        try:
            recorder = factory.application_recorder()
            assert isinstance(recorder, JetStreamApplicationRecorder)
            one, two = uuid.uuid4(), uuid.uuid4()
            recorder.insert_events([_event(one, 1)])
            _fill(server.url)
            with pytest.raises(StorageFullError) as refused:
                recorder.insert_events([_event(one, 2), _event(two, 1), _event(two, 2)])
            assert refused.value.store == "Log"
            assert recorder.max_notification_id() == 1
            assert recorder.select_events(two) == []
            _raise_limit(server, config)
            ids = _until(
                lambda: _try_insert(recorder, [_event(one, 2), _event(two, 1), _event(two, 2)]),
                lambda r: r is not None,
            )
            assert ids == [2, 3, 4]
        finally:
            factory.close()


def _event(originator_id: uuid.UUID, version: int) -> StoredEvent:
    return StoredEvent(
        originator_id=originator_id, originator_version=version, topic="t", state=b"{}"
    )


def _try_insert(recorder: JetStreamApplicationRecorder, events: list[StoredEvent]) -> Any:
    try:
        return recorder.insert_events(events)
    except StorageFullError:
        return None


# --- a real full disk ------------------------------------------------------------------------


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs for this test only; skipped where mounting is not allowed."""
    with small_disk(tmp_path) as where:
        yield where


class TestFullDisk:
    def test_full_disk_answers_503_stores_nothing_partial_and_recovers(
        self,
        disk: Path,
        people: tuple[UserStore, str],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(operations, "REQUEST_TIMEOUT", 0.5)
        monkeypatch.setattr(commits, "UNAVAILABLE_WAIT", 1.0)
        # a claim left by an unanswered commit lapses sooner (still longer than a commit)
        monkeypatch.setattr(idempotency, "LEASE", timedelta(seconds=5))
        users, token = people
        server = NatsServerProcess(store_dir=disk / "nats", log_file=tmp_path / "nats.log")
        server.start()
        try:
            with instance(server.url, users, token, tmp_path) as api:
                first = api.post("/rooms", room(AT), key="disk-warm-up")
                assert first.status_code == 201
                room_id = first.json()["id"]
                before = stored(server.url)
                filler = fill_disk(disk)

                # A write or two may still be taken from what the server had buffered; keep
                # writing until the full disk shows.
                acked: list[int] = []
                refused: list[int] = []
                for year in range(2024, 2084):
                    answer = _plan(api, room_id, year, key=f"plan-{year}")
                    (refused if answer.status_code == 503 else acked).append(year)
                    if answer.status_code == 503:
                        kind = answer.json()["type"]
                        # unknown (sent, unanswered), or nothing recorded (refused, or the
                        # key's claim could not be written): never a false "not recorded"
                        assert kind in (
                            "urn:hsl:problem:result-unknown",
                            "urn:hsl:problem:storage-full",
                            "urn:hsl:problem:unavailable",
                        ), answer.text
                        recorded_maybe = kind.endswith("result-unknown")
                        assert ("本次未记录" in answer.json()["detail"]) is not recorded_maybe
                        if len(refused) == 2:
                            break
                    else:
                        assert answer.status_code == 200, answer.text
                assert len(refused) == 2, "the full disk never refused a write"

                filler.unlink()
                # nats-server keeps refusing a stream after a failed disk write until it is
                # restarted (on the same port, as the embedded server is); the API is not.
                port = int(server.url.rsplit(":", 1)[1])
                server.stop()
                server = NatsServerProcess(
                    store_dir=disk / "nats", port=port, log_file=tmp_path / "nats-2.log"
                )
                server.start()
                retried = [
                    _until(
                        functools.partial(_plan, api, room_id, year, key=f"plan-{year}"),
                        lambda r: r.status_code not in (503, 409),
                        seconds=30.0,
                    )
                    for year in refused
                ]
                assert [r.status_code for r in retried] == [200, 200], [r.text for r in retried]
                events = api.app.recorder.select_events(uuid.UUID(room_id))
                # every plan once, the acknowledged and the retried: none lost, none twice
                assert len(events) == 1 + len(acked) + len(refused)
                assert stored(server.url) == before + len(acked) + len(refused)
        finally:
            server.stop()


def _plan(api: Instance, room_id: str, year: int, key: str) -> Any:
    body = {"occurred_at": AT, "year": year, "planned_consultations": 3}
    return api.post(f"/rooms/{room_id}/plans", body, key=key)
