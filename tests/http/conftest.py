"""One API per test module: a real nats-server, the application on it, users, a TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from service.application import HaoshangliangApplication
from service.auth.users import Grant, Scope, UserStore
from service.bootstrap import application_env
from service.http.app import create_app
from service.http.server import APP_ENV
from service.http.services import Services
from service.http.views_reader import ViewsReader
from service.nats.bundled_server import NatsServerProcess

COUNTY, TOWN, VILLAGE = "清河县", "柳溪镇", "河下村"
TOWN_SCOPE = Scope(county=COUNTY, town=TOWN)
VILLAGE_SCOPE = Scope(county=COUNTY, town=TOWN, locality=VILLAGE)

PEOPLE: dict[str, tuple[str, Scope]] = {
    # person id: (role, scope)
    "clerk-1": ("clerk", TOWN_SCOPE),
    "town-party": ("party_org", TOWN_SCOPE),
    "village-party": ("party_org", VILLAGE_SCOPE),
    "town-upper-party": ("upper_party_org", TOWN_SCOPE),
    "members-group": ("members_group", TOWN_SCOPE),
    "convener-1": ("convener", TOWN_SCOPE),
    "member-1": ("cppcc_member", TOWN_SCOPE),
    "official-1": ("official", TOWN_SCOPE),
    "unit-1": ("implementing_unit", TOWN_SCOPE),
    "unit-2": ("implementing_unit", TOWN_SCOPE),
    "supervisor-1": ("supervisor", TOWN_SCOPE),
    "r0": ("resident_rep", VILLAGE_SCOPE),
    "r1": ("resident_rep", VILLAGE_SCOPE),
    "r2": ("resident_rep", VILLAGE_SCOPE),
    "r3": ("resident", VILLAGE_SCOPE),
    "office-1": ("office", Scope()),
    "auditor-1": ("auditor", Scope()),
    "other-clerk": ("clerk", Scope(county=COUNTY, town="别的镇")),
}


class Clock:
    """The callers' clock, moved by the test: each act (its ``occurred_at``) an hour after the
    last. The application keeps the real clock for ``recorded_at``, as ``hsl serve`` does, so
    the log verifies against the server's storage times (``replay.record_time``)."""

    def __init__(self) -> None:
        self.now = datetime(2024, 3, 1, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self) -> str:
        self.now += timedelta(hours=1)
        return self.now.isoformat()


@dataclass
class Api:
    """The API under test and the people who call it."""

    client: TestClient[Any]
    app: HaoshangliangApplication
    clock: Clock
    users: UserStore
    services: Services
    """What the app serves (its views' reader, the NATS URL …)."""
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, person: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[person]}"}

    def post(self, person: str, path: str, body: dict[str, Any]) -> Any:
        payload = {"occurred_at": self.clock.tick(), **body}
        return self.client.post(path, json=payload, headers=self.auth(person))

    def ok(self, person: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.post(person, path, body)
        assert response.status_code in (200, 201), (path, response.status_code, response.text)
        result: dict[str, Any] = response.json()
        return result

    def head(self) -> int:
        return int(self.app.recorder.max_notification_id() or 0)


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
