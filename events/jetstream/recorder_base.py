"""What all our recorders share: the connection, the stream, error translation and reading.

Reads go through the one paged reader of a subject range (:func:`events.jetstream.operations.
read_range`); what they learn of an aggregate's last position is cached here for the commits
(:mod:`events.jetstream.commits`), which only saves round trips: the server checks.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast
from uuid import UUID

import msgspec
import nats.errors
import nats.js.errors
from eventsourcing.persistence import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)

from events.jetstream.bridge import NatsBridge
from events.jetstream.operations import (
    JetStreamApiError,
    StoredMessage,
    direct_get_last,
    ensure_immutable_stream,
    read_range,
)
from events.jetstream.stream_layout import TRACKING_ID, StreamLayout

_POSITION_CACHE_SIZE = 100_000
_RECENT_VERSIONS = 8


class AggregatePosition(msgspec.Struct, frozen=True):
    """The last event stored on one aggregate's subject: its version and stream sequence."""

    version: int
    seq: int


class RecorderBase:
    """What all our recorders share: the connection, the layout, the stream, reading."""

    def __init__(self, bridge: NatsBridge, layout: StreamLayout, *, create_stream: bool = True):
        self._bridge = bridge
        self._layout = layout
        self._positions: OrderedDict[str, AggregatePosition | None] = OrderedDict()
        self._sequences: OrderedDict[str, dict[int, int]] = OrderedDict()
        """Recent (version → stream sequence) per subject, for fast-forward reads."""
        if create_stream:
            self.create_stream()

    @property
    def layout(self) -> StreamLayout:
        return self._layout

    @property
    def connected(self) -> bool:
        """Whether the connection is up now (False while it reconnects): for readiness."""
        return bool(self._bridge.client.is_connected)

    @property
    def bridge(self) -> NatsBridge:
        """The connection, for stores kept beside the log
        (``events.jetstream.idempotency_store``)."""
        return self._bridge

    def create_stream(self) -> None:
        """Create the application's stream, or check that the existing one is immutable."""
        self._run(self._create_stream())

    async def _create_stream(self) -> None:
        faults = await ensure_immutable_stream(self._bridge.client, self._layout.stream_config())
        if faults:
            msg = (
                f"stream {self._layout.stream!r} exists but is not an immutable event log: "
                + "; ".join(faults)
            )
            raise OperationalError(msg)

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
            msg = f"NATS at {self._bridge.display_url} did not answer in time"
            raise OperationalError(msg) from e
        except (nats.errors.ConnectionClosedError, nats.errors.StaleConnectionError) as e:
            msg = f"connection to NATS at {self._bridge.display_url} lost: {e}"
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

    def stored_messages(self, originator_id: UUID | str) -> list[StoredMessage]:
        """One aggregate's messages as stored: sequence, server time, headers and payload.

        For auditors' timelines (``replay``), which need the stream sequence and the
        server's storage time that ``select_events`` does not return. Reads only the
        aggregate's subject.
        """
        subject = self._layout.event_subject(originator_id)
        return cast(list[StoredMessage], self._run(self._read_subject(subject)))

    def stored_range(self, start: int, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` stored messages from stream sequence ``start`` on, as stored.

        For the integrity code (``replay``), whose Merkle leaves are the messages' stored bytes
        with their sequence, subject and server time: every subject of the stream, so that a
        message someone stored beside the events (``events.jetstream.quarantine``) is a leaf
        too and the sequence has no gap.
        """
        return [m for page in self.stored_pages(start, start + limit - 1) for m in page]

    def stored_pages(
        self, start: int = 1, stop: int | None = None
    ) -> Iterator[list[StoredMessage]]:
        """The stored messages from ``start`` to ``stop`` (inclusive; None: the last), as pages.

        Every subject of the stream, as :meth:`stored_range`; one page in memory at a time.
        """
        if stop is not None and stop < start:
            return
        pages = read_range(
            self._bridge.client, self._layout.stream, self._layout.all_subjects, start, stop=stop
        )
        finished = False
        try:
            while (page := self._run(_next_page(pages))) is not None:
                yield cast(list[StoredMessage], page)
            finished = True
        finally:
            if not finished:  # a caller that stopped early; a failed close leaves it to the loop
                with contextlib.suppress(Exception):
                    self._run(pages.aclose())

    async def _read_subject(self, subject: str, start_seq: int = 1) -> list[StoredMessage]:
        """Every message on ``subject`` from ``start_seq``, in order."""
        stream = self._layout.stream
        pages = read_range(self._bridge.client, stream, subject, start_seq)
        return [message async for page in pages for message in page]

    def _remember(self, subject: str, position: AggregatePosition | None) -> None:
        """Cache the last stored position of an aggregate (used only on the loop thread).

        The last few versions' sequences are kept too: an aggregate cache usually holds a
        version a save or two behind the last, and reading from its sequence on is enough.
        """
        self._positions[subject] = position
        self._positions.move_to_end(subject)
        if len(self._positions) > _POSITION_CACHE_SIZE:
            self._positions.popitem(last=False)
        if position is None:
            return
        known = self._sequences.setdefault(subject, {})
        known[position.version] = position.seq
        if len(known) > _RECENT_VERSIONS:
            del known[min(known)]
        self._sequences.move_to_end(subject)
        if len(self._sequences) > _POSITION_CACHE_SIZE:
            self._sequences.popitem(last=False)

    def _sequence_of(self, subject: str, version: int) -> int | None:
        """The stream sequence of ``version`` on ``subject``, if remembered."""
        return self._sequences.get(subject, {}).get(version)

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


async def _next_page(pages: AsyncIterator[list[StoredMessage]]) -> list[StoredMessage] | None:
    return await anext(pages, None)
