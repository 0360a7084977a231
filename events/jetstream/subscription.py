"""Following an application's events live, for eventsourcing's ``subscribe``."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from eventsourcing.persistence import Notification, Subscription
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

if TYPE_CHECKING:
    from events.jetstream.recorders import JetStreamApplicationRecorder


class JetStreamSubscription(Subscription["JetStreamApplicationRecorder"]):
    """Follows the application's events live, from a position, via an ordered consumer.

    The server delivers only stored messages, in stream order, so nothing is seen before it
    is durable and nothing is skipped; the consumer is ephemeral and goes away on ``stop``.
    """

    _STOP = object()

    def __init__(
        self,
        recorder: JetStreamApplicationRecorder,
        gt: int | None = None,
        topics: Sequence[str] = (),
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._queue: queue.Queue[Msg | object] = queue.Queue()
        self._wanted = set(topics)
        self._stop_lock = threading.Lock()
        bridge = recorder._bridge  # shares its recorder's connection
        self._bridge = bridge
        self._sub = recorder._run(self._start(recorder, gt))

    async def _start(self, recorder: JetStreamApplicationRecorder, gt: int | None) -> Any:
        js = self._bridge.client.jetstream()
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=(gt or 0) + 1,
        )

        async def deliver(msg: Msg) -> None:
            self._queue.put(msg)

        return await js.subscribe(
            recorder.layout.events_filter,
            stream=recorder.layout.stream,
            cb=deliver,
            ordered_consumer=True,
            config=config,
        )

    def stop(self) -> None:
        with self._stop_lock:
            if self._has_been_stopped:
                return
            super().stop()
        self._queue.put(self._STOP)
        # The connection may already be closed, and then there is nothing left to undo.
        with contextlib.suppress(Exception):
            self._bridge.run(self._sub.unsubscribe(), timeout=5)

    def __next__(self) -> Notification:
        while not self._has_been_stopped:
            item = self._queue.get()
            if item is self._STOP or self._has_been_stopped:
                break
            notification = self._recorder.notification_of(cast(Msg, item))
            if self._wanted and notification.topic not in self._wanted:
                continue
            self._last_notification_id = notification.id
            return notification
        raise StopIteration
