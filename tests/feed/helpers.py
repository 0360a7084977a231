"""Shared pieces of the feed tests: a JetStream scenario and reading the public stream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats
from nats.aio.client import Client

from events.jetstream.operations import StoredMessage, read_range
from service.application import HaoshangliangApplication
from service.bootstrap import application_env
from service.feed.integration import ALL_SUBJECTS, OutcomeStatusChanged, decode
from service.feed.stream import public_stream
from tests.domain.scenario import FakeClock, Scenario

STREAM = "hsl"
T = TypeVar("T")


class JetStreamScenario(Scenario):
    """The domain tests' scenario, on the JetStream log instead of the in-memory store."""

    def __init__(self, url: str) -> None:
        self.clock = FakeClock()
        self.app = HaoshangliangApplication(env=application_env(url), clock=self.clock)


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
