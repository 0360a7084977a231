"""The publisher on a real JetStream log: the expected changes, in order, each exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, cast
from uuid import UUID

import nats.errors
import pytest
from nats.aio.client import Client

from events.jetstream.operations import PubAck
from service.feed.integration import OutcomeStatusChanged, subject_of
from service.feed.publisher import FeedPublisher, catch_up
from service.feed.stream import SOURCE_SEQUENCE, public_stream, public_stream_config
from tests.support.feed_stream import STREAM, public_changes, public_messages, with_client
from tests.support.jetstream_scenario import JetStreamScenario
from tests.support.scenario import PARTY, full_lifecycle

Row = tuple[str, str | None, str]
"""(status, previous status, source type) of one change."""

MAIN: list[Row] = [
    ("drafted", None, "outcome.drafted"),
    ("reported", "drafted", "outcome.reported"),
    ("adopted", "reported", "outcome.adopted"),
    ("publicised", "adopted", "outcome.publicity_published"),
    ("implementing", "publicised", "outcome.implementation_assigned"),
    ("stalled", "implementing", "outcome.implementation_stalled"),
    ("reconsulted", "stalled", "outcome.reconsultation_opened"),
    ("implementing", "reconsulted", "outcome.progress_reported"),
    ("implemented", "implementing", "outcome.implementation_completed"),
    ("verified", "implemented", "outcome.implementation_verified"),
    ("fed_back", "verified", "outcome.feedback_delivered"),
    ("escalated", "fed_back", "outcome.escalated"),
    ("closed", "escalated", "outcome.closed"),
]
DECLINED: list[Row] = [
    ("drafted", None, "outcome.drafted"),
    ("reported", "drafted", "outcome.reported"),
    ("not_adopted", "reported", "outcome.not_adopted"),
    ("fed_back", "not_adopted", "outcome.feedback_delivered"),
    ("closed", "fed_back", "outcome.closed"),
]


@pytest.fixture
def lifecycle(nats_url: str) -> Iterator[JetStreamScenario]:
    """A log holding every kind of event: two outcomes, one closed after implementation."""
    s = JetStreamScenario(nats_url)
    try:
        full_lifecycle(s)
        yield s
    finally:
        s.app.close()


def _rows(changes: list[OutcomeStatusChanged], outcome: UUID) -> list[Row]:
    return [
        (c.status, c.previous_status, c.source_type) for c in changes if c.outcome_id == outcome
    ]


def _published(url: str) -> list[OutcomeStatusChanged]:
    return with_client(url, public_changes)


def test_a_lifecycle_publishes_its_status_changes_in_order(
    lifecycle: JetStreamScenario, nats_url: str
) -> None:
    stored = with_client(nats_url, lambda nc: catch_up(nc, STREAM, clock=None))
    messages = with_client(nats_url, public_messages)
    changes = _published(nats_url)
    assert stored == len(changes) == len(MAIN) + len(DECLINED)
    outcomes = list(dict.fromkeys(c.outcome_id for c in changes))
    assert len(outcomes) == 2
    assert _rows(changes, outcomes[0]) == MAIN
    assert _rows(changes, outcomes[1]) == DECLINED
    # In log order, each on its documented subject, its id and header the source sequence.
    sources = [c.source_sequence for c in changes]
    assert sources == sorted(sources)
    assert len(set(sources)) == len(sources)
    for message, change in zip(messages, changes, strict=True):
        assert message.subject == subject_of(change)
        assert message.headers[SOURCE_SEQUENCE] == str(change.source_sequence)
        assert message.headers["Nats-Msg-Id"] == str(change.source_sequence)
    first = changes[0]
    outcome = lifecycle.app.get_outcome(first.outcome_id)
    assert (first.room_id, first.topic_id, first.title) == (
        outcome.room_id,
        outcome.topic_id,
        outcome.title,
    )
    assert first.actor is not None
    assert first.actor.role == "convener"
    assert {c.detail for c in changes if c.status in ("stalled", "escalated", "not_adopted")} == {
        "资金未到位",
        "county",
        "资金不足",
    }
    implementing = next(c for c in changes if c.status == "implementing")
    assert (implementing.deadline, implementing.implementing_unit_id) == (
        outcome.deadline,
        "unit-1",
    )


def test_catching_up_again_publishes_nothing(lifecycle: JetStreamScenario, nats_url: str) -> None:
    with_client(nats_url, lambda nc: catch_up(nc, STREAM, clock=None))
    before = _published(nats_url)
    assert with_client(nats_url, lambda nc: catch_up(nc, STREAM, clock=None)) == 0
    assert _published(nats_url) == before


def test_following_a_growing_log_publishes_each_change_once(nats_url: str) -> None:
    s = JetStreamScenario(nats_url)
    try:
        outcome = s.reported()
        with_client(nats_url, lambda nc: catch_up(nc, STREAM, clock=None))
        s.app.adopt_outcome(
            outcome, actor=PARTY, occurred_at=s.at(), adopted_as="consensus", decided_by="党委"
        )
        with_client(nats_url, lambda nc: catch_up(nc, STREAM, clock=None))
        s.fed_back(outcome)
        with_client(nats_url, lambda nc: catch_up(nc, STREAM, clock=None))
    finally:
        s.app.close()
    assert [c.status for c in _published(nats_url)] == [
        "drafted",
        "reported",
        "adopted",
        "fed_back",
    ]


class KilledError(Exception):
    """The publisher process dies here."""


class _DyingPublisher(FeedPublisher):
    """Dies at its ``die_at``-th commit: before the server stores it, or just after."""

    def __init__(self, nc: Client, die_at: int, *, after_store: bool, batch: int) -> None:
        super().__init__(nc, STREAM, clock=None, batch=batch)
        self.die_at = die_at
        self.after_store = after_store
        self.attempts = 0

    async def _store(self, batch: list[tuple[OutcomeStatusChanged, str]]) -> PubAck | None:
        self.attempts += 1
        if self.attempts == self.die_at and not self.after_store:
            raise KilledError
        ack = await super()._store(batch)
        if self.attempts == self.die_at:
            raise KilledError  # stored, but the process never learnt it
        return ack


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("after_store", [False, True], ids=["before-store", "after-store"])
def test_killed_anywhere_and_restarted_it_repeats_none_and_skips_none(
    lifecycle: JetStreamScenario, nats_url: str, after_store: bool, batch: int
) -> None:
    async def kill_at_every_point(nc: Client) -> list[int]:
        counts = []
        for die_at in (1, 1, 2, 1):  # 5 commits: fewer than still to come, even of 3 each
            dying = _DyingPublisher(nc, die_at, after_store=after_store, batch=batch)
            await dying.resume()
            with pytest.raises(KilledError):
                await dying.step()
            counts.append(len(await public_changes(nc)))
        return counts

    counts = with_client(nats_url, kill_at_every_point)
    assert counts == sorted(counts)
    assert 0 < counts[-1] < len(MAIN) + len(DECLINED)
    with_client(nats_url, lambda nc: catch_up(nc, STREAM, clock=None))
    changes = _published(nats_url)
    outcomes = list(dict.fromkeys(c.outcome_id for c in changes))
    assert _rows(changes, outcomes[0]) == MAIN
    assert _rows(changes, outcomes[1]) == DECLINED


def test_a_stale_publisher_past_the_dedupe_window_stores_nothing_twice(
    lifecycle: JetStreamScenario, nats_url: str
) -> None:
    """Message ids are forgotten after the window; the expected last sequence is not."""

    async def scenario(nc: Client) -> int:
        config = replace(public_stream_config(STREAM), duplicate_window=0.2)
        await nc.jetstream().add_stream(config)
        stale = FeedPublisher(nc, STREAM, clock=None)
        await stale.resume()  # sees an empty public stream
        await catch_up(nc, STREAM, clock=None)  # another publisher does the work meanwhile
        await asyncio.sleep(0.5)  # every message id is forgotten
        return await stale.step()

    assert with_client(nats_url, scenario) == 0
    changes = _published(nats_url)
    assert len(changes) == len({(c.source_sequence, c.status) for c in changes})
    assert len(changes) == len(MAIN) + len(DECLINED)


def test_racing_publishers_store_each_change_once(
    lifecycle: JetStreamScenario, nats_url: str
) -> None:
    async def race(nc: Client) -> list[int]:
        return list(await asyncio.gather(*(catch_up(nc, STREAM, clock=None) for _ in range(3))))

    stored = with_client(nats_url, race)
    changes = _published(nats_url)
    assert sum(stored) == len(changes) == len(MAIN) + len(DECLINED)
    assert [c.source_sequence for c in changes] == sorted(c.source_sequence for c in changes)


def test_the_public_stream_is_named_after_the_log() -> None:
    assert public_stream("hsl") == "hsl-public"


class _LossyClient:
    """A connection whose every ``lose_every``-th publish is stored but its ack never arrives."""

    def __init__(self, nc: Client, lose_every: int) -> None:
        self._nc = nc
        self.lose_every = lose_every
        self.publishes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._nc, name)

    async def request(self, subject: str, payload: bytes, **kwargs: Any) -> Any:
        reply = await self._nc.request(subject, payload, **kwargs)
        if subject.startswith("hsl.public."):
            self.publishes += 1
            if self.publishes % self.lose_every == 0:
                raise nats.errors.TimeoutError
        return reply


@pytest.mark.parametrize("batch", [1, 3])
def test_lost_acks_neither_repeat_nor_restart(
    lifecycle: JetStreamScenario, nats_url: str, batch: int
) -> None:
    async def scenario(nc: Client) -> tuple[int, int]:
        lossy = _LossyClient(nc, lose_every=3)
        publisher = FeedPublisher(cast(Client, lossy), STREAM, clock=None, batch=batch)
        resumes = 0
        resume = publisher.resume

        async def counted() -> None:
            nonlocal resumes
            resumes += 1
            await resume()

        publisher.resume = counted  # type: ignore[method-assign]
        await publisher.resume()
        await publisher.step()
        return resumes, publisher.published

    resumes, published = with_client(nats_url, scenario)
    changes = _published(nats_url)
    assert resumes == 1  # went on past its own stored messages, without rereading the log
    assert len(changes) == len(MAIN) + len(DECLINED)
    assert published == len(changes) - len(changes) // 3  # a third of the commits: lost acks
    outcomes = list(dict.fromkeys(c.outcome_id for c in changes))
    assert _rows(changes, outcomes[0]) == MAIN
