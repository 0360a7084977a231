"""Fixtures of the replay tests: a chain of consultation events on a real JetStream log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.chain import Chain
from tests.support.jetstream_scenario import JetStreamScenario


@pytest.fixture
def chain(nats_url: str) -> Iterator[tuple[JetStreamScenario, Chain]]:
    """A scenario on the log at ``nats_url`` holding one :class:`Chain`."""
    s = JetStreamScenario(nats_url)
    try:
        yield s, Chain(s)
    finally:
        s.app.close()
