"""The JetStream requests our recorders make: commits (atomic batches) and direct reads.

nats-py has no helper for ADR-50 atomic batches or for multi-message direct gets, so both are
spelled out here against the server's wire API. Everything is async and runs on the bridge's
loop; errors come back as values (:class:`PubAck` with an error code) or as
:class:`JetStreamApiError`, and the recorders decide what they mean.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass

import msgspec
import nats.errors as nats_errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import Header, StreamConfig

from events.jetstream.stream_layout import immutability_faults

MAX_BATCH_MESSAGES = 1000
"""ADR-50: an atomic batch holds at most 1,000 messages."""

REQUEST_TIMEOUT = 5.0

READ_PAGE = 10_000
"""Messages asked for per direct-get request: the page of every read of a subject range."""
NO_RESPONDERS = 503
"""The status a direct get comes back with when no stream answers: it does not exist (yet)."""

# Server error codes (nats-server errors.json) that the recorders tell apart.
WRONG_LAST_SEQUENCE = frozenset({10071, 10164})
"""The subject's last sequence is not the one the commit expected: someone wrote first."""
DUPLICATE_MESSAGE_ID = 10201
"""An atomic batch carries a message id the server has already stored (a retried commit)."""
ATOMIC_PUBLISH_DISABLED = 10174
ATOMIC_BATCH_INCOMPLETE = 10176
"""The server could not take the batch whole: for a batch sent whole, it could not stage it."""


CONNECTION_ERRORS = (
    nats_errors.ConnectionClosedError,
    nats_errors.StaleConnectionError,
    nats_errors.ConnectionReconnectingError,
    nats_errors.OutboundBufferLimitError,
)
"""Raised by a send on a connection that broke: what was sent may have reached the server."""


class JetStreamApiError(Exception):
    """The server answered a JetStream API request with an error."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"{description} (error {code})")
        self.code = code
        self.description = description


class _ApiError(msgspec.Struct):
    code: int = 0
    err_code: int = 0
    description: str = ""


class PubAck(msgspec.Struct):
    """The server's answer to a publish or to the commit of an atomic batch."""

    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    count: int = 0
    error: _ApiError | None = None


_decode_ack = msgspec.json.Decoder(PubAck).decode


@dataclass(frozen=True)
class OutgoingMessage:
    subject: str
    headers: dict[str, str]
    payload: bytes

    def wire_size(self) -> int:
        """Bytes the server counts against ``max_payload``: header block plus payload.

        Our header names and values are ASCII (see ``encode_header_text``), so characters
        are bytes.
        """
        header_block = len(b"NATS/1.0\r\n\r\n") + sum(
            len(k) + len(v) + 4 for k, v in self.headers.items()
        )
        return header_block + len(self.payload)


@dataclass(frozen=True)
class StoredMessage:
    """One message as the server stored it."""

    seq: int
    subject: str
    headers: dict[str, str]
    payload: bytes
    timestamp: str
    """The server's storage time, RFC 3339 in UTC."""


async def commit(nc: Client, messages: Sequence[OutgoingMessage]) -> PubAck:
    """Store ``messages`` all or none: one publish, or one ADR-50 atomic batch.

    The batch's messages before the last are published without waiting (the server keeps
    their order on one connection); only the commit waits for the ack, so a commit of any
    size costs one round trip. A single message is a plain publish: staging it as a batch
    would cost the server an extra file and its flushes per commit (docs/performance.md).
    On a full disk a batch is refused cleanly; a plain publish that fails mid-write leaves
    its stream answering no write until the server restarts.
    """
    if len(messages) == 1:
        only = messages[0]
        reply = await nc.request(
            only.subject, only.payload, timeout=REQUEST_TIMEOUT, headers=only.headers
        )
        return _decode_ack(reply.data)
    batch_id = uuid.uuid4().hex
    last = len(messages)
    for position, message in enumerate(messages, start=1):
        headers = {
            **message.headers,
            Header.BATCH_ID.value: batch_id,
            Header.BATCH_SEQUENCE.value: str(position),
        }
        if position < last:
            await nc.publish(message.subject, message.payload, headers=headers)
        else:
            headers[Header.BATCH_COMMIT.value] = "1"
            reply = await nc.request(
                message.subject, message.payload, timeout=REQUEST_TIMEOUT, headers=headers
            )
            return _decode_ack(reply.data)
    raise AssertionError("unreachable: an empty commit is never sent")


def discard_unsent(nc: Client) -> None:
    """Drop what a disconnected client holds to send once it reconnects.

    nats-py keeps publishes made while it reconnects, and sends them when it is back, however
    late. A commit given up as "result unknown" must not be stored after that: a retry may
    by then have stored the same request anew. Only ever called while disconnected.
    """
    if nc.is_connected:
        return
    if isinstance(getattr(nc, "_pending", None), list):
        nc._pending = []
        nc._pending_data_size = 0


async def direct_get_last(nc: Client, stream: str, subject: str) -> StoredMessage | None:
    """The last message stored on ``subject`` (wildcards allowed), or None."""
    request = msgspec.json.encode({"last_by_subj": subject})
    reply = await nc.request(f"$JS.API.DIRECT.GET.{stream}", request, timeout=REQUEST_TIMEOUT)
    return _stored_or_none(reply)


