"""Separate API instances on one log, for the idempotency and full-store tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from events.jetstream.bridge import NatsBridge
from service.application import HaoshangliangApplication
from service.auth.users import UserStore
from service.bootstrap import application_env
from service.http.app import create_app
from service.http.idempotency import HEADER
from service.http.server import APP_ENV
from service.http.services import Services
from service.http.views_reader import ViewsReader
from tests.support.http_api import COUNTY, TOWN, Clock


@dataclass
class Instance:
    """One API process on the log."""

    client: TestClient[Any]
    app: HaoshangliangApplication
    token: str

    def post(self, path: str, body: dict[str, Any], key: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        if key is not None:
            headers[HEADER] = key
        return self.client.post(path, json=body, headers=headers)


@contextmanager
def instance(
    url: str,
    users: UserStore,
    token: str,
    base: Path,
    store_refusal: Callable[[], Exception | None] | None = None,
) -> Iterator[Instance]:
    app = HaoshangliangApplication(env=application_env(url, APP_ENV), clock=Clock())
    services = Services(
        app=app,
        users=users,
        views=ViewsReader(base / "views.duckdb"),
        data_dir=base,
        store_refusal=store_refusal,
    )
    try:
        with TestClient(create_app(services)) as client:
            yield Instance(client=client, app=app, token=token)
    finally:
        app.close()


def stored(url: str, stream: str = "hsl") -> int:
    """How many messages the stream holds, as the server counts them."""
    bridge = NatsBridge(url, name="test-count")
    try:
        info = bridge.run(bridge.client.jetstream().stream_info(stream))
        return int(info.state.messages)
    finally:
        bridge.close()


def room(at: str, name: str = "柳溪镇协商议事室") -> dict[str, Any]:
    return {**ROOM, "name": name, "occurred_at": at}


AT = "2024-03-01T09:00:00+08:00"


ROOM = {"name": "柳溪镇协商议事室", "level": "town", "region": {"county": COUNTY, "town": TOWN}}
