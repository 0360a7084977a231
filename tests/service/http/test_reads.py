"""The reads from the DuckDB views once a projector has written them, and /readyz then."""

from __future__ import annotations

import pytest

from projections.rebuild import rebuild
from tests.support.http_api import Api, run_lifecycle


@pytest.fixture(scope="module")
def world(api: Api) -> dict[str, str]:
    ids = run_lifecycle(api)
    rebuild(api.app.recorder, api.app.name, api.services.views.path)
    return ids


def test_rooms_topics_outcomes(api: Api, world: dict[str, str]) -> None:
    auth = api.auth("office-1")
    rooms = api.client.get("/rooms", params={"town": "柳溪镇"}, headers=auth).json()
    assert {r["room_id"] for r in rooms} == {world["town"], world["village"]}
    room = api.client.get(f"/rooms/{world['village']}", headers=auth).json()
    assert [m["member_id"] for m in room["members"]] == ["member-1"]
    topics = api.client.get("/topics", params={"room_id": world["village"]}, headers=auth).json()
    assert {t["topic_id"] for t in topics} == {world["topic"], world["new_topic"]}
    topic = api.client.get(f"/topics/{world['topic']}", headers=auth).json()
    assert topic["status"] == "filed"
    outcomes = api.client.get("/outcomes", params={"room_id": world["village"]}, headers=auth)
    assert [o["outcome_id"] for o in outcomes.json()] == [world["outcome"]]


def test_analytics_as_json_and_csv(api: Api, world: dict[str, str]) -> None:
    auth = api.auth("office-1")
    names = api.client.get("/analytics", headers=auth).json()
    assert "coverage_by_town" in names
    rows = api.client.get("/analytics/coverage_by_town", headers=auth).json()
    assert rows[0]["town"] == "柳溪镇"
    csv = api.client.get("/analytics/coverage_by_town", params={"format": "csv"}, headers=auth)
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.startswith("\ufeffcounty,town")
    for name in names:
        response = api.client.get(f"/analytics/{name}", headers=auth)
        assert response.status_code == 200, (name, response.text)


def test_ready_with_views(api: Api, world: dict[str, str]) -> None:
    ready = api.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    metrics = api.client.get("/metrics").text
    assert "hsl_projection_lag_events 0" in metrics
