"""eventsourcing persistence module on NATS JetStream.

Select it the library's standard way::

    PERSISTENCE_MODULE=events.jetstream NATS_URL=nats://127.0.0.1:4222

and any eventsourcing ``Application`` stores its events in its own JetStream stream (see
:mod:`events.stream_layout`). What the recorders guarantee, each checked by the server:

- the stream sequence is the notification id; an application's stream holds only its events,
  so ids are gap-free;
- optimistic concurrency per aggregate: every commit names, per aggregate, the subject
  sequence it expects to be last; a stale version writes nothing and raises ``IntegrityError``;
- atomic commits: all events of one ``insert_events`` (one or several aggregates, and a
  process application's tracking position) form one ADR-50 atomic batch;
- idempotent retry: a commit whose acknowledgement was lost is retried with the same message
  ids, and a retry that the server refuses is checked against what is stored before it is
  called a conflict;
- immutability: the stream denies delete and purge, refuses roll-ups and has no limits.

NATS errors are translated here into the library's PEP 249 errors.
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

import msgspec
import nats.errors
import nats.js.errors
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    DatabaseError,
    DataError,
    InfrastructureFactory,
    IntegrityError,
    InterfaceError,
    Notification,
    OperationalError,
    ProcessRecorder,
    ProgrammingError,
    StoredEvent,
    Subscription,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.utils import Environment, EnvType, resolve_topic, strtobool
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy, Header

from events.jetstream_ops import (
    ATOMIC_PUBLISH_DISABLED,
    DUPLICATE_MESSAGE_ID,
    MAX_BATCH_MESSAGES,
    WRONG_LAST_SEQUENCE,
    JetStreamApiError,
    OutgoingMessage,
    PubAck,
    StoredMessage,
    commit,
    direct_get_last,
    direct_get_range,
)
from events.nats_bridge import NatsBridge
from events.stream_layout import (
    ORIGINATOR_VERSION,
    TOPIC,
    TRACKING_ID,
    StreamLayout,
    decode_header_text,
    encode_header_text,
    immutability_faults,
)

MIN_SERVER_VERSION = (2, 12, 0)
"""Atomic batch publish (ADR-50) arrived in nats-server 2.12."""

MAX_COMMIT_ATTEMPTS = 5
"""Attempts per commit: a stale cached position or a lost ack costs one more each."""

READ_PAGE = 10_000
"""Messages asked for per direct-get request when reading ranges."""

_POSITION_CACHE_SIZE = 100_000

_STREAM_NAME_IN_USE = 10058


class _AggregatePosition(msgspec.Struct, frozen=True):
    """The last event stored on one aggregate's subject: its version and stream sequence."""

    version: int
    seq: int


