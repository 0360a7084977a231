"""The API's view reads when the projector holds the views file in another process.

`hsl project` runs as a real process of its own and holds ``projections.duckdb`` (DuckDB then
refuses this process any opening of it); the API sends its reads there over NATS
(``projections.query_service``) and answers with the same bytes as when the projector runs in
its process (a shared connection) or when the file is free (opened read-only). Without a
projector the reads are 503 problems naming why, within the timeout; a malformed request to
the query service gets a named error and changes nothing.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import msgspec
import nats
import pytest
from litestar.testing import TestClient

from projections.loop_thread import LoopThread
from projections.rebuild import snapshot
from projections.remote_views import RemoteViews
from projections.views_wire import ViewsQueryError, decode_reply, query_subject, reply_prefix
from service.auth.users import Grant, Scope, UserStore
from service.http.app import create_app
from service.http.services import Services
from service.http.views_reader import LocalViews, ViewsReader
from service.nats.embedded import stop_embedded
from service.settings import Settings
from tests.support.hsl_commands import hsl_process
from tests.support.http_api import Api, run_lifecycle
from tests.support.rebuilt_views import fresh_rebuild
from tests.support.remote_views import (
    STREAM,
    answers,
    reading_through,
    start_project,
    stop,
    wait_until_current,
)

TIMEOUT = 2.0


@pytest.fixture(scope="module")
def world(api: Api) -> dict[str, str]:
    return run_lifecycle(api)


@pytest.fixture
def remote(api: Api) -> Iterator[RemoteViews]:
    """The API's views client, as ``hsl serve --no-projector`` sets it up."""
    assert api.services.nats_url is not None
    client = RemoteViews(api.services.nats_url, STREAM, timeout=TIMEOUT)
    try:
        yield client
    finally:
        client.close()


def test_reads_through_the_projector_process_equal_the_in_process_reads(
    api: Api, world: dict[str, str], remote: RemoteViews
) -> None:
    services = api.services
    path = services.views.path
    process = start_project(path.parent, services.nats_url or "")
    try:
        wait_until_current(remote, api.head())
        with pytest.raises(duckdb.Error):  # held by the projector: no opening here at all
            duckdb.connect(str(path), read_only=True).close()
        with reading_through(api, ViewsReader(path, remote=remote)) as client:
            through_nats = answers(client, api, world)
            metrics = client.get("/metrics").text
        assert "hsl_projection_lag_events 0" in metrics
    finally:
        out = stop(process)
    assert f"stopped at event {api.head()}" in out
    assert through_nats["/readyz"][0] == 200
    assert any(b"\xe6\x9f\xb3\xe6\xba\xaa" in body for _, body in through_nats.values())  # 柳溪

    # The projector inside this process, sharing its connection (what `hsl serve` does).
    con = duckdb.connect(str(path))
    local = LocalViews()
    local.share(con)
    try:
        with reading_through(api, ViewsReader(path, local=local, remote=remote)) as client:
            in_process = answers(client, api, world)
    finally:
        local.unshare()
        con.close()
    assert through_nats == in_process

    # Nobody holds the file and no projector answers: the file, opened read-only.
    with reading_through(api, ViewsReader(path, remote=remote)) as client:
        assert answers(client, api, world) == in_process


def test_without_a_projector_a_read_is_a_503_naming_why(
    api: Api, world: dict[str, str], remote: RemoteViews, tmp_path: Path
) -> None:
    views = ViewsReader(tmp_path / "projections.duckdb", remote=remote)
    empty = Services(app=api.app, users=api.users, views=views)
    with TestClient(create_app(empty)) as client:
        started = time.monotonic()
        response = client.get("/rooms", headers=api.auth("office-1"))
        elapsed = time.monotonic() - started
        ready = client.get("/readyz")
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "urn:hsl:problem:unavailable"
    assert f"no projector answers on {query_subject(STREAM)}" in problem["detail_en"]
    assert "hsl project" in problem["detail"]
    assert elapsed < TIMEOUT
    assert ready.status_code == 503
    assert "no projector answers" in ready.json()["views"]


def test_a_projector_that_does_not_answer_is_a_503_after_the_timeout(
    api: Api, world: dict[str, str], tmp_path: Path
) -> None:
    """Something subscribed to the query subject that never replies: 503 within the timeout."""
    services = api.services
    loop = LoopThread("silent-projector")
    silent = loop.run(nats.connect(services.nats_url or ""))
    loop.run(silent.subscribe(query_subject(STREAM)))
    loop.run(silent.flush())
    client = RemoteViews(services.nats_url or "", STREAM, timeout=0.5)
    try:
        with reading_through(api, ViewsReader(services.views.path, remote=client)) as asking:
            started = time.monotonic()
            response = asking.get("/topics", headers=api.auth("office-1"))
            elapsed = time.monotonic() - started
    finally:
        client.close()
        loop.run(silent.close())
        loop.close()
    assert response.status_code == 503, response.text
    assert "did not answer on hsl-views.hsl.query within 0.5 s" in response.json()["detail_en"]
    assert 0.5 <= elapsed < 3


BAD_REQUESTS: list[tuple[bytes, str]] = [
    (b"SELECT * FROM rooms", "JSON is malformed"),
    (b'{"read": "rooms; DROP TABLE rooms"}', "Invalid value 'rooms; DROP TABLE rooms'"),
    (b'{"read": "sql", "sql": "DELETE FROM rooms"}', "Invalid value 'sql'"),
    (b'{"read": "rooms", "sql": "DELETE FROM rooms"}', "unknown field `sql`"),
    (b'{"read": "rooms", "limit": 0}', "at `$.limit`"),
    (b'{"read": "room", "room_id": "x\' OR 1=1"}', "at `$.room_id`"),
    (b'{"read": "analytics", "view": "rooms\\"; DROP TABLE rooms; --"}', "at `$.view`"),
    (b"[]", "Expected `object`"),
]