async def direct_get_range(
    nc: Client,
    stream: str,
    subject: str,
    start_seq: int,
    batch: int,
) -> tuple[list[StoredMessage], int]:
    """Up to ``batch`` messages on ``subject`` from ``start_seq`` on, in sequence order.

    Returns the messages and how many more match after them (0 means the end was reached).
    The server walks its per-subject index, so reading one aggregate reads only its subject.
    """
    messages: list[StoredMessage] = []
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[tuple[list[StoredMessage], int]] = loop.create_future()

    async def collect(reply: Msg) -> None:
        # A callback rather than next_msg(): no per-message timeout machinery.
        if ended.done():
            return
        headers = reply.headers
        status = headers.get("Status") if headers else None
        if status is None:
            messages.append(_stored(reply))
        elif status == "204":  # end of batch
            ended.set_result((messages, int((headers or {}).get("Nats-Num-Pending", "0"))))
        elif status == "404":  # nothing (more) on that subject
            ended.set_result((messages, 0))
        else:
            ended.set_exception(_status_error(reply))

    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, cb=collect, pending_msgs_limit=-1, pending_bytes_limit=-1)
    try:
        request = msgspec.json.encode(
            {"seq": max(start_seq, 1), "batch": batch, "next_by_subj": subject}
        )
        await nc.publish(f"$JS.API.DIRECT.GET.{stream}", request, reply=inbox)
        try:
            return await asyncio.wait_for(ended, REQUEST_TIMEOUT + batch / 10_000)
        except TimeoutError as e:
            msg = f"direct get on {stream!r} got no end-of-batch in time"
            raise nats_errors.TimeoutError(msg) from e
    finally:
        await sub.unsubscribe()


async def read_range(
    nc: Client,
    stream: str,
    subject: str,
    start: int = 1,
    *,
    stop: int | None = None,
    page: int = READ_PAGE,
    missing_is_empty: bool = False,
) -> AsyncGenerator[list[StoredMessage], None]:
    """The messages on ``subject`` from sequence ``start`` to ``stop`` (inclusive; None: to the
    last), in sequence order, a page of up to ``page`` at a time: the one paged reader.

    The end is a page with nothing pending after it, or an empty one: a page shorter than
    asked is not the end (the server caps a batch's bytes). ``missing_is_empty``: a stream
    nobody answers for (not created yet) reads as holding nothing from there on.
    """
    seq = max(start, 1)
    while stop is None or seq <= stop:
        ask = page if stop is None else min(page, stop - seq + 1)
        try:
            messages, pending = await direct_get_range(nc, stream, subject, seq, ask)
        except JetStreamApiError as e:
            if missing_is_empty and e.code == NO_RESPONDERS:
                return
            raise
        if stop is not None and messages and messages[-1].seq > stop:
            messages = [m for m in messages if m.seq <= stop]
            pending = 0
        if messages:
            yield messages
        if not messages or pending == 0:
            return
        seq = messages[-1].seq + 1


async def read_backwards(
    nc: Client, stream: str, subject: str, before: int, page: int = READ_PAGE
) -> AsyncIterator[StoredMessage]:
    """The messages on ``subject`` stored before sequence ``before``, the latest first.

    For a reader that looks for the last message it can use (``events.jetstream.quarantine``:
    the ones after it are not its own), a window of ``page`` sequences at a time, each window
    read whole (:func:`read_range`).
    """
    end = before
    while end > 1:
        start = max(1, end - page)
        window = [
            m async for found in read_range(nc, stream, subject, start, stop=end - 1) for m in found
        ]
        for message in reversed(window):
            yield message
        end = start


def _stored_or_none(reply: Msg) -> StoredMessage | None:
    status = (reply.headers or {}).get("Status")
    if status == "404":
        return None
    if status is not None:
        raise _status_error(reply)
    return _stored(reply)


def _stored(reply: Msg) -> StoredMessage:
    headers = dict(reply.headers or {})
    return StoredMessage(
        seq=int(headers.pop("Nats-Sequence")),
        subject=headers.pop("Nats-Subject"),
        timestamp=headers.pop("Nats-Time-Stamp", ""),
        headers={
            k: v
            for k, v in headers.items()
            if k not in ("Nats-Stream", "Nats-Num-Pending", "Nats-Last-Sequence")
        },
        payload=reply.data,
    )


def _status_error(reply: Msg) -> JetStreamApiError:
    headers = reply.headers or {}
    status = headers.get("Status", "?")
    description = str(headers.get(Header.DESCRIPTION, "") or headers.get("Description", ""))
    return JetStreamApiError(int(status) if status.isdigit() else 0, description or "error")


STREAM_NAME_IN_USE = 10058
"""JetStream's error code for creating a stream whose name exists."""


async def ensure_immutable_stream(nc: Client, config: StreamConfig) -> list[str]:
    """Create the stream; if it exists already, what would let a message of it be removed.

    An empty list: the stream is there and immutable. Callers turn faults into their error.
    """
    js = nc.jetstream()
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError as e:
        if e.err_code != STREAM_NAME_IN_USE:
            raise
        assert config.name is not None
        info = await js.stream_info(config.name)
        return immutability_faults(info.config)
    return []