class JetStreamRecorder:
    """What all our recorders share: the connection, the layout, the stream."""

    def __init__(self, bridge: NatsBridge, layout: StreamLayout, *, create_stream: bool = True):
        self._bridge = bridge
        self._layout = layout
        self._positions: OrderedDict[str, _AggregatePosition | None] = OrderedDict()
        if create_stream:
            self.create_stream()

    @property
    def layout(self) -> StreamLayout:
        return self._layout

    def create_stream(self) -> None:
        """Create the application's stream, or check that the existing one is immutable."""
        self._run(self._create_stream())

    async def _create_stream(self) -> None:
        js = self._bridge.client.jetstream()
        config = self._layout.stream_config()
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError as e:
            if e.err_code != _STREAM_NAME_IN_USE:
                raise
            info = await js.stream_info(self._layout.stream)
            faults = immutability_faults(info.config)
            if faults:
                msg = (
                    f"stream {self._layout.stream!r} exists but is not an immutable event log: "
                    + "; ".join(faults)
                )
                raise OperationalError(msg) from e

    def _run(self, coro: Any) -> Any:
        """Run a coroutine on the connection's loop, translating NATS errors (PEP 249)."""
        try:
            return self._bridge.run(coro)
        except (IntegrityError, DatabaseError, InterfaceError):
            raise
        except nats.errors.MaxPayloadError as e:
            msg = f"message larger than the server's max_payload: {e}"
            raise DataError(msg) from e
        except nats.errors.NoRespondersError as e:
            msg = (
                f"no JetStream stream answers for {self._layout.stream!r}: "
                "is JetStream enabled and the stream created?"
            )
            raise OperationalError(msg) from e
        except nats.errors.TimeoutError as e:
            msg = f"NATS at {self._bridge.url} did not answer in time"
            raise OperationalError(msg) from e
        except (nats.errors.ConnectionClosedError, nats.errors.StaleConnectionError) as e:
            msg = f"connection to NATS at {self._bridge.url} lost: {e}"
            raise OperationalError(msg) from e
        except nats.js.errors.APIError as e:
            msg = f"JetStream refused the request: {e.description} (error {e.err_code})"
            raise OperationalError(msg) from e
        except JetStreamApiError as e:
            raise OperationalError(str(e)) from e
        except nats.errors.Error as e:
            msg = f"NATS error: {e}"
            raise OperationalError(msg) from e

    # --- reading -----------------------------------------------------------------------

    async def _read_subject(self, subject: str, start_seq: int = 1) -> list[StoredMessage]:
        """Every message on ``subject`` from ``start_seq``, in order, page by page."""
        nc = self._bridge.client
        messages: list[StoredMessage] = []
        while True:
            page, pending = await direct_get_range(
                nc, self._layout.stream, subject, start_seq, READ_PAGE
            )
            messages.extend(page)
            if not page or pending == 0:
                return messages
            start_seq = page[-1].seq + 1

    def _remember(self, subject: str, position: _AggregatePosition | None) -> None:
        """Cache the last stored position of an aggregate (used only on the loop thread)."""
        self._positions[subject] = position
        self._positions.move_to_end(subject)
        if len(self._positions) > _POSITION_CACHE_SIZE:
            self._positions.popitem(last=False)

    async def _last_tracking(self, application_name: str) -> tuple[int, int] | None:
        """(notification id, stream sequence) of the last tracking record, or None."""
        last = await direct_get_last(
            self._bridge.client,
            self._layout.stream,
            self._layout.tracking_subject(application_name),
        )
        if last is None:
            return None
        return int(last.headers[TRACKING_ID]), last.seq

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
        seen: set[tuple[str, int]] = set()
        for event in events:
            key = (str(event.originator_id), event.originator_version)
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

    def _event_message(self, event: StoredEvent, expected_last_seq: int | None) -> OutgoingMessage:
        headers = {
            TOPIC: encode_header_text(event.topic),
            ORIGINATOR_VERSION: str(event.originator_version),
            # Same id on a retried commit: the server stores it once (duplicate window).
            Header.MSG_ID.value: f"{event.originator_id}:{event.originator_version}",
        }
        if expected_last_seq is not None:
            headers[Header.EXPECTED_LAST_SUBJECT_SEQUENCE.value] = str(expected_last_seq)
        return OutgoingMessage(
            subject=self._layout.event_subject(event.originator_id),
            headers=headers,
            payload=event.state,
        )

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
            messages.append(self._event_message(event, expected))
        return messages

    async def _commit(
        self, events: Sequence[StoredEvent], tracking: Tracking | None = None
    ) -> list[int]:
        """Store ``events`` (and ``tracking``) atomically; return their stream sequences."""
        self._check_commit(events, extra=1 if tracking else 0)
        maybe_stored = False  # True once an attempt may have been stored without our knowing
        for _attempt in range(MAX_COMMIT_ATTEMPTS):
            messages = self._event_messages(events)
            if tracking is not None:
                messages.append(await self._tracking_message(tracking))
            self._check_sizes(messages, events)
            try:
                ack = await commit(self._bridge.client, messages)
            except nats.errors.TimeoutError:
                maybe_stored = True
                continue
            if ack.error is None and not ack.duplicate:
                return self._committed(events, ack)
            if ack.error is not None and ack.error.err_code == ATOMIC_PUBLISH_DISABLED:
                msg = f"stream {self._layout.stream!r} does not allow atomic batch publish"
                raise OperationalError(msg)
            if ack.error is not None and (
                ack.error.err_code not in WRONG_LAST_SEQUENCE
                and ack.error.err_code != DUPLICATE_MESSAGE_ID
            ):
                msg = f"JetStream refused the commit: {ack.error.description} ({ack.error.err_code})"
                raise DatabaseError(msg)
            # Refused as stale or duplicate: look at what is stored before calling it a conflict.
            if maybe_stored:
                stored = await self._find_stored(events)
                if stored is not None:
                    return stored
            await self._refresh_positions(events, tracking)
        msg = f"commit to {self._layout.stream!r} failed after {MAX_COMMIT_ATTEMPTS} attempts"
        raise OperationalError(msg)

    def _check_sizes(self, messages: Sequence[OutgoingMessage], events: Sequence[StoredEvent]) -> None:
        limit = self._bridge.client.max_payload
        for position, message in enumerate(messages):
            size = message.wire_size() + 80  # batch headers added at send time
            if size > limit:
                what = (
                    f"event version {events[position].originator_version} of aggregate "
                    f"{events[position].originator_id}"
                    if position < len(events)
                    else "the tracking record"
                )
                msg = (
                    f"{what} is {size} bytes; the NATS server accepts at most {limit} bytes "
                    "per message (max_payload). Nothing was written."
                )
                raise DataError(msg)

    def _committed(self, events: Sequence[StoredEvent], ack: PubAck) -> list[int]:
        count = ack.count or 1
        first_seq = ack.seq - count + 1
        sequences = list(range(first_seq, first_seq + len(events)))
        for event, seq in zip(events, sequences, strict=True):
            subject = self._layout.event_subject(event.originator_id)
            self._remember(subject, _AggregatePosition(event.originator_version, seq))
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
            version = int(last.headers[ORIGINATOR_VERSION])
            self._remember(subject, _AggregatePosition(version, last.seq))
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
                by_subject[subject] = {
                    int(m.headers[ORIGINATOR_VERSION]): m for m in await self._read_subject(subject)
                }
            found = by_subject[subject].get(event.originator_version)
            if found is None or found.payload != event.state:
                return None
            if decode_header_text(found.headers[TOPIC]) != event.topic:
                return None
            sequences.append(found.seq)
        for event, seq in zip(events, sequences, strict=True):
            subject = self._layout.event_subject(event.originator_id)
            self._remember(subject, _AggregatePosition(event.originator_version, seq))
        return sequences


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
            messages = await self._read_subject(subject)
            if messages:
                last_version = int(messages[-1].headers[ORIGINATOR_VERSION])
                self._remember(subject, _AggregatePosition(last_version, messages[-1].seq))
            else:
                self._remember(subject, None)
        selected = []
        for message in messages:
            version = int(message.headers[ORIGINATOR_VERSION])
            if gt is not None and version <= gt:
                continue
            if lte is not None and version > lte:
                continue
            selected.append(
                StoredEvent(
                    originator_id=originator_id,
                    originator_version=version,
                    topic=decode_header_text(message.headers[TOPIC]),
                    state=message.payload,
                )
            )
        if desc:
            selected.reverse()
        return selected[:limit] if limit is not None else selected


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
        seq = first
        while len(results) < limit and (stop is None or seq <= stop):
            ask = READ_PAGE if wanted else min(limit - len(results), READ_PAGE)
            if stop is not None:
                ask = min(ask, stop - seq + 1)
            page, pending = await direct_get_range(
                self._bridge.client, self._layout.stream, self._layout.events_filter, seq, ask
            )
            for message in page:
                if stop is not None and message.seq > stop:
                    return results
                notification = self.notification_of(message)
                if wanted and notification.topic not in wanted:
                    continue
                results.append(notification)
                if len(results) == limit:
                    return results
            if not page or pending == 0:
                break
            seq = page[-1].seq + 1
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


