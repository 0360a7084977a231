"""Every role × command pair over HTTP, allowed or refused as ``service.auth.policy`` says.

One world is set up once (a whole lifecycle); then each pair posts an empty body to a real
target in the caller's scope. The policy is checked before the body is read, so an allowed
pair gets past it (422: the empty body is refused next) and a refused pair gets 403, and
neither writes anything. Scope, own-assignment and own-name checks follow.
"""

from __future__ import annotations

from typing import Any

import pytest

from service.application import HaoshangliangApplication
from service.auth.policy import POLICY
from service.auth.users import USER_ROLES, Grant
from service.http.command_routes import BY_NAME, COMMAND_ROUTES
from tests.support.http_api import VILLAGE_SCOPE, Api, run_lifecycle


@pytest.fixture(scope="module")
def world(api: Api) -> dict[str, str]:
    ids = run_lifecycle(api)
    for role in USER_ROLES:
        person = f"as-{role}"
        _, token = api.users.add(person, person, [Grant(role=role, scope=VILLAGE_SCOPE)])  # type: ignore[arg-type]
        api.tokens[person] = token
    return ids


def path_for(name: str, ids: dict[str, str]) -> str:
    route = BY_NAME[name]
    target = {"room": ids["village"], "topic": ids["topic"]}.get(route.target or "", "")
    target = target or {"consultation": ids["consultation"], "outcome": ids["outcome"]}.get(
        route.target or "", ""
    )
    return route.path.replace("{id:uuid}", target)


def person_for(role: str) -> str:
    # The implementing unit the world's outcome is assigned to acts as itself.
    return "unit-1" if role == "implementing_unit" else f"as-{role}"


@pytest.mark.parametrize("role", USER_ROLES)
@pytest.mark.parametrize("command", [route.name for route in COMMAND_ROUTES])
def test_role_command_pair(api: Api, world: dict[str, str], role: str, command: str) -> None:
    before = api.head()
    response = api.client.post(
        path_for(command, world), json={}, headers=api.auth(person_for(role))
    )
    if role in POLICY[command]:
        assert response.status_code == 422, response.text
    else:
        assert response.status_code == 403, response.text
        problem = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        assert problem["type"] == "urn:hsl:problem:forbidden"
        assert problem["title"] == "无权办理"
    assert api.head() == before


def test_every_application_command_has_a_route_and_a_policy_row() -> None:
    commands = {
        name
        for cls in HaoshangliangApplication.__mro__
        if cls.__module__.startswith("service.commands.") and cls.__name__ != "CommandsBase"
        for name, value in vars(cls).items()
        if callable(value) and not name.startswith("_")
    }
    assert commands == set(BY_NAME) == set(POLICY)


def test_office_and_auditor_write_nothing() -> None:
    assert not any({"office", "auditor"} & roles for roles in POLICY.values())


def _post(api: Api, person: str, path: str, body: dict[str, Any]) -> Any:
    return api.post(person, path, body)


def test_a_party_committee_acts_on_its_own_rooms_only(api: Api, world: dict[str, str]) -> None:
    """The town party committee (exact town scope) may not adopt the village's outcome."""
    before = api.head()
    response = _post(
        api,
        "town-party",
        f"/outcomes/{world['outcome']}/adopt",
        {"adopted_as": "decision", "decided_by": "柳溪镇党委"},
    )
    assert response.status_code == 403, response.text
    assert "辖区" in response.json()["detail"]
    assert api.head() == before


def test_a_clerk_of_another_town_is_refused(api: Api, world: dict[str, str]) -> None:
    before = api.head()
    response = _post(
        api,
        "other-clerk",
        f"/rooms/{world['village']}/plans",
        {"year": 2025, "planned_consultations": 2},
    )
    assert response.status_code == 403, response.text
    assert api.head() == before


def test_an_implementing_unit_reports_only_on_its_own_assignments(
    api: Api, world: dict[str, str]
) -> None:
    before = api.head()
    response = _post(api, "unit-2", f"/outcomes/{world['outcome']}/progress", {"percent": 50})
    assert response.status_code == 403, response.text
    assert "交办" in response.json()["detail"]
    assert api.head() == before


def test_a_participant_votes_only_in_their_own_name(api: Api, world: dict[str, str]) -> None:
    before = api.head()
    response = _post(
        api,
        "r0",
        f"/consultations/{world['consultation']}/votes",
        {"motion_id": world["outcome"], "voter_id": "r1", "choice": "for"},
    )
    assert response.status_code == 403, response.text
    assert response.json()["detail"].startswith("只能以本人名义办理")
    assert api.head() == before


def test_a_body_cannot_name_the_actor(api: Api, world: dict[str, str]) -> None:
    before = api.head()
    response = _post(
        api,
        "clerk-1",
        f"/rooms/{world['town']}/plans",
        {
            "year": 2026,
            "planned_consultations": 2,
            "actor": {"id": "town-party", "role": "party_org"},
        },
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "actor"
    assert api.head() == before


def test_a_resident_proposes_as_residents(api: Api, world: dict[str, str]) -> None:
    before = api.head()
    response = _post(
        api, "r3", f"/rooms/{world['village']}/topics", {"title": "路灯", "source": "member"}
    )
    assert response.status_code == 403, response.text
    assert "residents" in response.json()["detail"]
    assert api.head() == before
    response = _post(
        api, "r3", f"/rooms/{world['village']}/topics", {"title": "路灯", "source": "residents"}
    )
    assert response.status_code == 201, response.text
