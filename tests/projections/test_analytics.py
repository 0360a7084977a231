"""The office's analytics views, checked against numbers computed here from the events.

The demo county is written into a real nats-server and rebuilt into DuckDB; every view is
then compared with what this module counts itself, in Python, from the stored notifications
(decoded as plain JSON, per the seed's rules as docs/analytics.md defines them), never by
running the views' SQL again. A small hand-built scenario checks exact numbers one can work
out on paper from ``tests.support.scenario``.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import structlog

from events.common import CHINA_STANDARD_TIME
from events.room import Region
from projections.analytics import VIEWS
from projections.analytics_headers import ANALYTICS_HEADERS
from projections.rebuild import rebuild
from projections.runner import Projector
from projections.schema import create_schema
from service.bootstrap import open_application
from service.cli.demo import run_demo
from service.cli.main import main
from service.nats.bundled_server import NatsServerProcess
from service.settings import Settings
from tests.support.paths import REPO_ROOT
from tests.support.scenario import CLERK, Scenario, full_lifecycle

SEED = 4242
AS_OF_DATES = (date(2024, 9, 30), date(2025, 6, 30), date(2025, 12, 31), date(2026, 3, 1))

# --- the log, decoded by hand ------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    seq: int
    aggregate: str
    type: str
    body: dict[str, Any]

    @property
    def at(self) -> datetime:
        """occurred_at as naive UTC, the form the views hold."""
        return utc(self.body["occurred_at"])

    @property
    def year(self) -> int:
        """The calendar year in China (UTC+8) of occurred_at: the seed's years are China's."""
        return (self.at + timedelta(hours=8)).year

    @property
    def actor(self) -> dict[str, str]:
        actor: dict[str, str] = self.body["actor"]
        return actor


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None)


@dataclass
class Outcome:
    """One outcome's history as the events tell it."""

    room: str
    seq: int = 0
    reported: datetime | None = None
    adopted: datetime | None = None
    needs_implementation: bool | None = None
    not_adopted: bool = False
    publicised: bool = False
    deadline: date | None = None
    unit: str | None = None
    completed: datetime | None = None
    verified_effective: bool | None = None
    stalled_at: datetime | None = None
    stalled: bool = False
    fed_back: bool = False
    closed: bool = False


@dataclass
class Log:
    """What the analytics need, tallied straight from the events."""

    events: list[Event]
    rooms: dict[str, dict[str, Any]] = field(default_factory=dict)
    room_seq: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    plans: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    links: list[tuple[str, str, int, str, str, int]] = field(default_factory=list)
    topics: dict[str, dict[str, Any]] = field(default_factory=dict)
    consultations: dict[str, dict[str, Any]] = field(default_factory=dict)
    opinions: list[Event] = field(default_factory=list)
    member_acts: list[Event] = field(default_factory=list)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    last_seq: dict[str, int] = field(default_factory=dict)

    def place(self, room_id: str) -> tuple[str, str]:
        room = self.rooms[room_id]
        return room["county"], room["town"]


