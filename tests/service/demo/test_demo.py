"""``hsl demo`` into real nats-servers: deterministic, complete, readable without our classes.

One demo (default scale, about 2,400 events) is written in-process into a server of this
module; the other tests read it. A second run of the same seed into a second server must
store the very same events; ``hsl demo`` as a user runs it must print counts that match what
its stream holds.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import socket
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema_rs
import nats
import pytest

from service.bootstrap import open_application
from service.cli.demo import run_demo
from service.demo.plan import END, START
from service.demo.report import ProgressBar, Summary
from service.nats.bundled_server import NatsServerProcess
from service.settings import Settings
from tests.support.paths import REPO_ROOT

SCHEMAS = REPO_ROOT / "docs" / "schemas"
SEED = 20240101

Row = tuple[int, str, int, str, bytes]
"""(notification id, originator id, originator version, topic, state) of a stored event."""


def settings_for(url: str, tmp: Path) -> Settings:
    return Settings.from_env({"NATS_URL": url, "HSL_DATA_DIR": str(tmp / "data")})


def read_log(url: str, tmp: Path) -> list[Row]:
    """Every event in the application's stream, read back through a fresh application."""
    opened = open_application(settings_for(url, tmp))
    try:
        rows: list[Row] = []
        while page := opened.app.recorder.select_notifications(start=len(rows) + 1, limit=5000):
            rows += [
                (n.id, str(n.originator_id), n.originator_version, n.topic, n.state) for n in page
            ]
        return rows
    finally:
        opened.close()


@dataclass(frozen=True)
class DemoRun:
    summary: Summary
    rows: list[Row]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(state) for *_, state in self.rows]


