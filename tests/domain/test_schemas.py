"""The published contract: committed schemas are current, and payloads pass them alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from events.catalogue import UNION_SCHEMA_FILE, check_docs, json_schemas, render_catalogue
from events.codec import EVENT_TYPES
from tests.domain import jsonschema_lite
from tests.domain.jsonschema_lite import FORMATS, KEYWORDS
from tests.domain.scenario import Scenario, full_lifecycle, stored

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "docs" / "schemas"


def _schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return loaded


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
    def test_every_payload_passes_its_own_schema(self, payloads: list[tuple[str, bytes]]) -> None:
        """Decoded with the stdlib json module only, each payload validates by its tag."""
        for topic, state in payloads:
            data = json.loads(state)
            assert data["type"] == topic
            assert jsonschema_lite.errors(data, _schema(f"{data['type']}.json")) == []

    def test_every_payload_passes_the_union_schema(self, payloads: list[tuple[str, bytes]]) -> None:
        """The union schema accepts any stored payload."""
        union = _schema(UNION_SCHEMA_FILE)
        for _, state in payloads:
            assert jsonschema_lite.errors(json.loads(state), union) == []

    def test_a_tampered_payload_fails(self, payloads: list[tuple[str, bytes]]) -> None:
        """The schema check is real: a wrong role or a naive time is caught, with its path."""
        topic, state = next(p for p in payloads if p[0] == "consultation.participants_confirmed")
        data = json.loads(state)
        data["participants"][1]["role"] = "mayor"
        data["occurred_at"] = "2024-03-01T09:00:00"
        found = jsonschema_lite.errors(data, _schema(f"{topic}.json"))
        assert any(e.startswith("$.participants[1].role") for e in found)
        assert any(e.startswith("$.occurred_at") for e in found)


def _keywords(schema: Any) -> Iterator[tuple[str, Any]]:
    """(keyword, value) of every schema object inside ``schema``, property names excluded."""
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        yield key, value
        if key in ("properties", "$defs"):
            for sub in value.values():
                yield from _keywords(sub)
        elif key == "anyOf":
            for sub in value:
                yield from _keywords(sub)
        elif key == "items":
            yield from _keywords(value)


class TestIndependentReaders:
    def test_the_small_checker_knows_every_keyword_used(self) -> None:
        """jsonschema_lite ignores keywords it does not know: none of ours may be one."""
        used = {
            (key, value if key == "format" else None)
            for name in json_schemas()
            for key, value in _keywords(_schema(name))
        }
        assert {key for key, _ in used} <= KEYWORDS
        assert {value for key, value in used if key == "format"} <= set(FORMATS)

    def test_a_full_json_schema_validator_agrees(self, payloads: list[tuple[str, bytes]]) -> None:
        """jsonschema-rs (formats checked) accepts every payload by its tag and the union."""
        union = jsonschema_rs.validator_for(_schema(UNION_SCHEMA_FILE), validate_formats=True)
        for topic, state in payloads:
            data = json.loads(state)
            own = jsonschema_rs.validator_for(_schema(f"{topic}.json"), validate_formats=True)
            assert [e.message for e in own.iter_errors(data)] == [], topic
            assert union.is_valid(data), topic

    def test_the_full_validator_catches_a_tampered_payload(
        self, payloads: list[tuple[str, bytes]]
    ) -> None:
        """The same tampering the small checker catches, caught by jsonschema-rs too."""
        topic, state = next(p for p in payloads if p[0] == "consultation.participants_confirmed")
        data = json.loads(state)
        data["participants"][1]["role"] = "mayor"
        data["occurred_at"] = "2024-03-01T09:00:00"
        own = jsonschema_rs.validator_for(_schema(f"{topic}.json"), validate_formats=True)
        paths = {tuple(e.instance_path) for e in own.iter_errors(data)}
        assert paths == {("participants", 1, "role"), ("occurred_at",)}
