"""Views read through NATS: an ``hsl project`` process, and what the API answers through it."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from projections.analytics import VIEWS
from projections.remote_views import RemoteViews
from projections.view_reads import Position
from projections.views_wire import query_subject
from service.http.app import create_app
from service.http.views_reader import ViewsReader
from tests.support.hsl_commands import hsl_process
from tests.support.http_api import Api


def start_project(data_dir: Path, nats_url: str | None, **more: str) -> subprocess.Popen[str]:
    """`hsl project` in its own process (on the embedded server of ``data_dir`` when
    ``nats_url`` is None); returns once it answers view reads."""
    process = hsl_process(data_dir, nats_url, "project", **more)
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(2)]
    if not lines[1].startswith(f"answering view reads on {query_subject(STREAM)}"):
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"hsl project did not start: {lines} {err}")
    return process


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    return out


def wait_until_current(client: RemoteViews, head: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while client.read(Position()) < head:
        assert time.monotonic() < deadline, "the projector did not catch up"
        time.sleep(0.05)


@contextmanager
def reading_through(api: Api, views: ViewsReader) -> Iterator[TestClient[Any]]:
    """The API of ``api`` with ``views`` as its views' reader (as ``hsl serve`` gives one)."""
    with TestClient(create_app(replace(api.services, views=views))) as client:
        yield client


def answers(client: TestClient[Any], api: Api, world: dict[str, str]) -> dict[str, Any]:
    auth = api.auth("office-1")
    found: dict[str, Any] = {}
    for path, params in view_routes(world):
        response = client.get(path, params=params, headers=auth)
        assert response.status_code in (200, 404), (path, response.text)
        body: Any = response.content
        if response.status_code == 404:
            body = {k: v for k, v in response.json().items() if k != "request_id"}
        found[f"{path}?{sorted(params.items())}"] = (response.status_code, body)
    ready = client.get("/readyz")
    found["/readyz"] = (ready.status_code, ready.content)
    return found


STREAM = "hsl"


def view_routes(world: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """Every read of the views, with filters, one-row reads, a miss and each analytics view."""
    routes: list[tuple[str, dict[str, str]]] = [
        ("/rooms", {}),
        ("/rooms", {"town": "柳溪镇", "limit": "1", "offset": "1"}),
        (f"/rooms/{world['village']}", {}),
        (f"/rooms/{world['topic']}", {}),  # no such room: 404
        ("/topics", {}),
        ("/topics", {"room_id": world["village"], "status": "filed"}),
        (f"/topics/{world['topic']}", {}),
        ("/outcomes", {}),
        ("/outcomes", {"room_id": world["village"]}),
    ]
    for name in VIEWS:
        routes += [(f"/analytics/{name}", {}), (f"/analytics/{name}", {"format": "csv"})]
    return routes
