r"""The views' reads over NATS: subjects, requests as JSON, replies as MessagePack.

DuckDB lets one process open a database file for writing, and no other process may open it
at all meanwhile. The projector (``hsl project``) holds ``projections.duckdb``; an API in
another process (compose's ``api`` container) can therefore not read it. So the projector
answers the API's reads (``projections.view_reads``) itself, over NATS request/reply::

    request  hsl-views.<stream>.query            JSON, one :data:`Read` (``{"read": "rooms", …}``)
    replies  hsl-views.<stream>.reply.<…>        the requester's inbox (its ``inbox_prefix``)

The subjects follow the checkpointer's ``hsl-audit.<stream>.checkpoint``: a prefix naming the
purpose, then the event stream. Replies go to an inbox under the service's own prefix, not
the clients' default ``_INBOX.>``: the projector user may then publish replies there and
nowhere else, so it can never answer in place of the JetStream API on another user's inbox
(where events read by direct get arrive). A request that does not decode gets the error
``bad-request`` naming the field; nothing runs.

**Replies keep the values' types.** The rows are what DuckDB's ``fetchall`` gives (the same
Python values the in-process path hands to the API), sent as MessagePack with an extension
type for each value MessagePack has no type for (dates, times, decimals, UUIDs, intervals,
tuples, integers beyond 64 bits): decoded, they are equal to what an in-process read returns,
so the API's JSON and CSV are the same byte for byte. A reply larger than the server's
``max_payload`` is sent in chunks (headers :data:`CHUNK` and :data:`CHUNKS`). Each reply is
``{"ok": result}`` or ``{"error": name, "detail": text}`` (:data:`ERRORS`).

The API's side is ``projections.remote_views.RemoteViews``; the projector's,
``projections.query_service.QueryService``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

import duckdb
import msgspec
from nats.aio.client import Client

from projections.view_reads import READ_NAMES, Read, run_read

SUBJECT_PREFIX: Final = "hsl-views"
CHUNK: Final = "Hsl-Views-Chunk"
CHUNKS: Final = "Hsl-Views-Chunks"
"""Reply headers: this message's index and how many make up the reply."""
HEADER_ROOM: Final = 1024
"""Bytes of ``max_payload`` left for a reply chunk's headers."""
CONNECT_TIMEOUT: Final = 5.0
"""Seconds either side waits for its NATS connection."""


def query_subject(stream: str) -> str:
    """Where the projector of the event stream ``stream`` takes read requests."""
    return f"{SUBJECT_PREFIX}.{stream}.query"


def reply_prefix(stream: str) -> str:
    """The inbox prefix of the views' requesters (``nats.connect(inbox_prefix=…)``)."""
    return f"{SUBJECT_PREFIX}.{stream}.reply"


def reply_subjects(stream: str) -> str:
    """Every reply subject: the projector publishes there, the API subscribes there."""
    return f"{reply_prefix(stream)}.>"


_REQUEST_DECODER: Final = msgspec.json.Decoder(Read)


def encode_request(read: Read) -> bytes:
    return msgspec.json.encode(read)


def decode_request(data: bytes) -> Read:
    """The read a request names; ``msgspec.ValidationError``/``DecodeError`` say what is wrong."""
    read: Read = _REQUEST_DECODER.decode(data)
    return read


ERRORS: Final[dict[str, str]] = {
    "bad-request": "the request is not one of the named reads, or a parameter is invalid",
    "query-failed": "DuckDB refused the read (e.g. the views' schema is not this version's)",
    "unsupported-value": "a value of the result has a type the reply cannot carry",
    "internal": "the query service failed (a bug); its log says more",
}
"""The errors a reply may name, and what each means."""

_EXT_DATE, _EXT_DATETIME, _EXT_TIME, _EXT_DECIMAL = 1, 2, 3, 4
_EXT_UUID, _EXT_TIMEDELTA, _EXT_TUPLE, _EXT_BIGINT = 5, 6, 7, 8
_PLAIN: Final = frozenset({str, bool, float, bytes, type(None)})
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1
_TIMEDELTA: Final = msgspec.msgpack.Decoder(tuple[int, int, int])


class UnsupportedValueError(TypeError):
    """A result value the reply has no encoding for."""