async def _ask(url: str, data: bytes) -> bytes:
    nc = await nats.connect(url, inbox_prefix=reply_prefix(STREAM))
    try:
        reply = await nc.request(query_subject(STREAM), data, timeout=5)
        return reply.data
    finally:
        await nc.close()


def test_a_bad_request_gets_a_named_error_and_changes_nothing(
    api: Api, world: dict[str, str], tmp_path: Path
) -> None:
    url = api.services.nats_url or ""
    data_dir = tmp_path / "project"
    process = start_project(data_dir, url)
    client = RemoteViews(url, STREAM, timeout=5)
    try:
        wait_until_current(client, api.head())
        for data, named in BAD_REQUESTS:
            with pytest.raises(ViewsQueryError, match=r"^bad-request: ") as raised:
                decode_reply(asyncio.run(_ask(url, data)))
            error = raised.value
            assert error.name == "bad-request", (data, error)
            assert named in error.detail, (data, error.detail)
            assert "the reads are ping, position, rooms" in error.detail
        good = decode_reply(asyncio.run(_ask(url, msgspec.json.encode({"read": "rooms"}))))
        assert {r["room_id"] for r in good} >= {world["town"], world["village"]}
    finally:
        client.close()
        stop(process)
    with duckdb.connect(str(data_dir / "projections.duckdb"), read_only=True) as con:
        live = snapshot(con)
    assert live == fresh_rebuild(api.app, tmp_path / "fresh.duckdb")


@pytest.mark.parametrize("where", ["NATS_URL", "embedded"])
def test_compose_as_processes_hsl_serve_no_projector_reads_through_hsl_project(
    where: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """compose's `api` and `projector` as two processes on one data directory: the API's view
    reads and /readyz answer from the projector that holds the file. On a server of its own
    without users (``NATS_URL``), and on the embedded server, where `hsl serve` connects as
    ``service`` and `hsl project` as ``projector`` with their permissions."""
    nats_url: str | None = None
    if where == "NATS_URL":
        nats_url = request.getfixturevalue("nats_url")
    data_dir = tmp_path / "data"
    _, token = UserStore.in_data_dir(data_dir).add(
        "office-1", "办公室", [Grant(role="office", scope=Scope())]
    )
    command = ["serve", "--no-feed", "--no-projector", "--no-checkpointer", "--port", "0"]
    serve = hsl_process(data_dir, nats_url, *command)
    try:
        assert serve.stdout is not None
        url = ""
        for _ in range(10):
            line = serve.stdout.readline()
            if line.startswith("HTTP "):
                url = line.split()[1]
                break
        assert url, serve.stderr.read() if serve.stderr else ""
        auth = {"Authorization": f"Bearer {token}"}
        before = httpx.get(f"{url}/rooms", headers=auth, timeout=30)
        assert before.status_code == 503
        assert "no projector answers on hsl-views.hsl.query" in before.json()["detail_en"]
        project = start_project(data_dir, nats_url)
        try:
            rooms = httpx.get(f"{url}/rooms", headers=auth, timeout=30)
            ready = httpx.get(f"{url}/readyz", timeout=30)
        finally:
            stop(project)
        assert rooms.status_code == 200, rooms.text
        assert rooms.json() == []
        assert ready.status_code == 200, ready.text
    finally:
        stop(serve)
        stop_embedded(Settings.from_env({"HSL_DATA_DIR": str(data_dir)}))


def _serve_api(data_dir: Path, *options: str) -> tuple[subprocess.Popen[str], str]:
    """`hsl serve` on the embedded server of ``data_dir``; returns it and its API's URL."""
    command = ["serve", "--no-feed", "--no-checkpointer", "--port", "0", *options]
    process = hsl_process(data_dir, None, *command)
    assert process.stdout is not None
    for _ in range(20):
        line = process.stdout.readline()
        if line.startswith("HTTP "):
            return process, line.split()[1]
    stop(process)
    raise AssertionError(process.stderr.read() if process.stderr else "no HTTP line")


def test_a_second_api_reads_through_hsl_serves_own_projector(tmp_path: Path) -> None:
    """`hsl serve` with its projector holds the views file; a second `hsl serve --no-projector`
    on the same data directory (another API process, both as the NATS user ``service``) asks
    that projector and answers the same rooms and analytics."""
    data_dir = tmp_path / "data"
    _, token = UserStore.in_data_dir(data_dir).add(
        "office-1", "办公室", [Grant(role="office", scope=Scope())]
    )
    auth = {"Authorization": f"Bearer {token}"}
    first, first_url = _serve_api(data_dir, "--demo")
    try:
        second, second_url = _serve_api(data_dir, "--no-projector")
        try:
            deadline = time.monotonic() + 60
            while True:
                own = httpx.get(f"{first_url}/rooms", headers=auth, timeout=30)
                asked = httpx.get(f"{second_url}/rooms", headers=auth, timeout=30)
                if own.status_code == asked.status_code == 200 and own.json():
                    funnel = "/analytics/closed_loop_funnel_by_county"
                    own_f = httpx.get(f"{first_url}{funnel}", headers=auth, timeout=30)
                    asked_f = httpx.get(f"{second_url}{funnel}", headers=auth, timeout=30)
                    if own.json() == asked.json() and own_f.json() == asked_f.json():
                        break
                assert time.monotonic() < deadline, (own.text[:200], asked.text[:200])
                time.sleep(0.5)
            assert asked_f.status_code == 200
            assert asked_f.json()
        finally:
            stop(second)
    finally:
        stop(first)
        stop_embedded(Settings.from_env({"HSL_DATA_DIR": str(data_dir)}))
