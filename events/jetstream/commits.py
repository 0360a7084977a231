"""Commits: how our recorders store events, all or none, exactly once.

A commit is one atomic batch (ADR-50) whose first message per aggregate names the subject
sequence it expects to be last there. Those positions come from a cache filled by reads and
earlier commits; a wrong guess is refused by the server and corrected by a re-read, so the
cache only saves round trips and never decides correctness. A commit whose acknowledgement
was lost is retried with the same message ids, and a refusal of such a retry is checked
against what is stored before it is called a conflict.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from uuid import UUID

import msgspec
import nats.errors
from eventsourcing.persistence import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    StoredEvent,
    Tracking,
)
from nats.js.api import Header

from events.jetstream.operations import (
    CONNECTION_ERRORS,
    MAX_BATCH_MESSAGES,
    OutgoingMessage,
    PubAck,
    StoredMessage,
    commit,
    direct_get_last,
    discard_unsent,
)
from events.jetstream.quarantine import Quarantined, QuarantinedError, envelope_verdict
from events.jetstream.recorder_base import AggregatePosition, RecorderBase
from events.jetstream.stream_layout import (
    ORIGINATOR_VERSION,
    TOPIC,
    TRACKING_ID,
    decode_header_text,
    encode_header_text,
)
from events.jetstream.write_errors import NotStoredError, ResultUnknownError, refusal_error

MAX_COMMIT_ATTEMPTS = 5
"""Attempts per commit: a stale cached position or a lost ack costs one more each."""

UNAVAILABLE_WAIT = 10.0
"""Seconds a commit waits for the stream to answer again (a cluster electing a new leader)."""

_MSG_ID = Header.MSG_ID.value
_EXPECTED_LAST_SUBJECT_SEQUENCE = Header.EXPECTED_LAST_SUBJECT_SEQUENCE.value
_BATCH_HEADER_ROOM = 80
"""Bytes the batch id, sequence and commit headers add to a message at send time."""
_HEADER_ROOM = 4096
"""Our own headers stay well under this, so smaller payloads need no exact size check."""


class _Progress:
    """Whether some attempt of one commit may have been stored without our knowing."""

    __slots__ = ("maybe_stored",)

    def __init__(self) -> None:
        self.maybe_stored = False


class JetStreamRecorder(RecorderBase):
    """A recorder that commits: atomic batches, checked positions, resolved retries."""

    async def _tracking_message(self, tracking: Tracking) -> OutgoingMessage:
        last = await self._last_tracking(tracking.application_name)
        if last is not None and last[0] >= tracking.notification_id:
            msg = (
                f"tracking notification id {tracking.notification_id} for "
                f"{tracking.application_name!r} is not greater than the recorded {last[0]}"
            )
            raise IntegrityError(msg)
        return OutgoingMessage(
            subject=self._layout.tracking_subject(tracking.application_name),
            headers={
                TRACKING_ID: str(tracking.notification_id),
                Header.EXPECTED_LAST_SUBJECT_SEQUENCE.value: str(last[1] if last else 0),
            },
            payload=msgspec.json.encode(
                {
                    "application_name": tracking.application_name,
                    "notification_id": tracking.notification_id,
                }
            ),
        )

    # --- writing -----------------------------------------------------------------------

    def _check_commit(self, events: Sequence[StoredEvent], extra: int) -> None:
        """Refuse, before sending anything, a commit the server could not store whole."""
        if len(events) == 1:
            return
        seen: set[tuple[UUID | str, int]] = set()
        for event in events:
            key = (event.originator_id, event.originator_version)
            if key in seen:
                msg = (
                    f"commit holds version {event.originator_version} of aggregate "
                    f"{event.originator_id} twice"
                )
                raise IntegrityError(msg)
            seen.add(key)
        if len(events) + extra > MAX_BATCH_MESSAGES:
            msg = (
                f"commit of {len(events)} events exceeds the atomic batch limit of "
                f"{MAX_BATCH_MESSAGES} messages (ADR-50)"
            )
            raise DataError(msg)

    @staticmethod
    def _event_message(
        subject: str, event: StoredEvent, expected_last_seq: int | None
    ) -> OutgoingMessage:
        version = str(event.originator_version)
        headers = {
            TOPIC: encode_header_text(event.topic),
            ORIGINATOR_VERSION: version,
            # Same id on a retried commit: the server stores it once (duplicate window).
            _MSG_ID: f"{subject}:{version}",
        }
        if expected_last_seq is not None:
            headers[_EXPECTED_LAST_SUBJECT_SEQUENCE] = str(expected_last_seq)
        return OutgoingMessage(subject=subject, headers=headers, payload=event.state)

    def _event_messages(self, events: Sequence[StoredEvent]) -> list[OutgoingMessage]:
        """One message per event; the first per aggregate carries the expected position.

        Positions come from the cache (filled by reads and earlier commits); an aggregate
        not in it is taken to be new (expected sequence 0). A wrong guess costs one refused
        commit and a re-read, never a wrong write: the server checks.
        """
        messages = []
        first_seen: set[str] = set()
        for event in events:
            subject = self._layout.event_subject(event.originator_id)
            expected: int | None = None
            if subject not in first_seen:
                first_seen.add(subject)
                position = self._positions.get(subject)
                if position is not None and position.version >= event.originator_version:
                    msg = (
                        f"aggregate {event.originator_id} is already at version "
                        f"{position.version}; cannot record version {event.originator_version}"
                    )
                    raise IntegrityError(msg)
                expected = position.seq if position is not None else 0
            messages.append(self._event_message(subject, event, expected))
        return messages

    async def _commit(
        self, events: Sequence[StoredEvent], tracking: Tracking | None = None
    ) -> list[int]:
        """Store ``events`` (and ``tracking``) atomically; return their stream sequences.

        A failure says what the caller may conclude (:mod:`events.jetstream.write_errors`): a
        refusal or
        a request that never left is ``NotStoredError`` (``StorageFullError``: no room), one
        sent and never answered is ``ResultUnknownError``; a lost answer is first resolved
        here, by retrying with the same message ids and reading what is stored.
        """
        self._check_commit(events, extra=1 if tracking else 0)
        progress = _Progress()
        try:
            return await self._commit_attempts(events, tracking, progress)
        except ResultUnknownError:
            discard_unsent(self._bridge.client)  # nothing of it may be sent after this
            raise
        except (DatabaseError, InterfaceError):
            raise
        except Exception as e:  # a NATS error while the outcome was open, e.g. a read
            if progress.maybe_stored:
                discard_unsent(self._bridge.client)
                raise self._unknown(events, f"{type(e).__name__}: {e}") from e
            raise

    async def _commit_attempts(
        self, events: Sequence[StoredEvent], tracking: Tracking | None, progress: _Progress
    ) -> list[int]:
        unavailable_until = time.monotonic() + UNAVAILABLE_WAIT
        backoff = 0.05
        attempt = 0
        while attempt < MAX_COMMIT_ATTEMPTS:
            attempt += 1
            messages = self._event_messages(events)
            if tracking is not None:
                messages.append(await self._tracking_message(tracking))
            self._check_sizes(messages, events)
            if self._bridge.client.is_closed:
                break  # nothing can be sent any more
            earlier = progress.maybe_stored
            progress.maybe_stored = True  # from here on this attempt may be stored
            try:
                if not self._bridge.client.is_connected:
                    # Reconnecting: a send now would wait in the client, to be sent however
                    # late. Send nothing; wait for the connection, as for no responders.
                    raise nats.errors.NoRespondersError
                ack = await commit(self._bridge.client, messages)
            except nats.errors.TimeoutError:
                continue  # sent, unanswered: retry with the same message ids
            except (nats.errors.NoRespondersError, *CONNECTION_ERRORS) as e:
                # Not sent, or nothing answered (in a cluster the stream is electing a new
                # leader): nothing stored by this attempt. A connection that broke while the
                # commit went out: it may have reached the server. Wait, within a bound.
                not_sent = isinstance(e, nats.errors.NoRespondersError)
                if not_sent:
                    progress.maybe_stored = earlier
                    attempt -= 1
                if time.monotonic() + backoff > unavailable_until:
                    if not_sent and self._bridge.client.is_connected:
                        raise
                    break
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            if ack.error is None and not ack.duplicate:
                return self._committed(events, messages, ack)
            # An answer: this attempt was not stored, an earlier one may have been.
            progress.maybe_stored = earlier
            stored = await self._after_refusal(events, ack, progress)
            if stored is not None:
                return stored
            # Refused as stale or duplicate, and not ours: a real conflict raises here.
            await self._refresh_positions(events, tracking)
        if progress.maybe_stored:
            raise self._unknown(events, f"no answer after {attempt} attempts")
        msg = f"commit to {self._layout.stream!r} failed after {attempt} attempts; nothing stored"
        raise NotStoredError(msg)

    async def _after_refusal(
        self, events: Sequence[StoredEvent], ack: PubAck, progress: _Progress
    ) -> list[int] | None:
        """Ours, if an earlier attempt stored it; else raise for a refusal that a new attempt
        cannot mend (None: a stale position or duplicate id, to re-read and retry)."""
        if progress.maybe_stored:
            stored = await self._find_stored(events)
            if stored is not None:
                return stored
            progress.maybe_stored = not events  # read: ours is not stored
        refusal = None if ack.error is None else refusal_error(self._layout.stream, ack.error)
        if refusal is None:
            return None
        if progress.maybe_stored:
            raise self._unknown(events, f"then refused: {refusal}")
        raise refusal

    def _unknown(self, events: Sequence[StoredEvent], why: str) -> ResultUnknownError:
        ids = tuple(dict.fromkeys(str(event.originator_id) for event in events))
        msg = (
            f"a commit to {self._layout.stream!r} was sent but its result is unknown ({why}); "
            f"read aggregate(s) {', '.join(ids) or '-'} to see whether it was stored"
        )
        return ResultUnknownError(msg, aggregate_ids=ids)

    def _check_sizes(
        self, messages: Sequence[OutgoingMessage], events: Sequence[StoredEvent]
    ) -> None:
        limit = self._bridge.client.max_payload - _BATCH_HEADER_ROOM
        for position, message in enumerate(messages):
            if len(message.payload) < limit - _HEADER_ROOM:
                continue  # far from the limit; skip the exact count
            size = message.wire_size() + _BATCH_HEADER_ROOM
            if size > limit:
                what = (
                    f"event version {events[position].originator_version} of aggregate "
                    f"{events[position].originator_id}"
                    if position < len(events)
                    else "the tracking record"
                )
                most = limit + _BATCH_HEADER_ROOM
                msg = (
                    f"{what} is {size} bytes; the NATS server accepts at most {most} bytes "
                    "per message (max_payload). Nothing was written."
                )
                raise DataError(msg)

    def _committed(
        self, events: Sequence[StoredEvent], messages: Sequence[OutgoingMessage], ack: PubAck
    ) -> list[int]:
        count = ack.count or 1
        first_seq = ack.seq - count + 1
        sequences = list(range(first_seq, first_seq + len(events)))
        for event, message, seq in zip(events, messages, sequences, strict=False):
            self._remember(message.subject, AggregatePosition(event.originator_version, seq))
        return sequences

    async def _refresh_positions(
        self, events: Sequence[StoredEvent], tracking: Tracking | None
    ) -> None:
        """Re-read each aggregate's last position; raise IntegrityError on a real conflict."""
        first_versions: dict[str, StoredEvent] = {}
        for event in events:
            first_versions.setdefault(self._layout.event_subject(event.originator_id), event)
        for subject, event in first_versions.items():
            last = await direct_get_last(self._bridge.client, self._layout.stream, subject)
            if last is None:
                self._remember(subject, None)
                continue
            text = last.headers.get(ORIGINATOR_VERSION, "")
            if not text.isdigit():  # someone stored a message that is not an event there
                fault = envelope_verdict(last.subject, last.headers) or "not an event"
                raise QuarantinedError(
                    Quarantined(self._layout.stream, last.seq, last.subject, "foreign", fault)
                )
            version = int(text)
            self._remember(subject, AggregatePosition(version, last.seq))
            if version >= event.originator_version:
                msg = (
                    f"aggregate {event.originator_id} is already at version {version}; "
                    f"cannot record version {event.originator_version}"
                )
                raise IntegrityError(msg)
        if tracking is not None:
            await self._tracking_message(tracking)  # raises IntegrityError if overtaken

    async def _find_stored(self, events: Sequence[StoredEvent]) -> list[int] | None:
        """The sequences of ``events`` if exactly these are stored already (a lost ack)."""
        if not events:
            return None
        by_subject: dict[str, dict[int, StoredMessage]] = {}
        sequences = []
        for event in events:
            subject = self._layout.event_subject(event.originator_id)
            if subject not in by_subject:
                by_subject[subject] = {  # a message without a version is not ours: passed
                    int(version): m
                    for m in await self._read_subject(subject)
                    if (version := m.headers.get(ORIGINATOR_VERSION, "")).isdigit()
                }
            found = by_subject[subject].get(event.originator_version)
            if found is None or found.payload != event.state:
                return None
            if decode_header_text(found.headers.get(TOPIC, "")) != event.topic:
                return None
            sequences.append(found.seq)
        for event, seq in zip(events, sequences, strict=True):
            subject = self._layout.event_subject(event.originator_id)
            self._remember(subject, AggregatePosition(event.originator_version, seq))
        return sequences
