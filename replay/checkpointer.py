"""The checkpointer: signs the log's Merkle root every N events or T seconds.

It follows the event stream in order, hashing each stored event's canonical bytes
(``replay.leaf``) as the next leaf of the log's RFC 9162 Merkle tree, and publishes a signed
checkpoint (``replay.checkpoint``: origin, tree size, root) when ``every`` events have been
added since the last one, or ``interval`` seconds have passed with any added.

Checkpoints are kept in their own immutable stream, ``<stream>-checkpoints`` (delete and purge
denied, no limits, the configured replicas; made with the first checkpoint), on
the subject ``hsl-audit.<stream>.checkpoint``, which subscribers may follow. Each message is the
signed note as UTF-8; its header ``Hsl-Tree-State`` carries the tree's compact range (base64 of
the concatenated subtree roots), so a restarted checkpointer resumes where it stopped without
rereading the log — after checking that the state gives the signed root. Publishing expects
the checkpoint subject's last sequence, so two checkpointers racing never interleave two
histories: the loser reloads and goes on from the winner.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.js.api import StreamConfig

from events.jetstream.connection import ride_out, until_answered
from events.jetstream.operations import (
    NO_RESPONDERS,
    WRONG_LAST_SEQUENCE,
    JetStreamApiError,
    OutgoingMessage,
    StoredMessage,
    commit,
    direct_get_last,
    ensure_immutable_stream,
    read_backwards,
    read_range,
)
from events.jetstream.quarantine import QuarantineCounter, Quarantined
from events.jetstream.stream_layout import StreamLayout, immutable_stream_config
from events.jetstream.write_errors import is_storage_full
from replay.checkpoint import Checkpoint, checkpoint_fault, sign_checkpoint
from replay.leaf import leaf_bytes
from replay.merkle import HASH_SIZE, TreeBuilder
from replay.signed_note import SignerKey, VerifierKey

log = structlog.get_logger(__name__)

TREE_STATE: Final = "Hsl-Tree-State"
EXPECTED_LAST_SUBJECT_SEQUENCE: Final = "Nats-Expected-Last-Subject-Sequence"
DEFAULT_EVERY: Final = 1000
DEFAULT_INTERVAL: Final = 60.0


class CheckpointerError(RuntimeError):
    """The checkpointer cannot go on; the message says why (a foreign or broken checkpoint …)."""


def checkpoint_stream(stream: str) -> str:
    """The stream keeping the checkpoints of the event stream ``stream``."""
    return f"{stream}-checkpoints"


def checkpoint_subject(stream: str) -> str:
    """The documented subject checkpoints of ``stream`` are published on."""
    return f"hsl-audit.{stream}.checkpoint"


def checkpoint_stream_config(stream: str, replicas: int = 1) -> StreamConfig:
    """Immutable like the event stream: the checkpoints are evidence too."""
    return immutable_stream_config(
        checkpoint_stream(stream),
        [checkpoint_subject(stream)],
        f"signed Merkle checkpoints of the haoshangliang log {stream!r} (immutable)",
        replicas,
    )


async def ensure_checkpoint_stream(nc: Client, stream: str, replicas: int = 1) -> None:
    """Create the checkpoint stream, or check that the existing one is immutable."""
    faults = await ensure_immutable_stream(nc, checkpoint_stream_config(stream, replicas))
    if faults:
        msg = f"stream {checkpoint_stream(stream)!r} exists but is not immutable: " + "; ".join(
            faults
        )
        raise CheckpointerError(msg)


@dataclass(frozen=True)
class StoredCheckpoint:
    """One checkpoint as kept in the checkpoint stream."""

    seq: int
    """Its sequence in the checkpoint stream."""
    note: str
    """The signed note, as published."""
    state: tuple[bytes, ...]
    """The tree's compact range at the checkpoint (from the ``Hsl-Tree-State`` header)."""


def encode_state(state: tuple[bytes, ...]) -> str:
    return base64.b64encode(b"".join(state)).decode()


def decode_state(text: str) -> tuple[bytes, ...]:
    raw = base64.b64decode(text, validate=True)
    if len(raw) % HASH_SIZE:
        msg = f"tree state is {len(raw)} bytes, not a multiple of {HASH_SIZE}"
        raise ValueError(msg)
    return tuple(raw[i : i + HASH_SIZE] for i in range(0, len(raw), HASH_SIZE))


