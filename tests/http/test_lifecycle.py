"""A whole closed loop over HTTP, each step by the person whose role the policy allows.

Every event records the caller of its request as its actor (id and role), though no body
names an actor; the outcome's state and history are read back over HTTP.
"""

from __future__ import annotations

from typing import Any

from tests.http.conftest import COUNTY, TOWN, VILLAGE, Api


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


def test_a_whole_lifecycle_over_http_records_each_caller_as_actor(api: Api) -> None:
    before = api.head()
    ids = run_lifecycle(api)
    assert api.head() - before == 40

    state = api.client.get(f"/outcomes/{ids['outcome']}", headers=api.auth("office-1"))
    assert state.status_code == 200, state.text
    assert state.json()["status"] == "closed"
    assert state.json()["implementation"] == "verified"
    assert state.json()["reconsultation_topic_ids"] == [ids["new_topic"]]

    history = api.client.get(f"/outcomes/{ids['outcome']}/history", headers=api.auth("auditor-1"))
    assert history.status_code == 200, history.text
    entries = history.json()["entries"]
    own = [e for e in entries if e["aggregate_id"] == ids["outcome"]]
    assert own[0]["event"] == "outcome.drafted"
    assert own[-1]["event"] == "outcome.closed"
    actors = {(e["event"], e["actor"]["id"], e["actor"]["role"]) for e in entries}
    assert ("outcome.adopted", "village-party", "party_org") in actors
    assert ("outcome.progress_reported", "unit-1", "implementing_unit") in actors
    assert ("topic.approved", "town-upper-party", "upper_party_org") in actors
    assert ("consultation.vote_cast", "r2", "resident_rep") in actors
    assert ("outcome.closed", "clerk-1", "clerk") in actors
