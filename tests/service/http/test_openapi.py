"""docs/openapi.json is the document the API serves, and it is current."""

from __future__ import annotations

import json

from service.http.command_routes import COMMAND_ROUTES
from service.http.openapi import DEFAULT_PATH, document, render
from tests.support.http_api import Api


def test_docs_openapi_json_is_current() -> None:
    assert DEFAULT_PATH.read_text(encoding="utf-8") == render(), (
        "docs/openapi.json is stale: run `python -m service.http.openapi`"
    )


def test_the_served_document_is_the_written_one(api: Api) -> None:
    served = api.client.get("/schema/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(render())


def test_every_command_is_a_post_with_its_request_body() -> None:
    paths = document()["paths"]
    for route in COMMAND_ROUTES:
        operation = paths[route.path.replace("{id:uuid}", "{id}")]["post"]
        assert operation["operationId"] == route.name
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith(route.body.__name__)
        assert "actor" not in document()["components"]["schemas"][route.body.__name__]["properties"]
