"""docs/asyncapi.yaml: current with the integration event's Struct, and a coherent AsyncAPI 3."""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec
import pytest

from service.feed import asyncapi
from service.feed.integration import STATUSES, OutcomeStatusChanged, check_filter, subject_for


def test_the_document_is_current() -> None:
    """Fails when the Struct changed: run `python -m service.feed.asyncapi --write ...`."""
    assert asyncapi.DOCUMENT_PATH.read_text(encoding="utf-8") == asyncapi.render()
    assert asyncapi.main(["--check", str(asyncapi.DOCUMENT_PATH)]) == 0


def test_the_yaml_reads_back_as_the_document() -> None:
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(asyncapi.render()) == asyncapi.document()


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_every_reference_resolves_and_the_channel_matches_the_subjects() -> None:
    doc = asyncapi.document()
    assert doc["asyncapi"] == "3.0.0"
    for ref in _refs(doc):
        node: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
    channel = doc["channels"]["outcomeStatus"]
    assert set(re.findall(r"{(\w+)}", channel["address"])) == set(channel["parameters"])
    assert channel["parameters"]["status"]["enum"] == list(STATUSES)
    room = channel["parameters"]["roomId"]["examples"][0]
    subject = channel["address"].format(status="adopted", roomId=room)
    assert check_filter(subject) == subject
    payload = doc["components"]["schemas"]["OutcomeStatusChanged"]
    assert set(payload["properties"]) == {"type", *OutcomeStatusChanged.__struct_fields__}


def test_subject_tokens_are_safe() -> None:
    for status in STATUSES:
        subject = subject_for(status, uuid.uuid4())
        assert not re.search(r"[\s*>]", subject)
        assert len(subject.split(".")) == 5
    assert msgspec.json.schema(OutcomeStatusChanged)
