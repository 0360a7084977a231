"""Honest logs verify; forged times are still caught (``replay.record_time``).

Against real nats-servers: sixteen clerks writing at once through the HTTP API, two
application instances whose commits reach the stream in another order than their commands
began, a writer whose clock was stepped back a few seconds, and two demo seeds on one log:
each is checkpointed, then verified live and through an exported bundle, and must be OK. An
event published directly with the service's credentials and a recorded time a day early is
named ``backdated`` with its sequence.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import msgspec
import nats
import pytest
from litestar.testing import TestClient

from events.common import Actor
from events.jetstream.stream_layout import DUPLICATE_WINDOW, ORIGINATOR_VERSION, TOPIC, StreamLayout
from events.room import Region
from replay.record_time import CLOCK_TOLERANCE, RecordClock
from service.application import HaoshangliangApplication
from service.auth.users import Grant, UserStore
from service.bootstrap import application_env
from service.cli.demo import run_demo
from service.cli.main import main
from service.http.app import create_app
from service.http.server import APP_ENV
from service.http.services import Services
from service.http.views_reader import ViewsReader
from service.settings import Settings
from tests.support.http_api import COUNTY, TOWN, TOWN_SCOPE

CLERK = Actor(id="clerk-1", role="clerk")
REGION = Region(county=COUNTY, town=TOWN)
WRITERS = 16


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- the rule, without a log ------------------------------------------------------------------


def test_the_rule() -> None:
    """recorded_at may stray either way within the tolerance and go back along the sequence;
    beyond it, each direction has its name; the server's clock may not go back beyond it."""
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    clock = RecordClock()
    assert clock.check(1, at, at) is None
    assert clock.check(2, at - timedelta(seconds=4), at + timedelta(seconds=1)) is None
    assert clock.check(3, at - timedelta(minutes=4), at) is None  # a slow command
    assert clock.check(4, at + timedelta(minutes=4), at) is None  # a clock running ahead
    back = clock.check(5, at - CLOCK_TOLERANCE - timedelta(seconds=1), at)
    assert back is not None
    assert back.kind == "backdated"
    ahead = clock.check(6, at + CLOCK_TOLERANCE + timedelta(seconds=1), at)
    assert ahead is not None
    assert ahead.kind == "postdated"
    assert clock.check(7, at - timedelta(minutes=4), at - timedelta(minutes=4)) is None
    earlier = at - CLOCK_TOLERANCE - timedelta(seconds=1)
    rewound = clock.check(8, earlier, earlier)
    assert rewound is not None
    assert rewound.kind == "rewound"
    assert "event 2's" in rewound.message  # the greatest stored_at so far, and where it is


def test_a_commit_retried_within_the_duplicate_window_is_within_the_tolerance() -> None:
    """A lost acknowledgement's commit is retried with the time its command took, at most a
    duplicate window later: it must still verify."""
    assert DUPLICATE_WINDOW < CLOCK_TOLERANCE


# --- checkpoint, verify live, export, verify offline -----------------------------------------


@dataclass
class Audit:
    """``hsl audit`` as a user runs it, on the log at ``url``."""

    url: str
    data_dir: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def run(self, *args: str) -> tuple[int, str]:
        self.monkeypatch.setenv("NATS_URL", self.url)
        self.monkeypatch.setenv("HSL_DATA_DIR", str(self.data_dir))
        self.capsys.readouterr()
        code = main(list(args))
        captured = self.capsys.readouterr()
        return code, captured.out + captured.err

    def verified(self, bundle: Path) -> str:
        """Checkpoint the log, then verify it live and as an exported bundle: both OK."""
        assert self.run("audit", "checkpoint", "--once")[0] == 0
        key = self.run("audit", "key")[1].strip()
        code, live = self.run("audit", "verify", "--live", "--key", key)
        assert (code, live[:3]) == (0, "OK "), live
        assert self.run("audit", "export", "-o", str(bundle))[0] == 0
        code, offline = self.run("audit", "verify", str(bundle), "--key", key)
        assert (code, offline[:3]) == (0, "OK "), offline
        return live