def tally(events: list[Event]) -> Log:  # noqa: PLR0912 - one branch per event type, in order
    log = Log(events)
    for e in events:
        b = e.body
        log.last_seq[e.aggregate] = e.seq
        if e.actor["role"] == "cppcc_member":
            log.member_acts.append(e)
        match e.type:
            case "room.established":
                log.rooms[e.aggregate] = {
                    "level": b["level"],
                    "name": b["name"],
                    "county": b["region"]["county"],
                    "town": b["region"]["town"],
                    "year": e.year,
                }
            case "room.annual_plan_filed":
                log.plans[(e.aggregate, b["year"])] = (b["planned_consultations"], e.seq)
            case "room.member_linked":
                member = b["member"]
                log.links.append(
                    (member["id"], e.aggregate, e.year, member["name"], b["member_level"], e.seq)
                )
            case "topic.proposed":
                log.topics[e.aggregate] = {
                    "room": b["room_id"],
                    "source": b["source"],
                    "year": e.year,
                    "reconsultation": b.get("reconsultation_of") is not None,
                    "outcomes": set(),
                }
            case "topic.approved" | "topic.rejected" | "topic.withdrawn":
                log.topics[e.aggregate][e.type] = True
            case "consultation.research_group_formed":
                log.consultations[e.aggregate] = {"room": b["room_id"], "topic": b["topic_id"]}
            case "consultation.participants_confirmed":
                c = log.consultations[e.aggregate]
                c["participants"] = b["participants"]  # the latest list replaces earlier ones
                c["confirmed"] = e
                c["justification"] = b.get("quota_justification", "")
                c["quota_met_recorded"] = b["quota_met"]
            case "consultation.held":
                c = log.consultations[e.aggregate]
                c["held"] = e
                c["attendees"] = b["attendee_ids"]
                assert c["room"] == b["room_id"]
            case "consultation.opinion_recorded":
                log.opinions.append(e)
            case t if t.startswith("outcome."):
                outcome(log, e)
    for room_id in log.rooms:
        log.room_seq[room_id] = {e.seq for e in events if e.aggregate == room_id}
    return log


def outcome(log: Log, e: Event) -> None:
    b = e.body
    if e.type == "outcome.drafted":
        log.outcomes[e.aggregate] = Outcome(room=b["room_id"])
    o = log.outcomes[e.aggregate]
    o.seq = e.seq
    match e.type:
        case "outcome.reported":
            o.reported = e.at
        case "outcome.adopted":
            o.adopted = e.at
            o.needs_implementation = b["needs_implementation"]
        case "outcome.not_adopted":
            o.not_adopted = True
        case "outcome.publicity_published":
            o.publicised = True
        case "outcome.implementation_assigned":
            o.deadline = date.fromisoformat(b["deadline"])
            o.unit = b["unit"]["id"]
        case "outcome.implementation_completed":
            o.completed = e.at
            o.stalled = False
        case "outcome.implementation_verified":
            o.verified_effective = b["effective"]
        case "outcome.implementation_stalled":
            o.stalled, o.stalled_at = True, e.at
        case "outcome.feedback_delivered":
            o.fed_back = True
        case "outcome.closed":
            o.closed = True


def loop_complete(o: Outcome) -> bool:
    """docs/analytics.md: adopted, fed back, closed, and implemented + verified if needed."""
    done = o.completed is not None and o.verified_effective is True
    return (
        o.adopted is not None
        and o.fed_back
        and o.closed
        and (o.needs_implementation is False or done)
    )


def quantile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (type 7), written out."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def days(a: datetime, b: datetime) -> float:
    return (b - a) / timedelta(days=1)


