"""One API per test module: a real nats-server, the application on it, users, a TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from service.application import HaoshangliangApplication
from service.auth.users import Grant, UserStore
from service.bootstrap import application_env
from service.http.app import create_app
from service.http.server import APP_ENV
from service.http.services import Services
from service.http.views_reader import ViewsReader
from service.nats.bundled_server import NatsServerProcess
from tests.support.http_api import PEOPLE, TOWN_SCOPE, Api, Clock


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    base = tmp_path_factory.mktemp("api")
    server = NatsServerProcess(store_dir=base / "nats")
    url = server.start()
    clock = Clock()
    # As ``hsl serve`` runs it: with the aggregate cache (service.http.server.APP_ENV).
    app = HaoshangliangApplication(env=application_env(url, APP_ENV))
    users = UserStore(base / "users.json")
    tokens = {
        person: users.add(person, person, [Grant(role=role, scope=scope)])[1]  # type: ignore[arg-type]
        for person, (role, scope) in PEOPLE.items()
    }
    services = Services(
        app=app,
        users=users,
        views=ViewsReader(base / "projections.duckdb"),
        data_dir=base,
        nats_url=url,
    )
    try:
        with TestClient(create_app(services)) as client:
            yield Api(
                client=client,
                app=app,
                clock=clock,
                users=users,
                services=services,
                tokens=tokens,
            )
    finally:
        app.close()
        server.stop()


@pytest.fixture
def people(tmp_path: Path) -> tuple[UserStore, str]:
    users = UserStore(tmp_path / "users.json")
    _, token = users.add("clerk-1", "clerk-1", [Grant(role="clerk", scope=TOWN_SCOPE)])
    return users, token
