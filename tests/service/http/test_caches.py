"""What the API caches, and that no cache lets a stale decision through.

- the application's aggregate cache (``service.http.server.APP_ENV``): every load
  fast-forwards the cached aggregate from the log, and a write decided on a copy that another
  writer overtook between the load and the save is refused with 409 and writes nothing;
- placements (``service.auth.placement``): a target's room and region, which never change,
  are read from the log once, so a command loads its aggregate once; an outcome's
  implementing unit, which can change, is read fresh for the own-assignment check;
- the users file's token index (``service.auth.users``): rebuilt when the file changes, so a
  revocation or a new token from another process applies at the next request.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID, uuid4

import pytest

from events.common import Actor
from events.room import Region
from service.application import HaoshangliangApplication
from service.auth.placement import Placements, placements
from service.auth.users import Grant, Scope, UserStore
from service.domain.errors import NotFoundError
from service.http.server import APP_ENV
from tests.support.http_api import COUNTY, TOWN, Api

OTHER = Actor(id="other-writer", role="clerk")


@pytest.fixture(scope="module")
def room(api: Api) -> str:
    body = {"name": "缓存测试议事室", "level": "town", "region": {"county": COUNTY, "town": TOWN}}
    return str(api.ok("clerk-1", "/rooms", body)["id"])


@pytest.fixture
def other(api: Api) -> Iterator[HaoshangliangApplication]:
    """Another writer on the same log: a second process, as ``hsl`` commands would be."""
    env = {k: v for k, v in api.app.env.items() if k not in APP_ENV}
    other = HaoshangliangApplication(env=env)
    try:
        yield other
    finally:
        other.close()


def _plan(api: Api, room: str, year: int) -> Any:
    return api.post("clerk-1", f"/rooms/{room}/plans", {"year": year, "planned_consultations": 1})


def _file_directly(app: HaoshangliangApplication, room: str, year: int) -> None:
    app.file_annual_plan(
        UUID(room),
        actor=OTHER,
        occurred_at=datetime.now(UTC) - timedelta(minutes=1),
        year=year,
        planned_consultations=3,
    )


def _counting_gets(api: Api, monkeypatch: pytest.MonkeyPatch) -> list[UUID]:
    loads: list[UUID] = []
    real = api.app.repository.get

    def get(aggregate_id: UUID, **kwargs: Any) -> Any:
        loads.append(aggregate_id)
        return real(aggregate_id, **kwargs)

    monkeypatch.setattr(api.app.repository, "get", get)
    return loads


def test_the_api_runs_with_the_aggregate_cache(api: Api) -> None:
    assert api.app.repository.cache is not None
    assert api.app.repository.fastforward
    assert api.app.repository.deepcopy_from_cache


def test_a_command_loads_its_aggregate_once(
    api: Api, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _plan(api, room, 2030).status_code == 200  # the room's placement is now known
    loads = _counting_gets(api, monkeypatch)
    assert _plan(api, room, 2031).status_code == 200
    assert loads == [UUID(room)]


def test_another_writers_event_is_seen_by_the_next_command(
    api: Api, room: str, other: HaoshangliangApplication
) -> None:
    assert _plan(api, room, 2032).status_code == 200  # cached in the API's application
    _file_directly(other, room, 2033)
    assert _plan(api, room, 2034).status_code == 200  # fast-forwarded: no conflict
    plans = api.app.get_room(UUID(room)).annual_plans
    assert (plans[2032], plans[2033], plans[2034]) == (1, 3, 1)


def test_a_write_overtaken_after_its_load_is_409_and_writes_nothing(
    api: Api, room: str, other: HaoshangliangApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _plan(api, room, 2035).status_code == 200
    real = api.app.repository.get
    overtaken: list[int] = []

    def get_then_another_writer_saves(aggregate_id: UUID, **kwargs: Any) -> Any:
        aggregate = real(aggregate_id, **kwargs)  # the command's copy, current until ...
        if not overtaken:
            _file_directly(other, room, 2036)  # ... another process writes to the same room
            overtaken.append(aggregate.version)
        return aggregate

    monkeypatch.setattr(api.app.repository, "get", get_then_another_writer_saves)
    before = api.head()
    response = _plan(api, room, 2037)
    assert response.status_code == 409, response.text
    assert response.json()["type"] == "urn:hsl:problem:conflict"
    assert api.head() == before + 1  # the other writer's event only
    monkeypatch.undo()
    room_now = api.app.get_room(UUID(room))
    assert room_now.version == overtaken[0] + 1
    assert room_now.annual_plans[2036] == 3
    assert 2037 not in room_now.annual_plans
    # The cache is not left stale: the next command sees the other event and succeeds.
    assert _plan(api, room, 2038).status_code == 200
    assert api.app.get_room(UUID(room)).annual_plans[2038] == 1


def test_the_api_keeps_placements_of_what_it_met(api: Api, room: str) -> None:
    assert _plan(api, room, 2039).status_code == 200
    target = placements(api.app).cached("room", UUID(room))
    assert target is not None
    assert target.room_id == room
    assert target.region == Region(county=COUNTY, town=TOWN)
    assert placements(api.app).cached("topic", UUID(room)) is None  # a room is not a topic


def test_what_the_api_creates_is_placed_at_once(
    api: Api, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    region = Region(county=COUNTY, town=TOWN)
    body = {"name": "新建议事室", "level": "town", "region": {"county": COUNTY, "town": TOWN}}
    new_room = api.ok("clerk-1", "/rooms", body)["id"]
    known = placements(api.app).cached("room", UUID(new_room))
    assert known is not None
    assert (known.room_id, known.region) == (new_room, region)
    topic = api.ok(
        "clerk-1",
        f"/rooms/{new_room}/topics",
        {"title": "村道修缮", "description": "村道破损", "source": "residents"},
    )["id"]
    known = placements(api.app).cached("topic", UUID(topic))
    assert known is not None
    assert (known.room_id, known.region) == (new_room, region)
    loads = _counting_gets(api, monkeypatch)
    assert _plan(api, new_room, 2042).status_code == 200
    assert loads == [UUID(new_room)]  # the command's own load only


def test_an_unknown_id_is_404_and_not_remembered(api: Api) -> None:
    ident = uuid4()
    response = _plan(api, str(ident), 2040)
    assert response.status_code == 404, response.text
    assert placements(api.app).cached("room", ident) is None


# --- placements, against a stand-in application ------------------------------------------


class _Aggregate:
    def __init__(
        self, ident: UUID, room_id: UUID, region: Region | None = None, unit_id: str | None = None
    ) -> None:
        self.id, self.room_id, self.region, self.unit_id = ident, room_id, region, unit_id


class _App:
    """Rooms and outcomes by id; counts every load."""

    def __init__(self) -> None:
        self.rooms: dict[UUID, _Aggregate] = {}
        self.outcomes: dict[UUID, _Aggregate] = {}
        self.loads = 0

    def get_room(self, ident: UUID) -> _Aggregate:
        self.loads += 1
        if ident not in self.rooms:
            raise NotFoundError("room", ident)
        return self.rooms[ident]

    def get_outcome(self, ident: UUID) -> _Aggregate:
        self.loads += 1
        if ident not in self.outcomes:
            raise NotFoundError("outcome", ident)
        return self.outcomes[ident]


@pytest.fixture
def world() -> tuple[_App, Placements, UUID, UUID]:
    app = _App()
    room, outcome = uuid4(), uuid4()
    region = Region(county=COUNTY, town=TOWN)
    app.rooms[room] = _Aggregate(room, room, region=region)
    app.outcomes[outcome] = _Aggregate(outcome, room, unit_id="unit-1")
    return app, Placements(cast(HaoshangliangApplication, app), maxsize=3), room, outcome


def test_a_placement_is_read_once(world: tuple[_App, Placements, UUID, UUID]) -> None:
    app, cache, room, outcome = world
    first = cache.target("outcome", outcome)
    assert (first.room_id, first.unit_id) == (str(room), None)
    assert app.loads == 2  # the outcome, then its room
    assert cache.target("outcome", outcome) == first
    assert cache.cached("room", room) is not None
    assert app.loads == 2


def test_the_implementing_unit_is_read_fresh(world: tuple[_App, Placements, UUID, UUID]) -> None:
    app, cache, _, outcome = world
    assert cache.target("outcome", outcome, with_unit=True).unit_id == "unit-1"
    app.outcomes[outcome].unit_id = "unit-2"  # reassigned (by this or another process)
    assert cache.target("outcome", outcome, with_unit=True).unit_id == "unit-2"
    assert app.loads == 3  # the outcome each time, its room once


def test_an_id_unknown_then_known(world: tuple[_App, Placements, UUID, UUID]) -> None:
    app, cache, room, _ = world
    later = uuid4()
    with pytest.raises(NotFoundError):
        cache.target("outcome", later)
    app.outcomes[later] = _Aggregate(later, room, unit_id=None)
    assert cache.target("outcome", later).room_id == str(room)


def test_placements_are_bounded(world: tuple[_App, Placements, UUID, UUID]) -> None:
    app, cache, room, _ = world
    for _ in range(5):
        ident = uuid4()
        app.outcomes[ident] = _Aggregate(ident, room, unit_id=None)
        cache.target("outcome", ident)
    assert len(cache) == 3


# --- tokens ------------------------------------------------------------------------------


def test_a_token_changed_by_another_process_applies_at_the_next_request(
    api: Api, room: str
) -> None:
    elsewhere = UserStore(api.users.path)  # `hsl users` in another process: its own store
    _, old = elsewhere.add("cache-clerk", "临时", [Grant(role="clerk", scope=Scope())])
    path = f"/rooms/{room}/plans"

    def post(token: str) -> int:
        body = {"occurred_at": api.clock.tick(), "year": 2041, "planned_consultations": 1}
        headers = {"Authorization": f"Bearer {token}"}
        return int(api.client.post(path, json=body, headers=headers).status_code)

    assert post(old) == 200
    elsewhere.revoke("cache-clerk")
    assert post(old) == 401
    _, new = elsewhere.add("cache-clerk", "临时", [Grant(role="clerk", scope=Scope())])
    assert post(new) == 200
    assert post(old) == 401
    assert api.users.authenticate(new) is not None
    assert api.users.authenticate(new + "x") is None
    assert api.users.authenticate(old) is None
