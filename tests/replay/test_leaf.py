"""Canonical leaf bytes of stored events: what the Merkle tree and the export are made of."""

from __future__ import annotations

import json

import pytest

from events.jetstream.recorders import JetStreamApplicationRecorder
from replay.leaf import LeafError, leaf_bytes, parse_leaf
from tests.support.chain import Chain
from tests.support.jetstream_scenario import JetStreamScenario


def test_leaves_bind_sequence_subject_version_time_and_event(nats_url: str) -> None:
    s = JetStreamScenario(nats_url)
    try:
        Chain(s)
        recorder = s.app.recorder
        assert isinstance(recorder, JetStreamApplicationRecorder)
        stored = recorder.stored_range(1, 1000)
        notifications = recorder.select_notifications(start=1, limit=1000)
    finally:
        s.app.close()
    assert [m.seq for m in stored] == [n.id for n in notifications]
    previous = None
    for message, notification in zip(stored, notifications, strict=True):
        line = leaf_bytes(message)
        document = json.loads(line)
        assert list(document) == ["seq", "subject", "version", "stored_at", "event"]
        assert document["seq"] == notification.id
        assert document["subject"] == recorder.layout.event_subject(notification.originator_id)
        assert document["version"] == notification.originator_version
        assert line.endswith(b',"event":' + notification.state + b"}")
        leaf = parse_leaf(line, f"event {notification.id}")
        assert leaf.seq == notification.id
        assert leaf.event_type == document["event"]["type"]
        if previous is not None:
            assert leaf.recorded_at >= previous
        previous = leaf.recorded_at


def test_a_line_out_of_canonical_form_is_named(nats_url: str) -> None:
    s = JetStreamScenario(nats_url)
    try:
        s.town_room()
        recorder = s.app.recorder
        assert isinstance(recorder, JetStreamApplicationRecorder)
        line = leaf_bytes(recorder.stored_range(1, 1)[0])
    finally:
        s.app.close()
    spaced = line.replace(b'"seq":1,', b'"seq": 1,')
    with pytest.raises(LeafError, match="line 1: event 1 is not in canonical form"):
        parse_leaf(spaced, "line 1")
    with pytest.raises(LeafError, match="line 1: not a canonical event line"):
        parse_leaf(line[:-1], "line 1")
