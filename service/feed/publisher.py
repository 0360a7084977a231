"""The publisher: follows the event log in order and publishes each status change exactly once.

It reads the log by direct get (like the checkpointer), page by page in stream order, turns each
outcome event into at most one :class:`OutcomeStatusChanged` (``service.feed.transitions``), and
stores a page's changes in the public stream (``service.feed.stream``) before it reads on, in
ADR-50 atomic batches of up to :data:`BATCH` messages (all of a batch stored, or none).

**Exactly once.** Every batch carries

- on its first message, ``Nats-Expected-Last-Sequence``: the public stream's last sequence as
  this publisher knows it. If anything else was stored in between (a racing publisher, or this
  one's own batch whose ack was lost), the server refuses the batch, so no change is stored
  twice, however long after (the check does not depend on the duplicate window). The publisher
  then reads what was stored: while it is exactly what it was about to store (the same message
  ids, in order) it goes on past it; anything else, and it resumes from the stream (below);
- on every message, ``Nats-Msg-Id``: the source sequence (``<seq>``; an overdue report
  ``<seq>.overdue.<outcome>``), so a retry inside the window is refused by deduplication too;
- on every message, ``Hsl-Source-Sequence``: the log position it was derived from.

**Resuming.** The state is not stored anywhere: on start the publisher reads the public stream's
last message, whose ``Hsl-Source-Sequence`` P says how far it got, and the wall-clock overdue
reports (the only changes not determined by the log alone). It then reads the log from the start,
rebuilding the state, and publishes only what is not yet there: status changes of events after P,
overdue reports not in the stream. Start-up therefore costs one pass over the log's events
(outcome events are decoded; the others only for their ``recorded_at``).

**Overdue** (see ``service.feed.transitions``): observed by the log's clock after each event, and by
the wall clock each time the publisher has read the log's end; a wall-clock report names the last
log position read as its source and is re-read from the public stream on restart, so the rebuilt
state matches what subscribers were told.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Final
from uuid import UUID

import nats.errors
import structlog
from nats.aio.client import Client

from events import codec
from events.common import BaseEvent
from events.jetstream.connection import NatsUnavailableError, ride_out, until_answered
from events.jetstream.operations import (
    DUPLICATE_MESSAGE_ID,
    MAX_BATCH_MESSAGES,
    READ_PAGE,
    WRONG_LAST_SEQUENCE,
    OutgoingMessage,
    PubAck,
    StoredMessage,
    commit,
    direct_get_last,
    direct_get_range,
    read_backwards,
    read_range,
)
from events.jetstream.quarantine import QuarantineCounter, Quarantined, classify_messages, short
from events.jetstream.stream_layout import StreamLayout
from events.jetstream.write_errors import is_storage_full
from service.feed.integration import (
    ALL_SUBJECTS,
    SUBJECT_PREFIX,
    OutcomeStatusChanged,
    encode,
    subject_of,
)
from service.feed.stream import (
    MSG_ID,
    SOURCE_SEQUENCE,
    SOURCE_STREAM,
    FeedError,
    change_verdict,
    ensure_public_stream,
    public_stream,
)
from service.feed.transitions import OVERDUE_SOURCE, FeedState

log = structlog.get_logger(__name__)

DEFAULT_POLL: Final = 0.5
BATCH: Final = 500
"""Changes stored per atomic commit at most (ADR-50 allows 1,000 messages)."""

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class FeedUnavailableError(FeedError, NatsUnavailableError):
    """The public stream does not answer now (no leader yet, the server restarting)."""


class _Restart(Exception):  # noqa: N818 - a signal, not an error
    """The public stream holds something this publisher did not expect: resume from it."""


class _StoreFull(Exception):  # noqa: N818 - a signal, not an error
    """The public stream has no room now: nothing of the batch was stored; try again later."""


def overdue_msg_id(change: OutcomeStatusChanged) -> str:
    return f"{change.source_sequence}.overdue.{change.outcome_id}"


class FeedPublisher:
    """Follows one event log and publishes its outcomes' status changes to the public stream.

    ``clock`` is the wall clock for overdue checks at the log's end; ``None`` leaves overdue to
    the log's own clock alone (tests, or a replay of an old log).
    """

    def __init__(
        self,
        nc: Client,
        stream: str,
        *,
        clock: Clock | None = utc_now,
        batch: int = BATCH,
        replicas: int = 1,
    ) -> None:
        if not 1 <= batch <= MAX_BATCH_MESSAGES:
            raise ValueError(f"batch {batch}: from 1 to {MAX_BATCH_MESSAGES}")
        self.nc = nc
        self.stream = stream
        self.public = public_stream(stream)
        self.layout = StreamLayout(stream)
        self.clock = clock
        self.state = FeedState()
        self.position = 0
        """The last log position read."""
        self.published = 0
        """Messages this publisher stored (since it was made)."""
        self._last_public_seq = 0
        self._published_until = 0
        self._recorded: dict[int, list[tuple[UUID, date]]] = {}
        self._recorded_keys: set[tuple[UUID, date]] = set()
        self._ahead: deque[tuple[int, str | None]] = deque()
        """Messages found stored after ``_last_public_seq`` (sequence, message id), to match;
        None for a message that is not the feed's."""
        self._pending: deque[tuple[OutcomeStatusChanged, str]] = deque()
        """Changes derived but not stored yet, with their message ids."""
        self.batch = batch
        self.replicas = replicas
        """Replicas of the public stream when this publisher creates it."""
        self._events_prefix = f"{self.layout.prefix}.events."
        self.quarantine = QuarantineCounter("feed")
        """Messages of the log and of the public stream that the feed skipped."""

    async def resume(self) -> None:
        """Create the public stream if needed and find where the feed stopped."""
        await ensure_public_stream(self.nc, self.stream, self.replicas)
        self.state, self.position = FeedState(), 0
        self._recorded, self._recorded_keys = {}, set()
        self._ahead.clear()
        self._pending.clear()
        last = await direct_get_last(self.nc, self.public, ALL_SUBJECTS)
        if last is None:
            self._last_public_seq = self._published_until = 0
            return
        # The stream's last sequence, whatever is stored there, is what the next batch
        # expects; how far the feed got is said by the last message that is its own.
        self._last_public_seq = last.seq
        own = await self._last_own(last)
        self._published_until = 0 if own is None else own.source_sequence
        await self._read_recorded_overdue()
        log.info(
            "feed resumed", stream=self.public, sequence=last.seq, source=self._published_until
        )

    async def _last_own(self, last: StoredMessage) -> OutcomeStatusChanged | None:
        """The last change this feed published, at or before ``last``; what is after it and
        not a change of the feed is quarantined (``service.feed.stream.change_verdict``)."""
        earlier = read_backwards(self.nc, self.public, ALL_SUBJECTS, last.seq)
        message: StoredMessage | None = last
        while message is not None:
            verdict = self._public_verdict(message)
            if verdict is not None:
                return verdict
            message = await anext(earlier, None)
        return None

    def _public_verdict(self, message: StoredMessage) -> OutcomeStatusChanged | None:
        """The change a public message holds; None (noted in ``quarantine``) if it is not one."""
        verdict = change_verdict(
            self.public, message.seq, message.subject, message.headers, message.payload
        )
        if isinstance(verdict, Quarantined):
            self.quarantine.note(verdict)
            return None
        return verdict

    async def _read_recorded_overdue(self) -> None:
        overdue = f"{SUBJECT_PREFIX}.overdue.*"
        async for page in read_range(self.nc, self.public, overdue):
            for message in page:
                change = self._public_verdict(message)
                if change is None:
                    continue
                if change.source_type == OVERDUE_SOURCE and change.deadline is not None:
                    key = (change.outcome_id, change.deadline)
                    self._recorded.setdefault(change.source_sequence, []).append(key)
                    self._recorded_keys.add(key)

    async def step(self) -> int:
        """Read the log beyond the position and publish what it changes; returns messages stored."""
        before = self.published
        while True:
            try:
                await self._follow()
                await self.observe_clock()
                return self.published - before
            except _Restart as e:
                log.info("feed resuming from the public stream", reason=str(e))
                await self.resume()
            except _StoreFull as e:
                # Nothing was stored: go on from what the stream holds at the next step.
                log.warning("feed paused: the public stream has no room", reason=str(e))
                await self.resume()
                return self.published - before

    async def _follow(self) -> None:
        pages = read_range(
            self.nc,
            self.stream,
            self.layout.events_filter,
            self.position + 1,
            missing_is_empty=True,
        )  # a log that does not exist yet: nothing to follow
        async with contextlib.aclosing(pages):
            async for page in pages:
                verdicts = classify_messages(self.stream, page, self._events_prefix)
                for message, verdict in zip(page, verdicts, strict=True):
                    await self._handle(message, verdict)
                await self.flush()

    async def _handle(self, message: StoredMessage, event: BaseEvent | Quarantined) -> None:
        seq = message.seq
        if isinstance(event, Quarantined):  # not an event: nothing to publish, nor a time
            self.quarantine.note(event)
            self.position = seq
            return
        tag = codec.tag_of(event)
        state = self.state
        if tag.startswith("outcome."):
            outcome_id = self.layout.originator_id_of(message.subject)
            try:
                if not isinstance(outcome_id, UUID):
                    raise LookupError(f"outcome id {outcome_id!r} is not a UUID")
                change = state.apply(seq, outcome_id, event)
            except LookupError as e:  # a well-formed event of an outcome that never began
                reason = short(f"its outcome has no such state: {e}")
                self.quarantine.note(
                    Quarantined(self.stream, seq, message.subject, "foreign", reason)
                )
                self.position = seq
                return
            state.advance(event.recorded_at)
            if change is not None and seq > self._published_until:
                await self._publish(change, str(seq))
        else:
            state.advance(event.recorded_at)
        for overdue in state.overdue(state.clock, seq, state.clock):
            if (overdue.outcome_id, overdue.deadline) not in self._recorded_keys:
                await self._publish(overdue, overdue_msg_id(overdue))
        for outcome_id, deadline in self._recorded.pop(seq, ()):
            if state.outcomes[outcome_id].overdue_for != deadline:
                state.mark_overdue(outcome_id, deadline)
        self.position = seq

    async def observe_clock(self) -> int:
        """Report what the wall clock finds overdue (only at the log's end); returns how many."""
        if self.clock is None or self.position < self._published_until:
            return 0
        now = self.clock()
        found = self.state.overdue(now, self.position, now)
        for overdue in found:
            await self._publish(overdue, overdue_msg_id(overdue))
        await self.flush()
        return len(found)

    async def _publish(self, change: OutcomeStatusChanged, msg_id: str) -> None:
        """Queue ``change``; it is stored with the others of its page (see :meth:`flush`)."""
        self._pending.append((change, msg_id))
        if len(self._pending) >= self.batch:
            await self.flush()

    async def flush(self) -> None:
        """Store the queued changes, in order, in atomic batches; skip what is stored already."""
        while self._pending:
            self._pass_foreign_ahead()
            if self._ahead:
                self._match_ahead(self._pending.popleft()[1])
                continue
            batch = [self._pending[i] for i in range(min(self.batch, len(self._pending)))]
            ack = await self._store(batch)
            if ack is None:
                # Something is stored after what this publisher knows: a racing publisher's
                # messages, this one's own whose ack was lost, or a message that is not the
                # feed's (quarantined, then passed). Go on past what comes next.
                known = self._last_public_seq
                await self._load_ahead()
                self._pass_foreign_ahead()
                if not self._ahead and self._last_public_seq == known:
                    raise _Restart(f"no ack for {batch[0][1]}, and nothing stored after it")
                continue
            for _ in batch:
                self._pending.popleft()
            self._last_public_seq = ack.seq
            self.published += len(batch)
            log.debug("published", stream=self.public, sequence=ack.seq, messages=len(batch))

    async def _store(self, batch: list[tuple[OutcomeStatusChanged, str]]) -> PubAck | None:
        """One atomic commit of ``batch``; None when the stream holds more than expected."""
        messages = [
            OutgoingMessage(
                subject_of(change),
                {
                    MSG_ID: msg_id,
                    SOURCE_SEQUENCE: str(change.source_sequence),
                    SOURCE_STREAM: self.stream,
                },
                encode(change),
            )
            for change, msg_id in batch
        ]
        messages[0].headers["Nats-Expected-Last-Sequence"] = str(self._last_public_seq)
        try:
            # A public stream just made on a cluster has no leader for a moment.
            ack = await until_answered(lambda: commit(self.nc, messages))
        except nats.errors.TimeoutError:
            return None  # lost: stored or not, the stream says which
        except nats.errors.NoRespondersError as e:
            # Passes (a leader being elected): ``run`` waits it out; ``--once`` names it.
            raise FeedUnavailableError(f"the public stream {self.public!r} does not answer") from e
        if ack.error is not None:
            if ack.error.err_code in WRONG_LAST_SEQUENCE or (
                ack.error.err_code == DUPLICATE_MESSAGE_ID
            ):
                return None
            msg = f"{self.public!r} refused {batch[0][1]}…: {ack.error.description}"
            if is_storage_full(ack.error.err_code, ack.error.description):
                raise _StoreFull(msg)
            raise FeedError(msg)
        return None if ack.duplicate else ack

    async def _load_ahead(self) -> None:
        """Read what the public stream holds after the last message this publisher knows."""
        page, _ = await direct_get_range(
            self.nc, self.public, ALL_SUBJECTS, self._last_public_seq + 1, READ_PAGE
        )
        self._ahead.extend(
            (m.seq, m.headers.get(MSG_ID, "") if self._public_verdict(m) else None) for m in page
        )

    def _pass_foreign_ahead(self) -> None:
        """Go past the messages ahead that are not the feed's (their id is None)."""
        while self._ahead and self._ahead[0][1] is None:
            self._last_public_seq = self._ahead.popleft()[0]

    def _match_ahead(self, msg_id: str) -> None:
        seq, stored_id = self._ahead.popleft()
        if stored_id != msg_id:
            raise _Restart(f"the public stream holds {stored_id!r} where {msg_id!r} comes next")
        self._last_public_seq = seq

    async def run(self, stop: asyncio.Event, poll: float = DEFAULT_POLL) -> None:
        """Resume, then follow the log until ``stop`` is set.

        A NATS fault (a reconnect, a cluster electing a leader) does not end it: it resumes
        from the public stream once the server answers again, so a batch whose ack was lost
        is found there, not stored twice.
        """
        await ride_out(stop, resume=self.resume, step=self.step, poll=poll, what="feed")


async def run_feed(
    nc: Client,
    stream: str,
    stop: asyncio.Event,
    *,
    poll: float = DEFAULT_POLL,
    clock: Clock | None = utc_now,
    replicas: int = 1,
) -> None:
    """Publish the outcome feed of the log ``stream`` until ``stop`` is set (for ``hsl serve``).

    ``stream`` is the event log's stream (``hsl``); the feed goes to ``<stream>-public``. Raises
    :class:`FeedError` when it cannot go on (a public stream that is not immutable …).
    """
    await FeedPublisher(nc, stream, clock=clock, replicas=replicas).run(stop, poll)


async def catch_up(nc: Client, stream: str, *, clock: Clock | None = utc_now) -> int:
    """Publish everything the log holds that the feed does not yet; returns messages stored."""
    publisher = FeedPublisher(nc, stream, clock=clock)
    await publisher.resume()
    return await publisher.step()