class JetStreamSubscription(Subscription[JetStreamApplicationRecorder]):
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
        bridge = recorder._bridge  # noqa: SLF001 - the subscription shares its recorder's connection
        self._bridge = bridge
        self._sub = recorder._run(self._start(recorder, gt))  # noqa: SLF001

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
        try:
            self._bridge.run(self._sub.unsubscribe(), timeout=5)
        except Exception:  # noqa: S110 - the connection may already be closed; nothing to undo
            pass

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


class JetStreamTrackingRecorder(JetStreamRecorder, TrackingRecorder):
    """Positions of upstream applications, on ``hsl.<Name>.tracking.<Upstream>`` subjects."""

    def insert_tracking(self, tracking: Tracking) -> None:
        self._run(self._insert_tracking(tracking))

    async def _insert_tracking(self, tracking: Tracking) -> None:
        for _attempt in range(MAX_COMMIT_ATTEMPTS):
            message = await self._tracking_message(tracking)
            ack = await commit(self._bridge.client, [message])
            if ack.error is None:
                return
            if ack.error.err_code not in WRONG_LAST_SEQUENCE:
                msg = f"JetStream refused the tracking record: {ack.error.description}"
                raise DatabaseError(msg)
        msg = f"tracking record for {tracking.application_name!r} kept being overtaken"
        raise OperationalError(msg)

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