@pytest.fixture(scope="module")
def server_a(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServerProcess]:
    server = NatsServerProcess(store_dir=tmp_path_factory.mktemp("nats-a"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def demo(server_a: NatsServerProcess, tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The seed's demo, written once for the module."""
    tmp = tmp_path_factory.mktemp("demo-a")
    summary = run_demo(settings_for(server_a.url, tmp), SEED)
    return DemoRun(summary, read_log(server_a.url, tmp))


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return loaded


ALL_TAGS = sorted(p.name.removesuffix(".json") for p in SCHEMAS.glob("*.*.json"))
"""Every event type the published contract names (one schema file each)."""


# --- (a) determinism -------------------------------------------------------------------------


def _story(row: Row) -> tuple[int, str, int, str, dict[str, Any]]:
    """A stored event without its time of writing: the part the seed decides."""
    *place, state = row
    payload = json.loads(state)
    del payload["recorded_at"]  # the real clock of the run (replay.record_time)
    return (*place, payload)


def test_same_seed_same_log(demo: DemoRun, tmp_path: Path) -> None:
    """A second run of the seed into a fresh server stores the same events: the same ids,
    aggregates, versions, topics and payloads, every field but the time of writing."""
    with NatsServerProcess(store_dir=tmp_path / "nats-b") as server_b:
        run_demo(settings_for(server_b.url, tmp_path), SEED)
        rows = read_log(server_b.url, tmp_path)
    assert len(rows) == len(demo.rows)
    for mine, theirs in zip(rows, demo.rows, strict=True):
        assert _story(mine) == _story(theirs)
    assert [r[4] for r in rows] != [r[4] for r in demo.rows]  # recorded_at: each run's own


def test_the_summary_matches_the_log(demo: DemoRun) -> None:
    assert demo.summary.total == len(demo.rows) > 2000
    assert demo.summary.counts == Counter(topic for *_, topic, _ in demo.rows)
    assert demo.summary.before == 0
    assert demo.summary.stream == "hsl"


# --- (b) coverage ----------------------------------------------------------------------------


STAGES: dict[str, set[str]] = {
    "topics from the four sources, approved and rejected": {
        "topic.proposed",
        "topic.approved",
        "topic.rejected",
        "topic.approval_escalated",
        "topic.withdrawn",
    },
    "filings": {"topic.filed"},
    "consultations, votes with dissent": {
        "consultation.held",
        "consultation.vote_cast",
        "consultation.motion_resolved",
        "consultation.dissent_recorded",
    },
    "adopted": {"outcome.adopted"},
    "not adopted": {"outcome.not_adopted"},
    "publicised with objections": {"outcome.publicity_published", "outcome.objection_received"},
    "implemented and verified": {
        "outcome.implementation_assigned",
        "outcome.implementation_completed",
        "outcome.implementation_verified",
    },
    "stalled and re-consulted": {"outcome.implementation_stalled", "outcome.reconsultation_opened"},
    "escalated via CPPCC": {"outcome.escalated"},
    "fed back": {"outcome.feedback_delivered", "outcome.dissent_explained"},
    "closed": {"outcome.closed"},
}


def test_every_event_type_and_stage_is_stored(demo: DemoRun) -> None:
    tags = {topic for *_, topic, _ in demo.rows}
    assert sorted(tags) == ALL_TAGS
    for stage, needed in STAGES.items():
        assert needed <= tags, stage


def test_every_source_form_venue_and_decision_occurs(demo: DemoRun) -> None:
    by_type: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in demo.events:
        by_type[event["type"]].append(event)
    proposed = by_type["topic.proposed"]
    assert {e["source"] for e in proposed} == {
        "party_government",
        "member",
        "residents",
        "public_call",
    }
    assert any(e["reconsultation_of"] for e in proposed)
    held = by_type["consultation.held"]
    assert {e["form"] for e in held} == {"written", "meeting", "online"}
    assert {"room", "square", "courtyard", "field", "door_to_door"} <= {e["venue"] for e in held}
    assert {e["choice"] for e in by_type["consultation.vote_cast"]} == {"for", "against", "abstain"}
    assert {e["result"] for e in by_type["consultation.motion_resolved"]} == {"carried", "defeated"}
    assert any(e["by_upper_level"] for e in by_type["topic.approved"])
    assert {e["adopted_as"] for e in by_type["outcome.adopted"]} == {
        "decision",
        "livelihood_project",
        "governance_measure",
        "consensus",
    }
    assert {e["effective"] for e in by_type["outcome.implementation_verified"]} == {True, False}
    assert {e["level"] for e in by_type["room.established"]} == {
        "town",
        "village",
        "community",
        "enterprise",
    }


def test_rule_exceptions_are_in_the_log(demo: DemoRun) -> None:
    """Justified quota shortfalls, a town room with one activity in 2024, a late entry."""
    events = demo.events
    shortfalls = [
        e
        for e in events
        if e["type"] == "consultation.participants_confirmed" and not e["quota_met"]
    ]
    assert shortfalls
    assert all(e["quota_justification"] for e in shortfalls)
    assert all(e["resident_count"] * 3 < e["participant_count"] * 2 for e in shortfalls)

    held: Counter[tuple[str, str]] = Counter(
        (e["room_id"], e["occurred_at"][:4])
        for e in events
        if e["type"] == "consultation.held" and e["room_level"] == "town"
    )
    towns = [
        originator
        for (_, originator, _, topic, _), e in zip(demo.rows, events, strict=True)
        if topic == "room.established" and e["level"] == "town"
    ]
    below = [(room, year) for room in towns for year in ("2024", "2025") if held[(room, year)] < 2]
    assert len(below) == 1
    assert held[below[0]] == 1
    assert below[0][1] == "2024"

    late = [e for e in events if e["backdated"]]
    assert late
    assert any(e["type"] == "consultation.held" for e in late)


def test_some_implementations_are_overdue(demo: DemoRun) -> None:
    """Deadline passed before the demo's end, never completed, never closed."""
    deadline: dict[str, date] = {}
    finished: set[str] = set()
    for (_, originator, _, topic, _), event in zip(demo.rows, demo.events, strict=True):
        if topic == "outcome.implementation_assigned":
            deadline[originator] = date.fromisoformat(event["deadline"])
        elif topic in ("outcome.implementation_completed", "outcome.closed"):
            finished.add(originator)
    overdue = [o for o, d in deadline.items() if d < END.date() and o not in finished]
    assert overdue


DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT")


def _date_times(value: Any) -> Iterator[str]:
    """Every date-time string anywhere in a decoded payload."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _date_times(item)
    elif isinstance(value, list):
        for item in value:
            yield from _date_times(item)
    elif isinstance(value, str) and DATE_TIME.match(value):
        yield value


def test_every_stored_timestamp_is_utc(demo: DemoRun) -> None:
    """The clerks' times carry +08:00; the log stores each one in UTC ('Z'), as documented."""
    found = [t for event in demo.events for t in _date_times(event)]
    assert len(found) > 2 * len(demo.events)  # occurred_at, recorded_at, scheduled_for …
    assert [t for t in found if not t.endswith("Z")] == []


def test_the_two_clocks(demo: DemoRun) -> None:
    """occurred_at is the story's (within its years), recorded_at the real time of writing:
    nothing occurred after it was recorded, and an entry entered weeks after the meeting it
    records still says so in its occurred_at."""
    events = demo.events
    assert all(e["occurred_at"] <= e["recorded_at"] for e in events)
    occurred = [datetime.fromisoformat(e["occurred_at"]) for e in events]
    assert min(occurred) >= START
    assert max(occurred) <= END
    recorded = [datetime.fromisoformat(e["recorded_at"]) for e in events]
    assert min(recorded) > END  # written now, not in the story's years
    assert all(e["backdated"] for e in events)  # entered long after: late entries, listed


# --- (c) the published schemas read every event ----------------------------------------------


def test_every_event_decodes_with_the_published_schemas(demo: DemoRun) -> None:
    """With json and the schema files only: no class of ours is involved. Checked by
    jsonschema-rs (a full validator, formats on), by its own tag and by the union."""
    union = schema("any-event.json")
    per_tag = {tag: schema(f"{tag}.json") for tag in ALL_TAGS}
    full_union = jsonschema_rs.validator_for(union, validate_formats=True)
    full = {
        tag: jsonschema_rs.validator_for(s, validate_formats=True) for tag, s in per_tag.items()
    }
    for (_, _, _, topic, state), event in zip(demo.rows, demo.events, strict=True):
        assert event["type"] == topic
        assert [e.message for e in full[topic].iter_errors(event)] == [], (topic, state)
        assert full_union.is_valid(event), (topic, state)


async def _raw_messages(url: str, stream: str) -> list[tuple[int, bytes]]:
    """(sequence, data) of every message in the stream, read with nats-py alone."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            found.append((seq, msg.data or b""))
        return found
    finally:
        await nc.close()


def test_the_stream_itself_holds_the_plain_json(demo: DemoRun, server_a: NatsServerProcess) -> None:
    """Read from the server with nats-py, not our recorder: each message's data is the event's
    JSON as published, in the log's order, and valid by the union schema."""
    raw = asyncio.run(_raw_messages(server_a.url, demo.summary.stream))
    assert [data for _, data in raw] == [state for *_, state in demo.rows]
    union = jsonschema_rs.validator_for(schema("any-event.json"), validate_formats=True)
    for seq, data in raw:
        assert union.is_valid(json.loads(data)), seq


# --- (d) hsl demo as a user runs it ----------------------------------------------------------


def hsl(*args: str, nats_url: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HSL_LOG_LEVEL"}
    env.update(NATS_URL=nats_url, HSL_DATA_DIR=str(tmp / "data"))
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


COUNT_LINE = re.compile(r"^  (?P<name>[a-z_.]+)\s+(?P<count>[\d,]+)$")


def test_hsl_demo_prints_what_the_stream_holds(
    nats_url: str, tmp_path: Path, demo: DemoRun
) -> None:
    result = hsl("demo", "--seed", str(SEED), "--progress", nats_url=nats_url, tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    # The bar goes to stderr (stdout stays the report); its last state counts every event.
    last = result.stderr.split("\r")[-1]
    assert f"[{'#' * 28}] 100%" in last
    assert f" {len(demo.rows):,} events " in last
    printed: dict[str, int] = {}
    for line in result.stdout.splitlines():
        if match := COUNT_LINE.match(line):
            printed[match["name"]] = int(match["count"].replace(",", ""))
    total = printed.pop("total")
    rows = read_log(nats_url, tmp_path)
    assert printed == Counter(topic for *_, topic, _ in rows)
    assert total == len(rows) == sum(printed.values())
    # another process, another server: the same log but for the time of writing
    assert [_story(row) for row in rows] == [_story(row) for row in demo.rows]
    assert f"NATS      {nats_url} (external, from NATS_URL)" in result.stdout
    assert "stream    hsl" in result.stdout

    again = hsl("demo", "--seed", str(SEED), nats_url=nats_url, tmp=tmp_path)
    assert again.returncode == 1
    assert again.stderr.startswith(f"hsl: error: seed {SEED} is already in the log")
    assert read_log(nats_url, tmp_path) == rows  # nothing written


def hsl_embedded(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """``hsl`` as a user first runs it: no NATS_URL, so the data dir's embedded server."""
    env = {k: v for k, v in os.environ.items() if k not in ("HSL_LOG_LEVEL", "NATS_URL")}
    env.update(HSL_DATA_DIR=str(data_dir))
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


EMBEDDED = re.compile(r"^NATS      (?P<url>\S+) \(embedded, started now, pid (?P<pid>\d+); ")


def test_hsl_demo_fills_the_embedded_log_and_log_stop_ends_it(tmp_path: Path) -> None:
    """From a scratch data dir: the demo starts the embedded server, writes, reports the
    counts; ``hsl log status`` sees them in the stream; ``hsl log stop`` stops the server."""
    data_dir = tmp_path / "data"
    result = hsl_embedded("demo", "--seed", "7", data_dir=data_dir)
    try:
        assert result.returncode == 0, result.stderr
        match = next(m for line in result.stdout.splitlines() if (m := EMBEDDED.match(line)))
        total = next(
            int(m["count"].replace(",", ""))
            for line in result.stdout.splitlines()
            if (m := COUNT_LINE.match(line)) and m["name"] == "total"
        )
        assert total > 2000
        status = hsl_embedded("log", "status", data_dir=data_dir)
        assert status.returncode == 0, status.stderr
        assert f"embedded, reused, pid {match['pid']}" in status.stdout
        row = next(
            line.split() for line in status.stdout.splitlines() if line.strip().startswith("hsl ")
        )
        assert int(row[1]) == total
    finally:
        stop = hsl_embedded("log", "stop", data_dir=data_dir)
    assert stop.returncode == 0, stop.stderr
    assert stop.stdout.startswith(f"stopped the embedded nats-server (pid {match['pid']}, ")
    where = urlsplit(match["url"])
    assert where.hostname is not None
    assert where.port is not None
    with socket.socket() as sock:
        assert sock.connect_ex((where.hostname, where.port)) != 0  # nobody listens there now


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"nats://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--seed", "abc"), "hsl: error: --seed must be an integer, not 'abc'"),
        (("--seed", "-1"), "hsl: error: --seed must be between 0 and"),
        (("--scale", "0"), "hsl: error: --scale must be between 1 and"),
        ((), "hsl: error: cannot connect to NATS at nats://127.0.0.1:"),
    ],
)
def test_user_errors_are_one_line(args: tuple[str, ...], message: str, tmp_path: Path) -> None:
    result = hsl("demo", *args, nats_url=closed_port_url(), tmp=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1, result.stderr


def test_progress_bar_draws_its_first_line_soon_after_boot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first update draws even when the monotonic clock is below the interval."""
    monkeypatch.setattr("service.demo.report.time.monotonic", lambda: 5.0)
    out = io.StringIO()
    bar = ProgressBar(enabled=True, stream=out, width=10, interval=3600)
    bar.update(START, lambda: 7)
    assert "7 events" in out.getvalue()


def test_progress_bar_draws_on_its_stream_only_when_enabled() -> None:
    """One self-rewriting line: date, share of the timeline, events; a newline at the end."""
    out = io.StringIO()
    bar = ProgressBar(enabled=True, stream=out, width=10, interval=3600)
    middle = START + (END - START) / 2
    bar.update(middle, lambda: 1234)
    bar.update(END, lambda: 9999)  # within the interval: not redrawn
    bar.update(END, lambda: 2468, force=True)
    bar.close()
    lines = out.getvalue().split("\r")[1:]
    assert len(lines) == 2
    assert lines[0].startswith(f"{middle:%Y-%m-%d} [#####.....]  50%       1,234 events")
    assert lines[1].startswith(f"{END:%Y-%m-%d} [##########] 100%       2,468 events")
    assert lines[1].endswith("\n")

    quiet = io.StringIO()
    off = ProgressBar(enabled=False, stream=quiet)
    off.update(END, lambda: 1, force=True)
    off.close()
    assert quiet.getvalue() == ""
