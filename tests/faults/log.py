"""What the log holds, read from the stream itself (not through the application).

Each event's marker is the text a client request put in it (a room's name, a plan's summary);
a direct commit marks its events ``<marker>/<part>``. Counting stored events per marker is
what :func:`tests.faults.figures.match` compares with the clients' ledgers.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

import msgspec
import nats

from events.jetstream.operations import read_range
from events.jetstream.stream_layout import StreamLayout
from replay.checkpointer import read_checkpoints
from service.feed.stream import public_stream
from service.nats.embedded import connect_url
from tests.faults.figures import MARK
from tests.faults.procs import Workspace

STREAM = "hsl"
MARKED_FIELDS = ("name", "summary")


@dataclass(frozen=True)
class StoredLog:
    """The events of the stream: how many, and how many per marker."""

    events: int
    last_seq: int
    markers: Counter[str]
    undecodable: int


def service_url(ws: Workspace) -> str:
    """A URL to read the log with: the cluster's, or the embedded server's (as ``service``;
    the server is started if it is down, as any `hsl` command would)."""
    return ws.nats_url or connect_url(ws.settings).url


async def _read(url: str, subjects: str, stream: str) -> list[bytes]:
    nc = await nats.connect(url.split(","), connect_timeout=5, max_reconnect_attempts=3)
    try:
        return [m.payload async for page in read_range(nc, stream, subjects) for m in page]
    finally:
        await nc.close()


def marker_of(payload: bytes) -> str | None:
    """The marker a request put in this event, without a direct commit's ``/part``."""
    try:
        event = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return None
    if not isinstance(event, dict):
        return None
    for name in MARKED_FIELDS:
        value = event.get(name)
        if isinstance(value, str) and value.startswith(MARK):
            return value.split("/", 1)[0]
    return ""


def stored_log(ws: Workspace) -> StoredLog:
    """Every event of the log, counted per marker."""
    layout = StreamLayout(STREAM)
    payloads = asyncio.run(_read(service_url(ws), layout.events_filter, STREAM))
    markers: Counter[str] = Counter()
    undecodable = 0
    for payload in payloads:
        marker = marker_of(payload)
        if marker is None:
            undecodable += 1
        elif marker:
            markers[marker] += 1
    return StoredLog(len(payloads), len(payloads), markers, undecodable)


async def _stream_info(url: str, stream: str) -> tuple[int, int]:
    nc = await nats.connect(url.split(","), connect_timeout=5, max_reconnect_attempts=3)
    try:
        info = await nc.jetstream().stream_info(stream)
        return int(info.state.messages), int(info.config.num_replicas or 1)
    except nats.js.errors.NotFoundError:
        return 0, 0
    finally:
        await nc.close()


def stream_state(ws: Workspace, stream: str = STREAM) -> tuple[int, int]:
    """(messages, replicas) of ``stream``; (0, 0) when it does not exist."""
    return asyncio.run(_stream_info(service_url(ws), stream))


def public_count(ws: Workspace) -> int:
    try:
        return stream_state(ws, public_stream(STREAM))[0]
    except Exception:
        return 0


async def _checkpoint_sizes(url: str) -> list[int]:
    nc = await nats.connect(url.split(","), connect_timeout=5, max_reconnect_attempts=3)
    try:
        return [int(c.note.splitlines()[1]) for c in await read_checkpoints(nc, STREAM)]
    finally:
        await nc.close()


def checkpoint_sizes(ws: Workspace) -> list[int]:
    """The tree size of each checkpoint signed so far, oldest first."""
    return asyncio.run(_checkpoint_sizes(service_url(ws)))
