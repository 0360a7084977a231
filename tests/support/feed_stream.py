"""Shared pieces of the feed tests: a JetStream scenario and reading the public stream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar
from uuid import UUID, uuid4

import nats
import nats.errors
from nats.aio.client import Client

from events import codec
from events.jetstream.operations import StoredMessage, read_range
from events.jetstream.stream_layout import TOPIC, StreamLayout, decode_header_text
from service.feed.integration import ALL_SUBJECTS, OutcomeStatusChanged, Status, decode
from service.feed.stream import public_stream
from service.feed.transitions import FeedState

STREAM = "hsl"
T = TypeVar("T")


def with_client(url: str, work: Callable[[Client], Awaitable[T]]) -> T:
    """Run ``work`` with a fresh connection to ``url``, closed afterwards."""

    async def run() -> T:
        nc = await nats.connect(url)
        try:
            return await work(nc)
        finally:
            await nc.close()

    return asyncio.run(run())


async def public_messages(nc: Client, stream: str = STREAM) -> list[StoredMessage]:
    """Everything in the public stream, in order (nothing while it does not exist)."""
    found: list[StoredMessage] = []
    try:
        async for page in read_range(nc, public_stream(stream), ALL_SUBJECTS):
            found += page
    except Exception:
        return found
    return found


async def public_changes(nc: Client, stream: str = STREAM) -> list[OutcomeStatusChanged]:
    return [decode(m.payload) for m in await public_messages(nc, stream)]


async def reference_changes(nc: Client, now: datetime) -> list[OutcomeStatusChanged]:
    """What the feed must hold: the transitions over the whole log, then the wall clock once."""
    layout = StreamLayout(STREAM)
    state, changes = FeedState(), []
    seq = 0
    async for page in read_range(nc, STREAM, layout.events_filter):
        for message in page:
            seq = message.seq
            event = codec.decode(message.payload)
            if decode_header_text(message.headers[TOPIC]).startswith("outcome."):
                oid = layout.originator_id_of(message.subject)
                assert isinstance(oid, UUID)
                change = state.apply(seq, oid, event)
                changes += [change] if change else []
            state.advance(event.recorded_at)
            changes += state.overdue(state.clock, seq, state.clock)
    return changes + state.overdue(now, seq, now)


def status_change(
    room: UUID, previous: Status, status: Status, at: datetime
) -> OutcomeStatusChanged:
    """One outcome's change of status in ``room``, as the feed publishes it."""
    return OutcomeStatusChanged(
        outcome_id=uuid4(),
        room_id=room,
        topic_id=uuid4(),
        status=status,
        previous_status=previous,
        source_sequence=1,
        source_type=f"outcome.{status}",
        occurred_at=at,
        recorded_at=at,
    )
