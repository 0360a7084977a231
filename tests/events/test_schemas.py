"""The published contract: committed schemas are current, and payloads pass them alone."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest

from events.catalogue import UNION_SCHEMA_FILE, check_docs, json_schemas, render_catalogue
from events.codec import EVENT_TYPES
from tests.support.paths import REPO_ROOT
from tests.support.scenario import Scenario, full_lifecycle, stored

ROOT = REPO_ROOT
SCHEMAS = ROOT / "docs" / "schemas"


def _schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return loaded


def _validator(name: str) -> jsonschema_rs.Validator:
    """A full JSON Schema validator (jsonschema-rs, formats checked) for one published file."""
    return jsonschema_rs.validator_for(_schema(name), validate_formats=True)


@pytest.fixture(scope="module")
def payloads() -> list[tuple[str, bytes]]:
    """(topic, state) of every event a full run of the procedure stores."""
    s = Scenario()
    full_lifecycle(s)
    return [(row[3], row[4]) for row in stored(s.app)]


class TestCommittedDocs:
    def test_schemas_and_catalogue_are_current(self) -> None:
        """docs/schemas/*.json and docs/events.md equal what the Structs generate now."""
        assert check_docs(SCHEMAS, ROOT / "docs" / "events.md") == []

    def test_every_field_of_the_catalogue_says_what_it_means(self) -> None:
        """Each field row of docs/events.md has its meaning (a Meta description)."""
        rows = [line for line in render_catalogue().splitlines() if line.startswith("| `")]
        assert len(rows) > 100
        assert [row for row in rows if row.endswith("|  |")] == []

    def test_one_schema_per_event_plus_the_union(self) -> None:
        """Every tag has its schema file; no stale file for a removed event lingers."""
        expected = {f"{tag}.json" for tag in EVENT_TYPES} | {UNION_SCHEMA_FILE}
        assert set(json_schemas()) == expected
        assert {p.name for p in SCHEMAS.glob("*.json")} == expected


class TestPayloadsAgainstSchemas:
    """With the stdlib json module and jsonschema-rs only: no class of ours reads the payloads."""

    def test_every_payload_passes_its_own_schema(self, payloads: list[tuple[str, bytes]]) -> None:
        """Decoded with the stdlib json module only, each payload validates by its tag."""
        for topic, state in payloads:
            data = json.loads(state)
            assert data["type"] == topic
            own = _validator(f"{data['type']}.json")
            assert [e.message for e in own.iter_errors(data)] == [], topic

    def test_every_payload_passes_the_union_schema(self, payloads: list[tuple[str, bytes]]) -> None:
        """The union schema accepts any stored payload."""
        union = _validator(UNION_SCHEMA_FILE)
        for topic, state in payloads:
            assert [e.message for e in union.iter_errors(json.loads(state))] == [], topic

    def test_a_tampered_payload_fails(self, payloads: list[tuple[str, bytes]]) -> None:
        """The schema check is real: a wrong role or a naive time is caught, with its path."""
        topic, state = next(p for p in payloads if p[0] == "consultation.participants_confirmed")
        data = json.loads(state)
        data["participants"][1]["role"] = "mayor"
        data["occurred_at"] = "2024-03-01T09:00:00"
        paths = {tuple(e.instance_path) for e in _validator(f"{topic}.json").iter_errors(data)}
        assert paths == {("participants", 1, "role"), ("occurred_at",)}
