"""The checkpointer on a real JetStream log: signed roots every N events, resumable, immutable."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import nats
import pytest
from nats.aio.client import Client

from events.jetstream.recorders import JetStreamApplicationRecorder
from replay.checkpoint import open_checkpoint
from replay.checkpointer import (
    Checkpointer,
    checkpoint_stream,
    read_checkpoints,
)
from replay.keys import origin_for
from replay.leaf import leaf_bytes
from replay.merkle import root_of_entries
from replay.signed_note import SignerKey
from tests.support.chain import Chain
from tests.support.jetstream_scenario import JetStreamScenario


@pytest.fixture
def log(nats_url: str) -> Iterator[tuple[JetStreamScenario, str, list[bytes]]]:
    """A log holding one chain of events; yields it, its stream and every event's leaf bytes."""
    s = JetStreamScenario(nats_url)
    try:
        Chain(s)
        recorder = s.app.recorder
        assert isinstance(recorder, JetStreamApplicationRecorder)
        leaves = [leaf_bytes(m) for m in recorder.stored_range(1, 10_000)]
        yield s, recorder.layout.stream, leaves
    finally:
        s.app.close()


async def _connect(url: str) -> Client:
    return await nats.connect(url)


def test_checkpoints_every_n_events_sign_the_roots_of_the_log(
    log: tuple[JetStreamScenario, str, list[bytes]], nats_url: str
) -> None:
    _, stream, leaves = log
    signer = SignerKey.generate(origin_for(stream))

    async def scenario() -> tuple[list[int], list[int]]:
        nc = await _connect(nats_url)
        try:
            first = Checkpointer(nc, stream, signer, every=5, interval=0)
            await first.resume()
            assert await first.step() == len(leaves)
            sizes = []
            for stored in await read_checkpoints(nc, stream):
                checkpoint, _ = open_checkpoint(stored.note, [signer.verifier], origin=signer.name)
                assert checkpoint.root_hash == root_of_entries(leaves[: checkpoint.size])
                sizes.append(checkpoint.size)
            again = Checkpointer(nc, stream, signer, every=5, interval=0)
            await again.resume()
            resumed = [again.tree.size, await again.step(), len(await read_checkpoints(nc, stream))]
            return sizes, resumed
        finally:
            await nc.close()

    sizes, resumed = asyncio.run(scenario())
    n = len(leaves)
    assert sizes == [*range(5, n + 1, 5), *([n] if n % 5 else [])]
    assert resumed == [n, 0, len(sizes)]


def test_a_racing_checkpointer_continues_from_the_winner(
    log: tuple[JetStreamScenario, str, list[bytes]], nats_url: str
) -> None:
    _, stream, leaves = log
    signer = SignerKey.generate(origin_for(stream))

    async def scenario() -> list[int]:
        nc = await _connect(nats_url)
        try:
            a = Checkpointer(nc, stream, signer, every=1000, interval=0)
            b = Checkpointer(nc, stream, signer, every=1000, interval=0)
            await a.resume()
            await b.resume()
            await a.step()  # checkpoints at the whole log
            await b.step()  # finds a went first: resumes from a's checkpoint
            assert b.last_size == len(leaves)
            assert await b.checkpoint_now() is None
            return [s.seq for s in await read_checkpoints(nc, stream)]
        finally:
            await nc.close()

    assert asyncio.run(scenario()) == [1]


def test_the_checkpoint_stream_refuses_delete_and_another_key_starts_apart(
    log: tuple[JetStreamScenario, str, list[bytes]], nats_url: str
) -> None:
    """Checkpoints cannot be deleted; one signed by another key is not continued but
    quarantined (foreign), so a checkpointer with another key starts its own tree from zero."""
    _, stream, _ = log
    signer = SignerKey.generate(origin_for(stream))
    stranger = SignerKey.generate(origin_for(stream))

    async def scenario() -> None:
        nc = await _connect(nats_url)
        try:
            ours = Checkpointer(nc, stream, signer, every=1000, interval=0)
            await ours.resume()
            await ours.step()
            js = nc.jetstream()
            with pytest.raises(nats.js.errors.APIError):
                await js.delete_msg(checkpoint_stream(stream), 1)
            with pytest.raises(nats.js.errors.APIError):
                await js.purge_stream(checkpoint_stream(stream))
            theirs = Checkpointer(nc, stream, stranger)
            await theirs.resume()
            assert (theirs.tree.size, theirs.last_size) == (0, 0)
            assert theirs.quarantine.counts == {checkpoint_stream(stream): 1}
        finally:
            await nc.close()

    asyncio.run(scenario())


def test_before_the_log_exists_there_is_nothing_to_sign(nats_url: str) -> None:
    signer = SignerKey.generate(origin_for("hsl"))

    async def scenario() -> tuple[int, int | None]:
        nc = await _connect(nats_url)
        try:
            checkpointer = Checkpointer(nc, "hsl", signer, interval=0)
            await checkpointer.resume()
            read = await checkpointer.step()
            return read, len(await read_checkpoints(nc, "hsl"))
        finally:
            await nc.close()

    assert asyncio.run(scenario()) == (0, 0)