# --- fixtures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    log: Log
    path: Path

    def query(self, sql: str) -> list[dict[str, Any]]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            cursor = con.execute(sql)
            names = [d[0] for d in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The demo county at scale 1 in a real nats-server, its log read back and rebuilt."""
    root = tmp_path_factory.mktemp("analytics")
    with NatsServerProcess(store_dir=root / "nats") as server:
        settings = Settings.from_env({"NATS_URL": server.url, "HSL_DATA_DIR": str(root / "d")})
        run_demo(settings, SEED)
        opened = open_application(settings)
        try:
            notifications = opened.app.recorder.select_notifications(start=1, limit=1_000_000)
            events = [
                Event(n.id, str(n.originator_id), n.topic, json.loads(n.state))
                for n in notifications
            ]
            path = root / "projections.duckdb"
            rebuild(opened.app.recorder, opened.app.name, path)
        finally:
            opened.close()
    assert all(e.type == e.body["type"] for e in events)
    return Built(tally(events), path)


# --- the demo, view by view ----------------------------------------------------------------


def test_every_view_exists_with_its_headers(demo: Built) -> None:
    """Each view of ANALYTICS_HEADERS has exactly the columns the headers name."""
    with duckdb.connect(str(demo.path), read_only=True) as con:
        for view in VIEWS:
            columns = [d[0] for d in con.execute(f"SELECT * FROM {view} LIMIT 0").description]
            assert columns == list(ANALYTICS_HEADERS[view]), view
        kinds = dict(
            con.execute(
                "SELECT table_name, table_type FROM information_schema.tables "
                "WHERE table_schema = 'main'"
            ).fetchall()
        )
    assert all(kinds[view] == "VIEW" for view in VIEWS)
    assert len(VIEWS) == len(set(VIEWS)) >= 14


def test_coverage(demo: Built) -> None:
    log = demo.log
    by_town: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    ids: dict[tuple[str, str], list[str]] = defaultdict(list)
    for room_id, room in log.rooms.items():
        by_town[(room["county"], room["town"])][room["level"]] += 1
        ids[(room["county"], room["town"])].append(room_id)
    rows = demo.query("SELECT * FROM coverage_by_town")
    assert len(rows) == len(by_town) >= 4
    for row in rows:
        levels = by_town[(row["county"], row["town"])]
        assert row["town_rooms"] == levels["town"]
        assert row["has_town_room"] == (levels["town"] > 0)
        assert row["village_rooms"] == levels["village"]
        assert row["community_rooms"] == levels["community"]
        assert row["enterprise_rooms"] == levels["enterprise"]
        assert row["rooms"] == levels.total()
        assert row["room_ids"] == sorted(ids[(row["county"], row["town"])])
        # each seq is an event of one of the rooms counted, one per room
        assert len(row["seqs"]) == row["rooms"]
        assert all(any(s in log.room_seq[r] for r in row["room_ids"]) for s in row["seqs"])
    counties = {county for county, _ in by_town}
    county_rows = demo.query("SELECT * FROM coverage_by_county")
    assert {r["county"] for r in county_rows} == counties
    for row in county_rows:
        towns = [k for k in by_town if k[0] == row["county"]]
        covered = [k for k in towns if by_town[k]["town"] > 0]
        assert row["towns"] == len(towns)
        assert row["towns_with_town_room"] == len(covered)
        assert row["coverage"] == pytest.approx(len(covered) / len(towns))
        assert row["towns_without_town_room"] == sorted(t for _, t in set(towns) - set(covered))
        rooms = sum(by_town[k].total() for k in towns)
        assert row["rooms"] == rooms
        assert row["rooms_per_town"] == pytest.approx(rooms / len(towns))


def test_consultations_per_room_per_year(demo: Built) -> None:
    """§四.1: town rooms two a year; the demo has exactly one town-year below it."""
    log = demo.log
    held: dict[tuple[str, int], list[Event]] = defaultdict(list)
    for c in log.consultations.values():
        if "held" in c:
            held[(c["room"], c["held"].year)].append(c["held"])
    last = max(
        [y for _, y in held] + [y for _, y in log.plans] + [r["year"] for r in log.rooms.values()]
    )
    expected_keys = {
        (room_id, year) for room_id, r in log.rooms.items() for year in range(r["year"], last + 1)
    } | set(log.plans)
    rows = demo.query("SELECT * FROM room_year_consultations")
    assert {(r["room_id"], r["year"]) for r in rows} == expected_keys
    assert len(rows) == len(expected_keys)
    below = []
    for row in rows:
        key = (row["room_id"], row["year"])
        events = held.get(key, [])
        town = log.rooms[row["room_id"]]["level"] == "town"
        assert row["consultations_held"] == len(events)
        assert row["seqs"] == sorted(e.seq for e in events)
        assert sorted(row["consultation_ids"]) == sorted(e.aggregate for e in events)
        assert row["required"] == (2 if town else None)
        assert row["meets_rule"] == ((len(events) >= 2) if town else None)
        planned = log.plans.get(key)
        assert row["planned_consultations"] == (planned[0] if planned else None)
        assert row["plan_seq"] == (planned[1] if planned else None)
        assert row["meets_plan"] == (len(events) >= planned[0] if planned else None)
        if row["meets_rule"] is False:
            below.append(key)
    assert len(below) == 1  # the demo's deliberate exception (a town with one in 2024)


def test_two_thirds_quota(demo: Built) -> None:
    """§四.4: resident representatives ≥ 2/3 in principle; a shortfall is justified or not."""
    log = demo.log
    confirmed = {cid: c for cid, c in log.consultations.items() if "participants" in c}
    rows = {r["consultation_id"]: r for r in demo.query("SELECT * FROM consultation_quota")}
    assert set(rows) == set(confirmed)
    shortfalls = 0
    for cid, c in confirmed.items():
        row = rows[cid]
        roles = Counter(p["role"] for p in c["participants"])
        total = len(c["participants"])
        meets = roles["resident_rep"] / total >= 2 / 3 - 1e-12
        assert row["participants"] == total
        assert row["resident_reps"] == roles["resident_rep"]
        assert row["cppcc_members"] == roles["cppcc_member"]
        assert row["officials"] == roles["official"]
        assert row["party_reps"] == roles["party_rep"]
        assert row["npc_deputies"] == roles["npc_deputy"]
        assert row["notables"] == roles["notable"]
        assert row["experts"] == roles["expert"]
        assert sum(roles.values()) == total
        assert row["resident_share"] == pytest.approx(roles["resident_rep"] / total)
        assert row["meets_quota"] == meets == c["quota_met_recorded"]
        assert row["justified"] == (None if meets else bool(c["justification"]))
        assert row["justification"] == (c["justification"] or None)
        assert row["seq"] == c["confirmed"].seq
        assert row["room_id"] == c["room"]
        assert row["topic_id"] == c["topic"]
        shortfalls += not meets
    assert shortfalls >= 1


def funnel_counts(outcomes: list[Outcome]) -> dict[str, Any]:
    adopted = sum(o.adopted is not None for o in outcomes)
    complete = sum(loop_complete(o) for o in outcomes)
    return {
        "drafted": len(outcomes),
        "reported": sum(o.reported is not None for o in outcomes),
        "adopted": adopted,
        "not_adopted": sum(o.not_adopted for o in outcomes),
        "publicised": sum(o.publicised for o in outcomes),
        "implementing": sum(o.deadline is not None for o in outcomes),
        "implemented": sum(o.completed is not None for o in outcomes),
        "verified": sum(o.verified_effective is True for o in outcomes),
        "fed_back": sum(o.fed_back for o in outcomes),
        "closed": sum(o.closed for o in outcomes),
        "loop_complete": complete,
        "completion_rate": complete / adopted if adopted else None,
    }


def test_closed_loop_funnel(demo: Built) -> None:
    """§四.6 采纳、落实、反馈: per town and per county, each stage reached, and the rate."""
    log = demo.log
    by_town: dict[tuple[str, str], list[str]] = defaultdict(list)
    for outcome_id, o in log.outcomes.items():
        by_town[log.place(o.room)].append(outcome_id)
    rows = demo.query("SELECT * FROM closed_loop_funnel_by_town")
    assert {(r["county"], r["town"]) for r in rows} == set(by_town)
    for row in rows:
        ids = by_town[(row["county"], row["town"])]
        expected = funnel_counts([log.outcomes[i] for i in ids])
        for column, value in expected.items():
            assert row[column] == pytest.approx(value), column
        assert sorted(row["outcome_ids"]) == sorted(ids)
        assert sorted(row["seqs"]) == sorted(log.last_seq[i] for i in ids)
    county_rows = demo.query("SELECT * FROM closed_loop_funnel_by_county")
    everything = funnel_counts(list(log.outcomes.values()))
    assert len(county_rows) == 1  # the demo writes one county
    for column, value in everything.items():
        assert county_rows[0][column] == pytest.approx(value), column
    # the demo shows every stage and both sides of the rate
    assert 0 < everything["loop_complete"] < everything["adopted"] < everything["drafted"]
    per_outcome = demo.query("SELECT outcome_id, loop_complete, seq FROM outcome_loop")
    assert {r["outcome_id"]: r["loop_complete"] for r in per_outcome} == {
        i: loop_complete(o) for i, o in log.outcomes.items()
    }


@pytest.mark.parametrize("as_of", AS_OF_DATES)
def test_overdue_and_stalled(demo: Built, as_of: date) -> None:
    """Deadline passed, not reported done, not closed; stalled and not completed since."""
    log = demo.log
    overdue = {
        i: o
        for i, o in log.outcomes.items()
        if o.deadline is not None and o.deadline < as_of and o.completed is None and not o.closed
    }
    rows = demo.query(f"SELECT * FROM overdue_implementations_as_of(DATE '{as_of}')")
    assert {r["outcome_id"] for r in rows} == set(overdue)
    for row in rows:
        o = overdue[row["outcome_id"]]
        assert o.deadline is not None
        assert row["days_overdue"] == (as_of - o.deadline).days
        assert row["deadline"] == o.deadline
        assert row["implementing_unit_id"] == o.unit
        assert (row["county"], row["town"]) == log.place(o.room)
        assert row["seq"] == log.last_seq[row["outcome_id"]]
    stalled = {
        i: o
        for i, o in log.outcomes.items()
        if o.stalled and o.stalled_at is not None and o.stalled_at.date() <= as_of
    }
    rows = demo.query(f"SELECT * FROM stalled_implementations_as_of(DATE '{as_of}')")
    assert {r["outcome_id"] for r in rows} == set(stalled)
    for row in rows:
        o = stalled[row["outcome_id"]]
        assert o.stalled_at is not None
        assert row["days_stalled"] == (as_of - o.stalled_at.date()).days
        assert row["room_id"] == o.room
        late = None if row["outcome_id"] not in overdue or o.deadline is None else o.deadline
        assert row["days_overdue"] == (None if late is None else (as_of - late).days)
        assert row["seq"] == log.last_seq[row["outcome_id"]]


def test_overdue_and_stalled_today_are_the_macros_at_today_in_china(demo: Built) -> None:
    today = datetime.now(CHINA_STANDARD_TIME).date()
    overdue = {
        i
        for i, o in demo.log.outcomes.items()
        if o.deadline is not None and o.deadline < today and o.completed is None and not o.closed
    }
    assert overdue  # the demo ends in 2025 with work never finished
    assert {r["outcome_id"] for r in demo.query("SELECT * FROM overdue_implementations")} == overdue
    stalled = {i for i, o in demo.log.outcomes.items() if o.stalled}
    assert {r["outcome_id"] for r in demo.query("SELECT * FROM stalled_implementations")} == stalled


def test_topic_sources(demo: Built) -> None:
    """§四.3: 点题、荐题、出题、公开征集, per town and per county per year."""
    log = demo.log
    by_town: dict[tuple[str, str, int, str], list[str]] = defaultdict(list)
    for topic_id, t in log.topics.items():
        county, town = log.place(t["room"])
        by_town[(county, town, t["year"], t["source"])].append(topic_id)

    def check(row: dict[str, Any], ids: list[str]) -> None:
        topics = [log.topics[i] for i in ids]
        assert row["topics"] == len(ids)
        assert row["approved"] == sum("topic.approved" in t for t in topics)
        assert row["rejected"] == sum("topic.rejected" in t for t in topics)
        assert row["withdrawn"] == sum("topic.withdrawn" in t for t in topics)
        assert row["reconsultations"] == sum(t["reconsultation"] for t in topics)
        assert sorted(row["topic_ids"]) == sorted(ids)
        assert sorted(row["seqs"]) == sorted(log.last_seq[i] for i in ids)

    rows = demo.query("SELECT * FROM topic_sources_by_town")
    assert {(r["county"], r["town"], r["year"], r["source"]) for r in rows} == set(by_town)
    for row in rows:
        check(row, by_town[(row["county"], row["town"], row["year"], row["source"])])
    by_county: dict[tuple[str, int, str], list[str]] = defaultdict(list)
    for (county, _, year, source), ids in by_town.items():
        by_county[(county, year, source)] += ids
    rows = demo.query("SELECT * FROM topic_sources_by_county")
    assert {(r["county"], r["year"], r["source"]) for r in rows} == set(by_county)
    for row in rows:
        check(row, by_county[(row["county"], row["year"], row["source"])])
    assert {r["source"] for r in rows} == {"party_government", "member", "residents", "public_call"}


def test_durations(demo: Built) -> None:
    """Report → adoption and adoption → implementation: median and p90, per county and all."""
    log = demo.log
    timed = {i: o for i, o in log.outcomes.items() if o.adopted and o.reported}
    detail = {r["outcome_id"]: r for r in demo.query("SELECT * FROM outcome_durations")}
    assert set(detail) == set(timed)
    for i, o in timed.items():
        assert o.adopted is not None
        assert o.reported is not None
        assert detail[i]["report_to_adoption_days"] == pytest.approx(days(o.reported, o.adopted))
        expected = None if o.completed is None else days(o.adopted, o.completed)
        assert detail[i]["adoption_to_implementation_days"] == pytest.approx(expected)

    def expected_for(ids: list[str]) -> dict[str, Any]:
        chosen = [timed[i] for i in ids]
        first = [days(o.reported, o.adopted) for o in chosen if o.reported and o.adopted]
        second = [days(o.adopted, o.completed) for o in chosen if o.adopted and o.completed]
        return {
            "adopted": len(first),
            "report_to_adoption_median_days": quantile(first, 0.5),
            "report_to_adoption_p90_days": quantile(first, 0.9),
            "implemented": len(second),
            "adoption_to_implementation_median_days": quantile(second, 0.5),
            "adoption_to_implementation_p90_days": quantile(second, 0.9),
        }

    rows = demo.query("SELECT * FROM loop_durations ORDER BY scope DESC")
    counties = sorted({log.place(o.room)[0] for o in timed.values()})
    assert [(r["scope"], r["county"]) for r in rows] == [
        *[("county", c) for c in counties],
        ("all", None),
    ]
    for row in rows:
        ids = [i for i, o in timed.items() if row["county"] in (None, log.place(o.room)[0])]
        for column, value in expected_for(ids).items():
            assert row[column] == pytest.approx(value), column
        assert sorted(row["outcome_ids"]) == sorted(ids)
        assert sorted(row["seqs"]) == sorted(log.last_seq[i] for i in ids)
    assert rows[-1]["implemented"] > 5


def member_expectations(log: Log) -> dict[tuple[str, int], dict[str, Any]]:
    """Per member per year: what §五.3's evaluation counts, from the events."""
    acts: list[tuple[str, int, str, str, int]] = []  # member, year, kind, ref, seq
    for cid, c in log.consultations.items():
        members = [p["id"] for p in c.get("participants", []) if p["role"] == "cppcc_member"]
        for m in members:
            year = c["held"].year if "held" in c else c["confirmed"].year
            acts.append((m, year, "confirmed", cid, c["confirmed"].seq))
            if "held" in c and m in c["attendees"]:
                acts.append((m, c["held"].year, "attended", cid, c["held"].seq))
    for e in log.opinions:
        if e.body["speaker_role"] == "cppcc_member":
            acts.append((e.body["speaker_id"], e.year, "opinion", e.aggregate, e.seq))
    for e in log.member_acts:
        acts.append((e.actor["id"], e.year, e.type, e.aggregate, e.seq))
    first: dict[str, int] = {}
    for member, _, year, *_ in log.links:
        first[member] = min(first.get(member, year), year)
    for member, year, *_ in acts:
        first[member] = min(first.get(member, year), year)
    years = {a[1] for a in acts} | {link[2] for link in log.links}
    years |= {c["held"].year for c in log.consultations.values() if "held" in c}
    expected: dict[tuple[str, int], dict[str, Any]] = {}
    for member, start in first.items():
        for year in sorted(y for y in years if y >= start):
            mine = [a for a in acts if a[0] == member and a[1] == year]
            kinds = Counter(a[2] for a in mine)
            expected[(member, year)] = {
                "rooms_linked": len(
                    {link[1] for link in log.links if link[0] == member and link[2] <= year}
                ),
                "consultations_confirmed": len({a[3] for a in mine if a[2] == "confirmed"}),
                "consultations_attended": len({a[3] for a in mine if a[2] == "attended"}),
                "opinions_voiced": kinds["opinion"],
                "topics_recommended": kinds["topic.proposed"],
                "votes": kinds["consultation.vote_cast"],
                "escalations": kinds["outcome.escalated"],
                "acts_as_member": sum(n for k, n in kinds.items() if "." in k),
                "attended_consultation_ids": sorted({a[3] for a in mine if a[2] == "attended"}),
                "recommended_topic_ids": sorted({a[3] for a in mine if a[2] == "topic.proposed"}),
                "seqs": sorted({a[4] for a in mine}),
            }
    return expected


def test_member_participation(demo: Built) -> None:
    """§五.3: members' participation per year, for the annual evaluation."""
    log = demo.log
    expected = member_expectations(log)
    rows = demo.query("SELECT * FROM member_participation")
    assert {(r["member_id"], r["year"]) for r in rows} == set(expected)
    assert len(rows) == len(expected)
    names = {link[0]: link[3] for link in reversed(log.links)}
    for row in rows:
        want = expected[(row["member_id"], row["year"])]
        got = {k: row[k] for k in want}
        assert got == want, (row["member_id"], row["year"])
        if row["member_id"] in names:
            assert row["member_name"] == names[row["member_id"]]
    totals = Counter[str]()
    for want in expected.values():
        totals.update({k: v for k, v in want.items() if isinstance(v, int)})
    # the demo's members do all of it: take part, speak, recommend topics, vote, escalate
    for column in (
        "consultations_attended",
        "opinions_voiced",
        "topics_recommended",
        "votes",
        "escalations",
    ):
        assert totals[column] > 0, column


# --- a scenario small enough to count on paper ---------------------------------------------


def test_hand_built_scenario_exact_numbers(tmp_path: Path) -> None:
    """full_lifecycle, one more adopted-and-assigned outcome, and a town with no town room.

    Worked out from tests/support/scenario.py: two town rooms (full_lifecycle's and the one
    ``s.assigned()`` sets up) and a village room in 淮城镇,
    a village room alone in 钦工镇; three outcomes (one through the whole loop, one declined,
    one assigned with deadline 2024-12-31 and never done); every step one hour apart.
    """
    s = Scenario()
    full_lifecycle(s)
    s.assigned()
    s.app.establish_room(
        actor=CLERK,
        occurred_at=s.at(),
        name="钦工村协商议事室",
        level="village",
        region=Region(county="淮安区", town="钦工镇", locality="钦工村"),
    )
    con = duckdb.connect(str(tmp_path / "v.duckdb"))
    try:
        Projector(con, s.app.recorder, s.app.name).catch_up(batch_size=5)
        q = con.execute

        coverage = q(
            "SELECT towns, towns_with_town_room, coverage, towns_without_town_room, rooms, "
            "town_rooms, village_rooms, rooms_per_town FROM coverage_by_county"
        ).fetchall()
        assert coverage == [(2, 1, 0.5, ["钦工镇"], 4, 2, 2, 2.0)]

        years = q(
            "SELECT room_level, year, consultations_held, meets_rule, planned_consultations, "
            "meets_plan FROM room_year_consultations ORDER BY room_level, consultations_held, "
            "planned_consultations NULLS LAST"
        ).fetchall()
        assert years == [
            ("town", 2024, 1, False, 2, False),  # full_lifecycle's: one held, two planned
            ("town", 2024, 1, False, None, None),  # s.assigned()'s own room
            ("village", 2024, 0, None, None, None),
            ("village", 2024, 0, None, None, None),
        ]

        quota = q(
            "SELECT participants, resident_reps, cppcc_members, officials, experts, "
            "resident_share, meets_quota, justified FROM consultation_quota"
        ).fetchall()
        assert quota == [(9, 6, 1, 1, 1, 6 / 9, True, None)] * 2  # exactly two thirds: met

        funnel = q(
            "SELECT drafted, reported, adopted, not_adopted, publicised, implementing, "
            "implemented, verified, fed_back, closed, loop_complete, completion_rate "
            "FROM closed_loop_funnel_by_county"
        ).fetchall()
        assert funnel == [(3, 3, 2, 1, 2, 2, 1, 1, 2, 2, 1, 0.5)]

        overdue = q(
            "SELECT deadline, days_overdue, implementing_unit_name "
            "FROM overdue_implementations_as_of(DATE '2025-01-10')"
        ).fetchall()
        assert overdue == [(date(2024, 12, 31), 10, "镇建设局")]
        assert q("SELECT * FROM overdue_implementations_as_of('2024-12-31')").fetchall() == []
        assert q("SELECT * FROM stalled_implementations").fetchall() == []  # completed since

        sources = q(
            "SELECT source, topics, approved, rejected, withdrawn, reconsultations "
            "FROM topic_sources_by_county ORDER BY source"
        ).fetchall()
        assert sources == [("member", 1, 0, 0, 0, 1), ("residents", 5, 3, 1, 1, 0)]

        hour, eight_hours = 1 / 24, 8 / 24
        durations = q(
            "SELECT scope, adopted, report_to_adoption_median_days, report_to_adoption_p90_days, "
            "implemented, adoption_to_implementation_median_days "
            "FROM loop_durations ORDER BY scope"
        ).fetchall()
        assert durations == [
            ("all", 2, pytest.approx(hour), pytest.approx(hour), 1, pytest.approx(eight_hours)),
            ("county", 2, pytest.approx(hour), pytest.approx(hour), 1, pytest.approx(eight_hours)),
        ]

        members = q(
            "SELECT member_id, year, rooms_linked, consultations_confirmed, "
            "consultations_attended, opinions_voiced, topics_recommended, votes, escalations "
            "FROM member_participation ORDER BY member_id"
        ).fetchall()
        assert members == [
            ("member-1", 2024, 1, 0, 0, 0, 0, 0, 0),  # linked to the village room only
            ("member-2", 2024, 1, 0, 0, 0, 0, 0, 0),  # city member linked to the town room
            ("other-0", 2024, 0, 2, 2, 0, 0, 0, 0),  # the cppcc_member of both consultations
        ]
    finally:
        con.close()


def test_views_are_created_with_the_schema_and_survive_a_restart() -> None:
    """create_schema makes them; running it again (a restarted projector) keeps them."""
    con = duckdb.connect(":memory:")
    create_schema(con)
    create_schema(con)
    found = {
        name
        for (name,) in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
    }
    assert set(VIEWS) <= found
    macros = {
        name
        for (name,) in con.execute(
            "SELECT function_name FROM duckdb_functions() WHERE function_type = 'table_macro'"
        ).fetchall()
    }
    assert {"overdue_implementations_as_of", "stalled_implementations_as_of"} <= macros


DOCS = REPO_ROOT / "docs" / "analytics.md"
EXAMPLE = re.compile(r'^hsl query "(?P<sql>[^"]+)"', re.MULTILINE)


def test_the_documented_office_questions_run(
    demo: Built, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every `hsl query "…"` of docs/analytics.md's office questions answers on the demo."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("### Office questions") :]
    examples = [" ".join(m["sql"].split()) for m in EXAMPLE.finditer(section)]
    assert len(examples) >= 3
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.setenv("HSL_DATA_DIR", str(demo.path.parent))
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        for sql in examples:
            assert main(["query", sql, "--format", "json"]) == 0, sql
            answer = json.loads(capsys.readouterr().out)
            assert isinstance(answer, list), sql
            if "meets_rule = false" in sql:  # the demo's one town-year below two (§四.1)
                assert len(answer) == 1
                room = next(r for r in demo.log.rooms.values() if r["town"] == answer[0]["town"])
                assert room["level"] == "town"
    finally:
        root.handlers, root.level = handlers, level
        structlog.reset_defaults()
