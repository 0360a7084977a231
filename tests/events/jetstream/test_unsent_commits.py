"""A commit given up as "result unknown" is never sent later, when the connection returns.

nats-py keeps what is published while it reconnects and sends it once reconnected, however
late; a retry of the same request (with its Idempotency-Key) may meanwhile have stored it
anew. So the recorder sends no commit while disconnected, and drops what the client still
holds when it gives a commit up.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import Environment

from events.jetstream import commits, operations
from events.jetstream.factory import JetStreamFactory
from events.jetstream.operations import OutgoingMessage, discard_unsent
from events.jetstream.recorders import JetStreamApplicationRecorder
from events.jetstream.write_errors import NotStoredError
from tests.support.ack_dropping_proxy import AckDroppingProxy


@pytest.fixture
def proxy(nats_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AckDroppingProxy]:
    monkeypatch.setattr(operations, "REQUEST_TIMEOUT", 0.5)
    monkeypatch.setattr(commits, "UNAVAILABLE_WAIT", 1.0)
    made = AckDroppingProxy(nats_url)
    yield made
    made.close()


def _recorder(url: str, made: list[JetStreamFactory]) -> JetStreamApplicationRecorder:
    factory = JetStreamFactory(Environment(name="Log", env={"NATS_URL": url}))
    made.append(factory)
    recorder = factory.application_recorder()
    assert isinstance(recorder, JetStreamApplicationRecorder)
    return recorder


def _event(originator_id: uuid.UUID, version: int) -> StoredEvent:
    return StoredEvent(
        originator_id=originator_id, originator_version=version, topic="t", state=b"{}"
    )


def _wait(condition: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_a_commit_while_disconnected_is_not_sent_and_not_stored_later(
    nats_url: str, proxy: AckDroppingProxy
) -> None:
    made: list[JetStreamFactory] = []
    try:
        recorder = _recorder(proxy.url, made)
        direct = _recorder(nats_url, made)
        recorder.insert_events([_event(uuid.uuid4(), 1)])
        proxy.cut()
        client = recorder.bridge.client
        _wait(lambda: not client.is_connected)
        with pytest.raises(NotStoredError):  # never sent: nothing stored, and it says so
            recorder.insert_events([_event(uuid.uuid4(), 1)])
        proxy.heal()
        _wait(lambda: client.is_connected)
        recorder.insert_events([_event(uuid.uuid4(), 1)])  # the connection works again
        assert direct.max_notification_id() == 2  # the refused commit never arrived
    finally:
        for factory in made:
            factory.close()


def test_discard_unsent_drops_what_the_client_holds_for_after_a_reconnect(
    nats_url: str, proxy: AckDroppingProxy
) -> None:
    made: list[JetStreamFactory] = []
    try:
        recorder = _recorder(proxy.url, made)
        direct = _recorder(nats_url, made)
        recorder.insert_events([_event(uuid.uuid4(), 1)])
        proxy.cut()
        client = recorder.bridge.client
        _wait(lambda: not client.is_connected)
        held = OutgoingMessage(
            f"hsl.Log.events.{uuid.uuid4()}", {"Hsl-Originator-Version": "1"}, b"{}"
        )
        recorder.bridge.run(client.publish(held.subject, held.payload, headers=held.headers))
        assert client.pending_data_size > 0  # held, to be sent on reconnect
        discard_unsent(client)
        assert client.pending_data_size == 0
        proxy.heal()
        _wait(lambda: client.is_connected)
        recorder.insert_events([_event(uuid.uuid4(), 1)])
        assert direct.max_notification_id() == 2
    finally:
        for factory in made:
            factory.close()
