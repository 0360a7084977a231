"""One API per test module: a real nats-server, the application on it, users, a TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.auth.users import Grant, UserStore
from service.http.server import APP_ENV
from service.nats.bundled_server import NatsServerProcess
from tests.support.http_api import TOWN_SCOPE, Api, serving


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    base = tmp_path_factory.mktemp("api")
    server = NatsServerProcess(store_dir=base / "nats")
    url = server.start()
    try:
        # As ``hsl serve`` runs it: with the aggregate cache (service.http.server.APP_ENV).
        with serving(url, base, APP_ENV) as api:
            yield api
    finally:
        server.stop()


@pytest.fixture
def people(tmp_path: Path) -> tuple[UserStore, str]:
    users = UserStore(tmp_path / "users.json")
    _, token = users.add("clerk-1", "clerk-1", [Grant(role="clerk", scope=TOWN_SCOPE)])
    return users, token
