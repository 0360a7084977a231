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
  called a conflict; one still unresolved raises ``ResultUnknownError``, never "not stored"
  (:mod:`events.write_errors`);
- immutability: the stream denies delete and purge, refuses roll-ups and has no limits.

NATS errors are translated into the library's PEP 249 errors where the recorders call the
connection (:meth:`events.jetstream_commits.JetStreamRecorder._run`); a commit's failure is
one of :mod:`events.write_errors`' ``OperationalError`` subclasses, saying whether anything
may have been stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
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

from events.jetstream_commits import (
    READ_PAGE,
    AggregatePosition,
    JetStreamRecorder,
)
from events.jetstream_ops import (
    StoredMessage,
    direct_get_last,
    direct_get_range,
)
from events.jetstream_subscription import JetStreamSubscription
from events.nats_bridge import NatsBridge
from events.quarantine import (
    Quarantined,
    QuarantinedError,
    envelope_verdict,
    foreign_topic,
    token_of,
)
from events.server_version import MIN_SERVER_VERSION
from events.stream_layout import (
    ORIGINATOR_VERSION,
    TOPIC,
    StreamLayout,
    decode_header_text,
)


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

        Such a message raises :class:`~events.quarantine.QuarantinedError` when a read reaches
        it; a payload that does not decode fails in the mapper, naming the aggregate too.
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
        fault = envelope_verdict(subject, headers, f"{self._layout.prefix}.events.")
        if fault is not None:  # not an event's: the readers quarantine it (events.quarantine)
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


class JetStreamFactory(InfrastructureFactory[JetStreamTrackingRecorder]):
    """Builds JetStream recorders for one application, over one shared NATS connection."""

    NATS_URL = "NATS_URL"
    NATS_SERVER_FILE = "NATS_SERVER_FILE"
    """Optional: a JSON file whose ``url`` says where the server is now (the embedded
    server's ``server.json``), re-read on reconnect (``events.nats_connection``)."""
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
        server_file = self.env.get(self.NATS_SERVER_FILE)
        self._bridge = NatsBridge(
            url,
            name=f"haoshangliang[{self.env.name or 'default'}]",
            server_file=Path(server_file) if server_file else None,
        )
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
                f"the NATS server at {self._bridge.display_url} runs {'.'.join(map(str, have))}; "
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
            tracking_recorder_class = resolve_topic(topic) if topic else JetStreamTrackingRecorder
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