class JetStreamFactory(InfrastructureFactory[JetStreamTrackingRecorder]):
    """Builds JetStream recorders for one application, over one shared NATS connection."""

    NATS_URL = "NATS_URL"
    JETSTREAM_REPLICAS = "JETSTREAM_REPLICAS"
    CREATE_TABLE = "CREATE_TABLE"

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        url = self.env.get(self.NATS_URL)
        if not url:
            msg = (
                "NATS_URL is not set: point it at a NATS server with JetStream "
                "(the 'hsl' command starts the bundled one and sets it)"
            )
            raise OperationalError(msg)
        self._bridge = NatsBridge(url, name=f"haoshangliang[{self.env.name or 'default'}]")
        try:
            self._check_server_version()
            replicas = int(self.env.get(self.JETSTREAM_REPLICAS, "1"))
        except BaseException:
            self._bridge.close()
            raise
        self._replicas = replicas

    def _check_server_version(self) -> None:
        version = self._bridge.client.connected_server_version
        have = (version.major, version.minor, version.patch)
        if have < MIN_SERVER_VERSION:
            msg = (
                f"the NATS server at {self._bridge.url} runs {'.'.join(map(str, have))}; "
                "haoshangliang needs nats-server >= 2.12 for atomic batch publish (ADR-50)"
            )
            raise OperationalError(msg)

    def _layout(self, purpose: str = "events") -> StreamLayout:
        name = self.env.name or "default"
        if purpose != "events":
            name = f"{name}_{purpose}"
        return StreamLayout.for_application(name, replicas=self._replicas)

    def _create_stream(self) -> bool:
        return strtobool(self.env.get(self.CREATE_TABLE) or "yes")

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        return JetStreamAggregateRecorder(
            self._bridge, self._layout(purpose), create_stream=self._create_stream()
        )

    def application_recorder(self) -> ApplicationRecorder:
        return JetStreamApplicationRecorder(
            self._bridge, self._layout(), create_stream=self._create_stream()
        )

    def tracking_recorder(
        self, tracking_recorder_class: type[JetStreamTrackingRecorder] | None = None
    ) -> JetStreamTrackingRecorder:
        if tracking_recorder_class is None:
            topic = self.env.get(self.TRACKING_RECORDER_TOPIC)
            tracking_recorder_class = (
                resolve_topic(topic) if topic else JetStreamTrackingRecorder
            )
        assert tracking_recorder_class is not None
        if not issubclass(tracking_recorder_class, JetStreamTrackingRecorder):
            msg = f"{tracking_recorder_class} is not a JetStreamTrackingRecorder"
            raise ProgrammingError(msg)
        return tracking_recorder_class(
            self._bridge, self._layout(), create_stream=self._create_stream()
        )

    def process_recorder(self) -> ProcessRecorder:
        return JetStreamProcessRecorder(
            self._bridge, self._layout(), create_stream=self._create_stream()
        )

    def close(self) -> None:
        self._bridge.close()


Factory = JetStreamFactory