@pytest.fixture
def audit(
    nats_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Audit:
    return Audit(nats_url, tmp_path / "data", monkeypatch, capsys)


def recorded_times(url: str) -> list[datetime]:
    """Every event's recorded_at, in stream order, read with nats-py alone."""

    async def read() -> list[datetime]:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            stream = StreamLayout.for_application("hsl").stream
            info = await js.stream_info(stream)
            found = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                payload = json.loads((await js.get_msg(stream, seq)).data or b"{}")
                if "recorded_at" in payload:
                    found.append(datetime.fromisoformat(payload["recorded_at"]))
            return found
        finally:
            await nc.close()

    return asyncio.run(read())


def goes_back(times: list[datetime]) -> bool:
    """Whether recorded_at goes back somewhere along the sequence (the old check's failure)."""
    return any(later < earlier for earlier, later in itertools.pairwise(times))


# --- honest writers ---------------------------------------------------------------------------


@pytest.fixture
def client(nats_url: str, tmp_path: Path) -> Iterator[TestClient[Any]]:
    """The API as ``hsl serve`` runs it, with its real clock, and a clerk's token."""
    app = HaoshangliangApplication(env=application_env(nats_url, APP_ENV))
    users = UserStore(tmp_path / "users.json")
    _, token = users.add("clerk-1", "clerk-1", [Grant(role="clerk", scope=TOWN_SCOPE)])
    services = Services(
        app=app, users=users, views=ViewsReader(tmp_path / "views.duckdb"), nats_url=nats_url
    )
    try:
        with TestClient(create_app(services)) as test_client:
            test_client.headers["Authorization"] = f"Bearer {token}"
            yield test_client
    finally:
        app.close()


def test_sixteen_clerks_at_once_through_the_api(
    client: TestClient[Any], audit: Audit, tmp_path: Path
) -> None:
    def write(writer: int) -> list[int]:
        statuses = []
        for n in range(4):
            body = {
                "occurred_at": (utc_now() - timedelta(hours=1)).isoformat(),
                "name": f"议事室{writer}-{n}",
                "level": "town",
                "region": {"county": COUNTY, "town": TOWN},
            }
            statuses.append(client.post("/rooms", json=body).status_code)
        return statuses

    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = [s for batch in pool.map(write, range(WRITERS)) for s in batch]
    assert statuses == [201] * WRITERS * 4
    assert "events=64," in audit.verified(tmp_path / "bundle")


def test_two_instances_commit_in_another_order_than_they_began(
    nats_url: str, audit: Audit, tmp_path: Path
) -> None:
    """A's command takes its time, then waits while B's is stored: A is stored after B with
    an earlier recorded_at, as two API processes do under load."""
    taken, release = threading.Event(), threading.Event()

    def held_clock() -> datetime:
        now = utc_now()
        if not taken.is_set():
            taken.set()
            release.wait(timeout=60)
        return now

    first = HaoshangliangApplication(env=application_env(nats_url), clock=held_clock)
    second = HaoshangliangApplication(env=application_env(nats_url))
    occurred = utc_now() - timedelta(minutes=10)
    try:
        writer = threading.Thread(
            target=first.establish_room,
            kwargs={"actor": CLERK, "occurred_at": occurred, "name": "甲", "level": "town"}
            | {"region": REGION},
        )
        writer.start()
        assert taken.wait(timeout=60)
        second.establish_room(
            actor=CLERK, occurred_at=occurred, name="乙", level="town", region=REGION
        )
        release.set()
        writer.join(timeout=60)
        first.establish_room(
            actor=CLERK, occurred_at=occurred, name="丙", level="town", region=REGION
        )
    finally:
        release.set()
        first.close()
        second.close()
    times = recorded_times(nats_url)
    assert len(times) == 3
    assert goes_back(times)
    audit.verified(tmp_path / "bundle")


def test_a_writer_whose_clock_was_stepped_back_a_few_seconds(
    nats_url: str, audit: Audit, tmp_path: Path
) -> None:
    step = timedelta(0)
    app = HaoshangliangApplication(env=application_env(nats_url), clock=lambda: utc_now() - step)
    occurred = utc_now() - timedelta(minutes=10)
    try:
        app.establish_room(
            actor=CLERK, occurred_at=occurred, name="甲", level="town", region=REGION
        )
        step = timedelta(seconds=5)  # NTP steps the machine's clock back
        app.establish_room(
            actor=CLERK, occurred_at=occurred, name="乙", level="town", region=REGION
        )
    finally:
        app.close()
    assert goes_back(recorded_times(nats_url))
    audit.verified(tmp_path / "bundle")


def test_two_demo_seeds_on_one_log(nats_url: str, audit: Audit, tmp_path: Path) -> None:
    """``hsl demo --seed 2`` after seed 1, as the CLI suggests: the log still verifies, and
    lists the demo's late entries."""
    settings = Settings.from_env({"NATS_URL": nats_url, "HSL_DATA_DIR": str(audit.data_dir)})
    first = run_demo(settings, 1)
    second = run_demo(settings, 2)
    assert second.before == first.total > 0
    live = audit.verified(tmp_path / "bundle")
    assert f"events={first.total + second.total}," in live
    assert "recorded more than 7 days after they occurred" in live


# --- a forged time ----------------------------------------------------------------------------


def test_an_event_published_with_a_recorded_time_a_day_early(
    nats_url: str, audit: Audit, tmp_path: Path
) -> None:
    """Published with nats-py and the service's credentials (the fixture's URL), bypassing
    the application: a well-formed event whose recorded_at is a day before it was stored."""
    app = HaoshangliangApplication(env=application_env(nats_url))
    try:
        app.establish_room(
            actor=CLERK,
            occurred_at=utc_now() - timedelta(days=2),
            name="甲",
            level="town",
            region=REGION,
        )
    finally:
        app.close()
    layout = StreamLayout.for_application("hsl")

    async def forge() -> int:
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            genuine = await js.get_msg(layout.stream, 1)
            payload = json.loads(genuine.data or b"{}")
            early = utc_now() - timedelta(days=1)
            payload["recorded_at"] = early.isoformat().replace("+00:00", "Z")
            subject = layout.event_subject(str(uuid4()))
            headers = {TOPIC: (genuine.headers or {})[TOPIC], ORIGINATOR_VERSION: "1"}
            ack = await js.publish(subject, msgspec.json.encode(payload), headers=headers)
            return ack.seq
        finally:
            await nc.close()

    forged = asyncio.run(forge())
    assert audit.run("audit", "checkpoint", "--once")[0] == 0
    key = audit.run("audit", "key")[1].strip()
    code, out = audit.run("audit", "verify", "--live", "--key", key)
    assert code == 1
    assert f"FAILED backdated: event {forged}: recorded_at" in out
    assert audit.run("audit", "export", "-o", str(tmp_path / "bundle"))[0] == 0
    code, out = audit.run("audit", "verify", str(tmp_path / "bundle"), "--key", key)
    assert code == 1
    assert f"FAILED backdated: event {forged}: recorded_at" in out