def _stored_checkpoint(message: StoredMessage) -> StoredCheckpoint:
    """A checkpoint message as stored; junk (not UTF-8, a broken tree state) is kept as it is
    for :func:`checkpoint_verdict` to name, never raised here."""
    try:
        state = decode_state(message.headers.get(TREE_STATE, ""))
    except (ValueError, binascii.Error):
        state = ()
    return StoredCheckpoint(
        seq=message.seq, note=message.payload.decode("utf-8", "replace"), state=state
    )


def checkpoint_verdict(
    stream: str, stored: StoredCheckpoint, verifier: VerifierKey, origin: str
) -> tuple[Checkpoint, TreeBuilder | None] | Quarantined:
    """The checkpoint a message of the checkpoint subject holds (and the tree its state gives,
    when that state gives its root), or why it is quarantined (``events.jetstream.quarantine``).

    Anyone who may publish on the subject can store a message there; only the log's own
    signed checkpoints count (``replay.checkpoint.checkpoint_fault``).
    """
    found = checkpoint_fault(stored.note, [verifier], origin)
    if not isinstance(found, Checkpoint):
        return Quarantined(
            checkpoint_stream(stream), stored.seq, checkpoint_subject(stream), *found
        )
    checkpoint = found
    try:
        tree: TreeBuilder | None = TreeBuilder.from_state(checkpoint.size, stored.state)
    except ValueError:
        tree = None
    if tree is not None and tree.root() != checkpoint.root_hash:
        tree = None
    return checkpoint, tree


def own_checkpoints(
    stream: str,
    stored: list[StoredCheckpoint],
    verifier: VerifierKey,
    origin: str,
    counter: QuarantineCounter | None = None,
) -> list[StoredCheckpoint]:
    """The log's own signed checkpoints among ``stored``; the others noted in ``counter``."""
    kept = []
    for one in stored:
        verdict = checkpoint_verdict(stream, one, verifier, origin)
        if isinstance(verdict, Quarantined):
            if counter is not None:
                counter.note(verdict)
            continue
        kept.append(one)
    return kept


async def read_checkpoints(nc: Client, stream: str) -> list[StoredCheckpoint]:
    """Every message of the checkpoint subject of ``stream``, oldest first, as stored.

    Without a checkpoint stream yet: no checkpoint.
    """
    pages = read_range(
        nc, checkpoint_stream(stream), checkpoint_subject(stream), missing_is_empty=True
    )
    return [_stored_checkpoint(m) async for page in pages for m in page]


