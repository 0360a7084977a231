"""The API under test in the HTTP tests: who calls it, with what scope, and the callers' clock."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from service.application import HaoshangliangApplication
from service.auth.users import Grant, Scope, UserStore
from service.bootstrap import application_env
from service.http.app import create_app
from service.http.services import Services
from service.http.views_reader import ViewsReader

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


@contextmanager
def serving(url: str, base: Path, env: Mapping[str, str] | None = None) -> Iterator[Api]:
    """The API on the log at ``url`` (its data directory ``base``), with a token for each of
    :data:`PEOPLE`; the application on the real clock (see :class:`Clock`)."""
    app = HaoshangliangApplication(env=application_env(url, env))
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
                client=client, app=app, clock=Clock(), users=users, services=services, tokens=tokens
            )
    finally:
        app.close()


def run_lifecycle(api: Api) -> dict[str, str]:
    """Every stage once, over HTTP; returns the ids created."""
    ok = api.ok
    town = ok(
        "clerk-1",
        "/rooms",
        {"name": "柳溪镇协商议事室", "level": "town", "region": {"county": COUNTY, "town": TOWN}},
    )["id"]
    ok(
        "clerk-1",
        f"/rooms/{town}/convener",
        {"convener": {"id": "convener-0", "name": "赵副书记"}, "position": "deputy_secretary"},
    )
    ok("town-party", f"/rooms/{town}/liaison", {"liaison": {"id": "liaison-1", "name": "钱联络员"}})
    ok("clerk-1", f"/rooms/{town}/plans", {"year": 2024, "planned_consultations": 3})
    village = ok(
        "clerk-1",
        "/rooms",
        {
            "name": "河下村协商议事室",
            "level": "village",
            "region": {"county": COUNTY, "town": TOWN, "locality": VILLAGE},
            "parent_room_id": town,
        },
    )["id"]
    ok(
        "members-group",
        f"/rooms/{village}/members",
        {
            "member": {"id": "member-1", "name": "王委员"},
            "member_level": "county",
            "members_group": "柳溪镇政协委员履职小组",
        },
    )
    topic = ok(
        "member-1", f"/rooms/{village}/topics", {"title": "灌溉水渠修缮", "source": "member"}
    )["id"]
    ok("village-party", f"/topics/{topic}/escalate", {"upper_org": "柳溪镇党委"})
    ok("town-upper-party", f"/topics/{topic}/approve", {"approving_org": "柳溪镇党委"})
    ok("members-group", f"/topics/{topic}/file", {"filed_with": "town_members_group"})
    consultation = ok(
        "convener-1",
        f"/topics/{topic}/consultation",
        {
            "members": [
                {"id": "convener-1", "name": "李书记"},
                {"id": "member-1", "name": "王委员"},
            ],
            "lead_id": "convener-1",
        },
    )["id"]
    c = f"/consultations/{consultation}"
    ok("convener-1", f"{c}/findings", {"method": "site_visit", "summary": "水渠渗漏 3 处"})
    people: list[dict[str, Any]] = [
        {"id": f"r{i}", "name": f"群众{i}", "role": "resident_rep"} for i in range(4)
    ]
    people += [
        {"id": "member-1", "name": "王委员", "role": "cppcc_member"},
        {"id": "official-1", "name": "孙站长", "role": "official"},
    ]
    ok("convener-1", f"{c}/participants", {"participants": people})
    ok(
        "convener-1",
        f"{c}/schedule",
        {
            "form": "meeting",
            "venue": "field",
            "venue_detail": "东片田头",
            "scheduled_for": "2024-03-10T09:00:00+08:00",
            "host_id": "convener-1",
        },
    )
    ok(
        "convener-1",
        f"{c}/hold",
        {
            "form": "meeting",
            "venue": "field",
            "attendee_ids": ["r0", "r1", "r2", "member-1", "official-1"],
        },
    )
    ok(
        "clerk-1",
        f"{c}/opinions",
        {"speaker_id": "r0", "speaker_role": "resident_rep", "stance": "support", "text": "尽快修"},
    )
    motion = ok("convener-1", f"{c}/motions", {"text": "分两段修缮"})["result"]
    for voter, choice in (("r0", "for"), ("r1", "for"), ("r2", "against")):
        ok(voter, f"{c}/votes", {"motion_id": motion, "voter_id": voter, "choice": choice})
    resolved = ok("convener-1", f"{c}/motion-results", {"motion_id": motion})
    assert resolved["result"] == "defeated"
    ok("convener-1", f"{c}/consensus", {"summary": "先修上游一段"})
    dissent = ok("clerk-1", f"{c}/dissents", {"person_ids": ["r2"], "position": "下游先修"})[
        "result"
    ]
    outcome = ok(
        "convener-1",
        f"{c}/outcomes",
        {"kind": "suggestion", "title": "关于水渠修缮的建议", "text": "先修上游"},
    )["id"]
    o = f"/outcomes/{outcome}"
    ok("convener-1", f"{o}/report", {"recipients": ["party_committee"]})
    ok(
        "village-party",
        f"{o}/adopt",
        {"adopted_as": "livelihood_project", "decided_by": "河下村党支部"},
    )
    ok(
        "clerk-1",
        f"{o}/publicity",
        {"channel": "notice_board", "starts_on": "2024-03-05", "ends_on": "2024-03-12"},
    )
    ok("r3", f"{o}/objections", {"objector_id": "r3", "text": "费用偏高"})
    ok(
        "official-1",
        f"{o}/implementation",
        {"unit": {"id": "unit-1", "name": "镇水利站"}, "deadline": "2024-09-30"},
    )
    ok("unit-1", f"{o}/progress", {"percent": 30})
    ok("supervisor-1", f"{o}/stall", {"cause": "资金未到位"})
    new_topic = ok(
        "convener-1", f"{o}/reconsultation", {"title": "水渠修缮资金筹措", "source": "member"}
    )["result"]
    ok("unit-1", f"{o}/progress", {"percent": 90, "note": "资金已落实"})
    ok("unit-1", f"{o}/completion", {"summary": "已修缮完成"})
    ok("supervisor-1", f"{o}/verification", {"effective": True})
    ok(
        "member-1",
        f"{o}/escalation",
        {"category": "actionable_suggestion", "to_level": "county", "summary": "建议全县推广"},
    )
    ok("clerk-1", f"{o}/feedback", {"channel": "meeting", "summary": "群众会通报"})
    ok(
        "convener-1",
        f"{o}/dissent-explanations",
        {"dissent_id": dissent, "explanation": "下游明年修"},
    )
    ok("clerk-1", f"{o}/close", {"summary": "闭环"})
    return {
        "town": town,
        "village": village,
        "topic": topic,
        "consultation": consultation,
        "outcome": outcome,
        "new_topic": new_topic,
    }


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    return body


PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}