def _wrap(value: Any) -> Any:  # noqa: PLR0911 - one case per type
    """``value`` with each value MessagePack would lose the type of as an extension."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is int:
        if _INT64_MIN <= value <= _UINT64_MAX:
            return value
        return msgspec.msgpack.Ext(_EXT_BIGINT, str(value).encode())
    if kind is dict:
        return {_wrap(k): _wrap(v) for k, v in value.items()}
    if kind is list:
        return [_wrap(v) for v in value]
    if kind is tuple:
        return msgspec.msgpack.Ext(_EXT_TUPLE, _ENCODER.encode([_wrap(v) for v in value]))
    if kind is datetime:
        return msgspec.msgpack.Ext(_EXT_DATETIME, value.isoformat().encode())
    if kind is date:
        return msgspec.msgpack.Ext(_EXT_DATE, value.isoformat().encode())
    if kind is time:
        return msgspec.msgpack.Ext(_EXT_TIME, value.isoformat().encode())
    if kind is Decimal:
        return msgspec.msgpack.Ext(_EXT_DECIMAL, str(value).encode())
    if kind is UUID:
        return msgspec.msgpack.Ext(_EXT_UUID, value.bytes)
    if kind is timedelta:
        parts = (value.days, value.seconds, value.microseconds)
        return msgspec.msgpack.Ext(_EXT_TIMEDELTA, _ENCODER.encode(parts))
    msg = f"a value of type {kind.__name__} ({value!r:.60})"
    raise UnsupportedValueError(msg)


def _unwrap(code: int, data: memoryview) -> Any:  # noqa: PLR0911 - one case per type
    raw = bytes(data)
    match code:
        case 1:
            return date.fromisoformat(raw.decode())
        case 2:
            return datetime.fromisoformat(raw.decode())
        case 3:
            return time.fromisoformat(raw.decode())
        case 4:
            return Decimal(raw.decode())
        case 5:
            return UUID(bytes=raw)
        case 6:
            days, seconds, microseconds = _TIMEDELTA.decode(raw)
            return timedelta(days=days, seconds=seconds, microseconds=microseconds)
        case 7:
            return tuple(_DECODER.decode(raw))
        case 8:
            return int(raw.decode())
    msg = f"unknown extension type {code} in a views reply"
    raise ValueError(msg)


_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(ext_hook=_unwrap)


def encode_result(result: Any) -> bytes:
    """``{"ok": result}``; raises :class:`UnsupportedValueError` naming an unknown type."""
    return _ENCODER.encode({"ok": _wrap(result)})


def encode_error(name: str, detail: str) -> bytes:
    return _ENCODER.encode({"error": name, "detail": detail})


class ViewsQueryError(RuntimeError):
    """The query service answered with a named error (:data:`ERRORS`)."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"{name}: {detail}")
        self.name = name
        self.detail = detail


def decode_reply(data: bytes) -> Any:
    """The result a reply carries; raises :class:`ViewsQueryError` for an error reply."""
    reply = _DECODER.decode(data)
    if not isinstance(reply, dict) or not ("ok" in reply or "error" in reply):
        raise ViewsQueryError("internal", "the reply is neither a result nor an error")
    if "error" in reply:
        raise ViewsQueryError(str(reply["error"]), str(reply.get("detail", "")))
    return reply["ok"]


def answer(con: duckdb.DuckDBPyConnection, data: bytes) -> bytes:
    """The reply to the request ``data``, answered on ``con`` (this thread's own cursor)."""
    try:
        read = decode_request(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        return encode_error("bad-request", f"{e}; the reads are {', '.join(READ_NAMES)}")
    try:
        result = run_read(con, read)
    except duckdb.Error as e:
        return encode_error("query-failed", f"{type(e).__name__}: {e}")
    try:
        return encode_result(result)
    except UnsupportedValueError as e:
        return encode_error("unsupported-value", str(e))


async def send_reply(nc: Client, reply: str, data: bytes) -> None:
    """Publish ``data`` to ``reply``, in chunks of at most the server's payload limit."""
    size = max(1, nc.max_payload - HEADER_ROOM)
    pieces = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    for index, piece in enumerate(pieces):
        headers = {CHUNK: str(index), CHUNKS: str(len(pieces))}
        await nc.publish(reply, piece, headers=headers)