class Checkpointer:
    """Follows one event stream and publishes its signed checkpoints."""

    def __init__(
        self,
        nc: Client,
        stream: str,
        signer: SignerKey,
        *,
        every: int = DEFAULT_EVERY,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        replicas: int = 1,
    ) -> None:
        if every < 1:
            raise ValueError(f"checkpoint every {every} events: must be 1 or more")
        self.nc = nc
        self.stream = stream
        self.origin = signer.name
        self.signer = signer
        self.every = every
        self.interval = interval
        self._clock = clock
        self.replicas = replicas
        """Replicas of the checkpoint stream when this checkpointer creates it."""
        # Every subject of the stream: the tree's leaf n is stream sequence n + 1, whatever
        # was stored there (a message that is not an event is a leaf too;
        # events.jetstream.quarantine).
        self._events_filter = StreamLayout(stream).all_subjects
        self.tree = TreeBuilder()
        self.last_size = 0
        self._last_seq = 0
        self._stream_ready = False
        self._last_at = clock()
        self._following = False
        self.no_room = False
        """Whether the last checkpoint was refused for want of room (while following)."""
        self.quarantine = QuarantineCounter("checkpointer")
        """Messages of the checkpoint subject that are not this log's signed checkpoints."""

    async def resume(self) -> None:
        """Continue from the last checkpoint, checking that its stream is immutable.

        Without a checkpoint stream yet, start from zero: the stream is made with the first
        checkpoint.
        """
        try:
            last = await direct_get_last(
                self.nc, checkpoint_stream(self.stream), checkpoint_subject(self.stream)
            )
        except (JetStreamApiError, nats.errors.NoRespondersError) as e:
            if isinstance(e, JetStreamApiError) and e.code != NO_RESPONDERS:
                raise
            self._stream_ready = False
            self.tree, self.last_size, self._last_seq = TreeBuilder(), 0, 0
            return
        await ensure_checkpoint_stream(self.nc, self.stream, self.replicas)
        self._stream_ready = True
        if last is None:
            self.tree, self.last_size, self._last_seq = TreeBuilder(), 0, 0
            return
        found = await self._last_own(last)
        if found is None:  # only messages that are not ours: start from zero after them
            self.tree, self.last_size, self._last_seq = TreeBuilder(), 0, last.seq
            return
        checkpoint, tree = found
        # Publishing expects the subject's last sequence, whatever is stored there.
        self.tree, self.last_size, self._last_seq = tree, checkpoint.size, last.seq
        log.info("checkpointer resumed", stream=self.stream, size=checkpoint.size)

    async def _last_own(self, last: StoredMessage) -> tuple[Checkpoint, TreeBuilder] | None:
        """The last of this log's signed checkpoints, at or before ``last``, with its tree.

        Messages after it that are not ours are quarantined, as is a copy of one of ours
        stored with a tree state that does not give its root (it cannot be continued).
        """
        subject, where = checkpoint_subject(self.stream), checkpoint_stream(self.stream)
        earlier = read_backwards(self.nc, where, subject, last.seq)
        message: StoredMessage | None = last
        while message is not None:
            verdict = checkpoint_verdict(
                self.stream, _stored_checkpoint(message), self.signer.verifier, self.origin
            )
            if isinstance(verdict, Quarantined):
                self.quarantine.note(verdict)
            elif verdict[1] is None:  # a copy of a checkpoint of ours, with another state
                reason = f"tree size {verdict[0].size}: its tree state does not give its root"
                self.quarantine.note(Quarantined(where, message.seq, subject, "foreign", reason))
            else:
                return verdict[0], verdict[1]
            message = await anext(earlier, None)
        return None

    async def step(self) -> int:
        """Hash the events stored since, checkpointing every ``every``; returns events read."""
        read = 0
        pages = read_range(
            self.nc, self.stream, self._events_filter, self.tree.size + 1, missing_is_empty=True
        )  # a stream that does not exist yet: nothing to sign
        async for page in pages:
            for message in page:
                if message.seq != self.tree.size + 1:
                    msg = (
                        f"event {self.tree.size + 1} is missing from stream {self.stream!r} "
                        f"(next stored is {message.seq}): the log has a gap"
                    )
                    raise CheckpointerError(msg)
                self.tree.append_entry(leaf_bytes(message))
                read += 1
                if self.tree.size - self.last_size >= self.every:
                    await self.checkpoint_now()
        if self.tree.size > self.last_size and self._clock() - self._last_at >= self.interval:
            await self.checkpoint_now()
        return read

    async def checkpoint_now(self) -> StoredCheckpoint | None:
        """Publish a checkpoint at the current tree size, unless the last one is there."""
        if self.tree.size == self.last_size and self._last_seq:
            return None
        if not self._stream_ready:
            await ensure_checkpoint_stream(self.nc, self.stream, self.replicas)
            self._stream_ready = True
        checkpoint = Checkpoint(self.origin, self.tree.size, self.tree.root())
        note = sign_checkpoint(checkpoint, self.signer)
        state = self.tree.state()
        headers = {
            TREE_STATE: encode_state(state),
            EXPECTED_LAST_SUBJECT_SEQUENCE: str(self._last_seq),
        }
        message = OutgoingMessage(checkpoint_subject(self.stream), headers, note.encode())
        # A checkpoint stream just made on a cluster has no leader for a moment.
        ack = await until_answered(lambda: commit(self.nc, [message]))
        if ack.error is not None:
            if ack.error.err_code in WRONG_LAST_SEQUENCE:
                log.info("another checkpointer went first; continuing from its checkpoint")
                await self.resume()
                return None
            if self._following and is_storage_full(ack.error.err_code, ack.error.description):
                # Nothing stored: a later step signs again, once the stream has room.
                if not self.no_room:
                    log.warning("checkpoint not stored: no room", stream=self.stream)
                self.no_room = True
                return None
            msg = f"checkpoint refused by JetStream: {ack.error.description}"
            raise CheckpointerError(msg)
        self.no_room = False
        self.last_size, self._last_seq, self._last_at = checkpoint.size, ack.seq, self._clock()
        log.info("checkpoint", stream=self.stream, size=checkpoint.size, sequence=ack.seq)
        return StoredCheckpoint(seq=ack.seq, note=note, state=state)

    async def run(self, stop: asyncio.Event, poll: float = 0.5) -> None:
        """Resume, then follow the log until ``stop`` is set, checkpointing as it goes.

        A NATS fault (a reconnect, a cluster electing a leader) does not end it: it resumes
        from the last stored checkpoint once the server answers again; a checkpoint the stream
        has no room for is signed again later instead of stopping.
        """
        self._following = True
        await ride_out(stop, resume=self.resume, step=self.step, poll=poll, what="checkpointer")
