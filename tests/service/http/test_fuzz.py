"""A bounded schemathesis run over the OpenAPI document: no 500, and no refused request writes.

Every operation gets a few generated requests (bounded examples, no deadline) from a caller
holding every role everywhere, so requests get past the policy to body validation and the
domain. Path ids are random, so most targeted commands answer 404; ``establish_room`` and the
reads take generated input all the way. Any 5xx fails; any 4xx must leave the log as it was.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from projections.rebuild import rebuild
from service.auth.users import EVENT_ROLES, USER_ROLES, Grant, Scope
from service.http.openapi import document
from tests.support.http_api import Api

SCHEMA = schemathesis.openapi.from_dict(document())
EXAMPLES = 8


@pytest.fixture(scope="module")
def everyone(api: Api) -> dict[str, str]:
    rebuild(api.app.recorder, api.app.name, api.services.views.path)
    roles = [r for r in USER_ROLES if r in EVENT_ROLES]
    grants = [Grant(role=role, scope=Scope()) for role in roles]  # type: ignore[arg-type]
    _, token = api.users.add("fuzz", "fuzz", grants)
    return {"Authorization": f"Bearer {token}"}


@SCHEMA.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_500_and_refusals_write_nothing(case: Any, api: Api, everyone: dict[str, str]) -> None:
    kwargs = case.as_transport_kwargs(base_url="", headers=everyone)
    # Header values as bytes: generated ones may hold any character (a client may send any
    # byte), which httpx refuses to encode from str.
    headers = {k: v.encode() if isinstance(v, str) else v for k, v in kwargs["headers"].items()}
    before = api.head()
    response = api.client.request(
        kwargs["method"],
        kwargs["url"],
        headers=headers,
        params=kwargs.get("params"),
        json=kwargs.get("json"),
        content=kwargs.get("data") if isinstance(kwargs.get("data"), bytes | str) else None,
    )
    assert response.status_code < 500, (kwargs, response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert api.head() == before, (kwargs, response.text)
