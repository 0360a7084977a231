"""The four recorders eventsourcing asks a persistence module for, on one JetStream stream.

Aggregate events on one subject per aggregate; the stream sequence as the notification id;
tracking records on their own subjects of the same stream, so that a process application's
events and its upstream position are one atomic batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    Notification,
    ProcessRecorder,
    StoredEvent,
    Subscription,
    Tracking,
    TrackingRecorder,
)
from nats.aio.msg import Msg

from events.jetstream.commits import JetStreamRecorder
from events.jetstream.operations import READ_PAGE, StoredMessage, direct_get_last, read_range
from events.jetstream.quarantine import (
    Quarantined,
    QuarantinedError,
    envelope_verdict,
    foreign_topic,
    token_of,
)
from events.jetstream.recorder_base import AggregatePosition
from events.jetstream.stream_layout import ORIGINATOR_VERSION, TOPIC, decode_header_text
from events.jetstream.subscription import JetStreamSubscription


class JetStreamAggregateRecorder(JetStreamRecorder, AggregateRecorder):
    """Stores and reads aggregates' events, one subject per aggregate."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        self._insert(stored_events, kwargs.get("tracking"))
        return None

    def _insert(self, stored_events: Sequence[StoredEvent], tracking: Tracking | None) -> list[int]:
        if not stored_events and tracking is None:
            return []
        return cast(list[int], self._run(self._commit(stored_events, tracking)))

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        return cast(
            Sequence[StoredEvent],
            self._run(self._select_events(originator_id, gt, lte, desc, limit)),
        )

    async def _select_events(
        self,
        originator_id: UUID | str,
        gt: int | None,
        lte: int | None,
        desc: bool,
        limit: int | None,
    ) -> list[StoredEvent]:
        subject = self._layout.event_subject(originator_id)
        if desc and limit == 1 and lte is None:
            # The latest event only (e.g. the last snapshot): one direct get.
            last = await direct_get_last(self._bridge.client, self._layout.stream, subject)
            messages = [last] if last is not None else []
        else:
            # Fast-forwarding a cached aggregate (``gt`` = the version it has): when that
            # version's stream sequence is known, read only what was stored after it, not
            # the aggregate's whole history (the log is immutable: the known fact holds).
            known = None if gt is None else self._sequence_of(subject, gt)
            start_seq = 1 if known is None else known + 1
            messages = await self._read_subject(subject, start_seq)
            if messages and self._fault(messages[-1]) is None:
                last_version = int(messages[-1].headers[ORIGINATOR_VERSION])
                self._remember(subject, AggregatePosition(last_version, messages[-1].seq))
            elif start_seq == 1 and not messages:
                self._remember(subject, None)
        selected = []
        for message in messages:
            fault = self._fault(message)
            if fault is not None:  # the aggregate cannot be read past it; the others can
                raise QuarantinedError(
                    Quarantined(self._layout.stream, message.seq, message.subject, "foreign", fault)
                )
            version = int(message.headers[ORIGINATOR_VERSION])
            if gt is not None and version <= gt:
                continue
            if lte is not None and version > lte:
                break  # versions rise with the sequence: nothing later is wanted
            selected.append(
                StoredEvent(
                    originator_id=originator_id,
                    originator_version=version,
                    topic=decode_header_text(message.headers[TOPIC]),
                    state=message.payload,
                )
            )
            if version == lte:
                break
        if desc:
            selected.reverse()
        return selected[:limit] if limit is not None else selected

    def _fault(self, message: StoredMessage) -> str | None:
        """What in a message on an aggregate's subject is not an event's (its headers), or None.

        Such a message raises :class:`~events.jetstream.quarantine.QuarantinedError` when a read
        reaches it; a payload that does not decode fails in the mapper, naming the aggregate too.
        """
        return envelope_verdict(message.subject, message.headers, f"{self._layout.prefix}.events.")


class JetStreamApplicationRecorder(JetStreamAggregateRecorder, ApplicationRecorder):
    """Adds the application sequence: the stream sequence is the notification id."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        return self._insert(stored_events, kwargs.get("tracking"))

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        first = 1 if start is None else (start if inclusive_of_start else start + 1)
        return cast(
            Sequence[Notification],
            self._run(self._select_notifications(max(first, 1), limit, stop, tuple(topics))),
        )

    async def _select_notifications(
        self, first: int, limit: int, stop: int | None, topics: tuple[str, ...]
    ) -> list[Notification]:
        wanted = set(topics)
        results: list[Notification] = []
        if limit <= 0:
            return results
        page = READ_PAGE if wanted else min(limit, READ_PAGE)
        stream, events = self._layout.stream, self._layout.events_filter
        pages = read_range(self._bridge.client, stream, events, first, stop=stop, page=page)
        async with contextlib.aclosing(pages):
            async for found in pages:
                for message in found:
                    notification = self.notification_of(message)
                    if wanted and notification.topic not in wanted:
                        continue
                    results.append(notification)
                    if len(results) == limit:
                        return results
        return results

    def notification_of(self, message: StoredMessage | Msg) -> Notification:
        """The notification a stored event message stands for."""
        if isinstance(message, StoredMessage):
            seq, subject, headers, payload = (
                message.seq,
                message.subject,
                message.headers,
                message.payload,
            )
        else:
            seq = message.metadata.sequence.stream
            subject, headers, payload = message.subject, message.headers or {}, message.data
        fault = envelope_verdict(subject, headers, f"{self._layout.prefix}.events.")
        if (
            fault is not None
        ):  # not an event's: the readers quarantine it (events.jetstream.quarantine)
            return Notification(
                id=seq,
                originator_id=token_of(subject) or subject,
                originator_version=0,
                topic=foreign_topic(fault),
                state=payload,
            )
        return Notification(
            id=seq,
            originator_id=self._layout.originator_id_of(subject),
            originator_version=int(headers[ORIGINATOR_VERSION]),
            topic=decode_header_text(headers[TOPIC]),
            state=payload,
        )

    def max_notification_id(self) -> int | None:
        last = self._run(
            direct_get_last(self._bridge.client, self._layout.stream, self._layout.events_filter)
        )
        return cast(StoredMessage, last).seq if last is not None else None

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return JetStreamSubscription(recorder=self, gt=gt, topics=topics)


class JetStreamTrackingRecorder(JetStreamRecorder, TrackingRecorder):
    """Positions of upstream applications, on ``hsl.<Name>.tracking.<Upstream>`` subjects."""

    def insert_tracking(self, tracking: Tracking) -> None:
        # A commit of no events and one tracking record: the same checks, retries and
        # error translation as every other commit.
        self._run(self._commit([], tracking))

    def max_tracking_id(self, application_name: str) -> int | None:
        last = self._run(self._last_tracking(application_name))
        return cast(tuple[int, int], last)[0] if last is not None else None


class JetStreamProcessRecorder(
    JetStreamTrackingRecorder, JetStreamApplicationRecorder, ProcessRecorder
):
    """Events and the upstream position they were derived from, in one atomic batch.

    Tracking records share the stream with the events (a batch cannot span streams), so a
    process application's notification ids skip the sequences its tracking records take.
    """
