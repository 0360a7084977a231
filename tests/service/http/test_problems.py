"""Errors as RFC 9457 problems: 401/403/404/409/422 mapped, named, in Chinese; nothing written."""

from __future__ import annotations

import uuid

import pytest

from service.auth.users import Grant, Scope
from tests.support.http_api import COUNTY, TOWN, VILLAGE, Api, problem


@pytest.fixture(scope="module")
def rooms(api: Api) -> dict[str, str]:
    town = api.ok(
        "clerk-1",
        "/rooms",
        {"name": "柳溪镇协商议事室", "level": "town", "region": {"county": COUNTY, "town": TOWN}},
    )["id"]
    village = api.ok(
        "clerk-1",
        "/rooms",
        {
            "name": "河下村协商议事室",
            "level": "village",
            "region": {"county": COUNTY, "town": TOWN, "locality": VILLAGE},
            "parent_room_id": town,
        },
    )["id"]
    topic = api.ok(
        "clerk-1", f"/rooms/{town}/topics", {"title": "停车难", "source": "public_call"}
    )["id"]
    return {"town": town, "village": village, "topic": topic}


def test_a_rule_violation_is_409_naming_the_rule(api: Api, rooms: dict[str, str]) -> None:
    """Rule 1: no consultation on a topic its party organisation has not approved."""
    before = api.head()
    response = api.post(
        "convener-1",
        f"/topics/{rooms['topic']}/consultation",
        {"members": [{"id": "convener-1", "name": "李书记"}], "lead_id": "convener-1"},
    )
    body = problem(response, 409)
    assert body["type"] == "urn:hsl:problem:rule-1"
    assert body["rule_number"] == 1
    assert body["rule"] == "§二.1, §四.3"
    assert body["title"] == "议题未经同级党组织审定"
    assert "审定" in body["detail"]
    assert api.head() == before


def test_rule_8_a_village_room_without_a_county_member(api: Api, rooms: dict[str, str]) -> None:
    before = api.head()
    response = api.post(
        "r3", f"/rooms/{rooms['village']}/topics", {"title": "路灯", "source": "residents"}
    )
    body = problem(response, 409)
    assert body["rule_number"] == 8
    assert api.head() == before


def test_a_bad_field_is_422_naming_the_field(api: Api, rooms: dict[str, str]) -> None:
    before = api.head()
    response = api.post("clerk-1", f"/rooms/{rooms['town']}/plans", {"year": "二〇二四"})
    body = problem(response, 422)
    assert body["type"] == "urn:hsl:problem:validation"
    assert body["field"] == "year"
    assert body["title"] == "填写内容有误"
    response = api.post(
        "clerk-1",
        "/rooms",
        {"name": "x", "level": "city", "region": {"county": COUNTY, "town": TOWN}},
    )
    assert problem(response, 422)["field"] == "level"
    response = api.post(
        "clerk-1",
        "/rooms",
        {"name": "x", "level": "town", "region": {"county": "", "town": TOWN}},
    )
    assert problem(response, 422)["field"] == "region.county"
    assert api.head() == before


def test_a_domain_validation_error_names_its_field(api: Api, rooms: dict[str, str]) -> None:
    """A naive ``occurred_at`` passes the schema's shape but not the domain: 422, named."""
    before = api.head()
    response = api.client.post(
        f"/rooms/{rooms['town']}/plans",
        json={"occurred_at": "2024-03-01T08:00:00", "year": 2024, "planned_consultations": 2},
        headers=api.auth("clerk-1"),
    )
    assert problem(response, 422)["field"] == "occurred_at"
    assert api.head() == before


def test_bad_json_is_422(api: Api, rooms: dict[str, str]) -> None:
    before = api.head()
    response = api.client.post(
        f"/rooms/{rooms['town']}/plans",
        content=b'{"year": 2024,',
        headers={**api.auth("clerk-1"), "content-type": "application/json"},
    )
    assert problem(response, 422)["type"] == "urn:hsl:problem:validation"
    assert api.head() == before


def test_an_unknown_id_is_404(api: Api) -> None:
    before = api.head()
    unknown = uuid.uuid4()
    response = api.post("village-party", f"/topics/{unknown}/approve", {"approving_org": "党支部"})
    body = problem(response, 404)
    assert body["type"] == "urn:hsl:problem:not-found"
    assert str(unknown) in body["detail"]
    problem(api.client.get(f"/outcomes/{unknown}", headers=api.auth("office-1")), 404)
    problem(api.client.get(f"/outcomes/{unknown}/history", headers=api.auth("auditor-1")), 404)
    problem(api.client.get("/no/such/route", headers=api.auth("office-1")), 404)
    assert api.head() == before


def test_an_id_of_another_kind_is_404(api: Api, rooms: dict[str, str]) -> None:
    response = api.post("village-party", f"/topics/{rooms['town']}/approve", {"approving_org": "x"})
    problem(response, 404)


def test_no_token_or_a_wrong_token_is_401(api: Api, rooms: dict[str, str]) -> None:
    before = api.head()
    body = {"occurred_at": api.clock.tick(), "year": 2024, "planned_consultations": 2}
    path = f"/rooms/{rooms['town']}/plans"
    response = api.client.post(path, json=body)
    assert problem(response, 401)["type"] == "urn:hsl:problem:unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")
    problem(api.client.post(path, json=body, headers={"Authorization": "Bearer hsl_nope"}), 401)
    problem(api.client.get("/rooms", headers={"Authorization": "Basic abc"}), 401)
    assert api.head() == before


def test_a_revoked_token_stops_working(api: Api, rooms: dict[str, str]) -> None:
    _, token = api.users.add("temp-clerk", "临时", [Grant(role="clerk", scope=Scope())])
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/rooms/{rooms['town']}/plans"
    body = {"occurred_at": api.clock.tick(), "year": 2025, "planned_consultations": 2}
    assert api.client.post(path, json=body, headers=headers).status_code == 200
    api.users.revoke("temp-clerk")
    before = api.head()
    body["occurred_at"] = api.clock.tick()
    problem(api.client.post(path, json=body, headers=headers), 401)
    assert api.head() == before


def test_the_office_and_auditors_read(api: Api, rooms: dict[str, str]) -> None:
    for person in ("office-1", "auditor-1"):
        response = api.client.get(f"/topics/{rooms['topic']}/history", headers=api.auth(person))
        assert response.status_code == 200, response.text
        assert response.json()["entries"][0]["event"] == "topic.proposed"


def test_views_missing_is_503_not_500(api: Api) -> None:
    body = problem(api.client.get("/rooms", headers=api.auth("office-1")), 503)
    assert "hsl project" in body["detail"]
    problem(api.client.get("/analytics/nope", headers=api.auth("office-1")), 404)


def test_operations(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 503  # no views file yet
    assert ready.json()["nats"] == "ok"
    metrics = api.client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'hsl_commands_total{command="establish_room",result="ok"}' in text
    assert 'hsl_commands_total{command="file_annual_plan",result="refused"}' in text
    assert "hsl_errors_total{" in text
    assert "hsl_log_last_sequence " in text
