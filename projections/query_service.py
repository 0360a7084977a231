r"""The views' reads, answered by whoever holds the DuckDB file: in-process or over NATS.

DuckDB lets one process open a database file for writing, and no other process may open it
at all meanwhile. The projector (``hsl project``) holds ``projections.duckdb``; an API in
another process (compose's ``api`` container) can therefore not read it. So the projector
answers the API's reads itself, over NATS request/reply::

    request  hsl-views.<stream>.query            JSON, one :data:`Read` (``{"read": "rooms", …}``)
    replies  hsl-views.<stream>.reply.<…>        the requester's inbox (its ``inbox_prefix``)

The subjects follow the checkpointer's ``hsl-audit.<stream>.checkpoint``: a prefix naming the
purpose, then the event stream. Replies go to an inbox under the service's own prefix, not
the clients' default ``_INBOX.>``: the projector user may then publish replies there and
nowhere else, so it can never answer in place of the JetStream API on another user's inbox
(where events read by direct get arrive).

**Named reads, not SQL.** A request names one of the reads below (:data:`Read`, a tagged
union) with its parameters, decoded and validated by msgspec; the SQL is this module's own
fixed text. Nothing from the network is ever executed as SQL. A request that does not decode
gets the error ``bad-request`` naming the field; nothing runs.

**One read, one snapshot.** :func:`run_read` runs every statement of a read (a room, its
members and its plans) in one DuckDB transaction on a connection of its own (a cursor of the
projector's). DuckDB's MVCC gives that transaction a snapshot of committed data, and the
projector commits each batch (rows and tracking position) in one transaction
(``projections.runner``), so a read sees a batch entirely or not at all, never half of it.

**Replies keep the values' types.** The rows are what DuckDB's ``fetchall`` gives (the same
Python values the in-process path hands to the API), sent as MessagePack with an extension
type for each value MessagePack has no type for (dates, times, decimals, UUIDs, intervals,
tuples, integers beyond 64 bits): decoded, they are equal to what an in-process read returns,
so the API's JSON and CSV are the same byte for byte. A reply larger than the server's
``max_payload`` is sent in chunks (headers :data:`CHUNK` and :data:`CHUNKS`). Each reply is
``{"ok": result}`` or ``{"error": name, "detail": text}`` (:data:`ERRORS`).

The API's side is :class:`RemoteViews`; the projector's, :class:`QueryService`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Final, TypeVar
from uuid import UUID

import duckdb
import msgspec
import nats.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from events.jetstream.connection import LONG_RUNNING, connect
from projections.analytics import VIEWS

log = structlog.get_logger(__name__)

T = TypeVar("T")

SUBJECT_PREFIX: Final = "hsl-views"
QUEUE_GROUP: Final = "hsl-views"
"""The queue group the query service subscribes in: one projector answers each request."""
QUERY_TIMEOUT: Final = 10.0
"""Seconds the API waits for the projector's answer before it answers 503."""
WORKERS: Final = 4
"""Reads the query service runs at once (each on its own cursor of the projector's file)."""
CHUNK: Final = "Hsl-Views-Chunk"
CHUNKS: Final = "Hsl-Views-Chunks"
"""Reply headers: this message's index and how many make up the reply."""
HEADER_ROOM: Final = 1024
"""Bytes of ``max_payload`` left for a reply chunk's headers."""
CONNECT_TIMEOUT: Final = 5.0


def query_subject(stream: str) -> str:
    """Where the projector of the event stream ``stream`` takes read requests."""
    return f"{SUBJECT_PREFIX}.{stream}.query"


def reply_prefix(stream: str) -> str:
    """The inbox prefix of the views' requesters (``nats.connect(inbox_prefix=…)``)."""
    return f"{SUBJECT_PREFIX}.{stream}.reply"


def reply_subjects(stream: str) -> str:
    """Every reply subject: the projector publishes there, the API subscribes there."""
    return f"{reply_prefix(stream)}.>"


# --- the reads -------------------------------------------------------------------------------

MAX_OFFSET: Final = 2**53
"""The largest offset a read takes: past any table, within DuckDB's BIGINT (an offset past it
failed in DuckDB, a 500), and exact as a JSON number (the OpenAPI schema's ``maximum``)."""
Limit = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
Offset = Annotated[int, msgspec.Meta(ge=0, le=MAX_OFFSET)]


class _Read(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="read"):
    """A named read; the tag (``read``) is its name on the wire."""


class Ping(_Read, tag="ping", forbid_unknown_fields=True):
    """Whether the views answer (``/readyz``): ``True``."""


class Position(_Read, tag="position", forbid_unknown_fields=True):
    """The log position the views have reached (their tracking record; 0 before any)."""


class Rooms(_Read, tag="rooms", forbid_unknown_fields=True):
    """Rooms, filtered by county, town or level."""

    county: str | None = None
    town: str | None = None
    level: str | None = None
    limit: Limit = 1000
    offset: Offset = 0


class Room(_Read, tag="room", forbid_unknown_fields=True):
    """One room with its linked members and annual plans (``None``: no such room)."""

    room_id: UUID


class Topics(_Read, tag="topics", forbid_unknown_fields=True):
    """Topics, filtered by room, status or source."""

    room_id: UUID | None = None
    status: str | None = None
    source: str | None = None
    limit: Limit = 1000
    offset: Offset = 0


class Topic(_Read, tag="topic", forbid_unknown_fields=True):
    """One topic (``None``: no such topic)."""

    topic_id: UUID


class Outcomes(_Read, tag="outcomes", forbid_unknown_fields=True):
    """The closed-loop status of outcomes (``outcome_status``), by room or stage."""

    room_id: UUID | None = None
    stage: str | None = None
    limit: Limit = 1000
    offset: Offset = 0


class Analytics(_Read, tag="analytics", forbid_unknown_fields=True):
    """One of the office's analytics views (``projections.analytics.VIEWS``)."""

    view: str
    limit: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 100_000

    def __post_init__(self) -> None:
        if self.view not in VIEWS:
            msg = f"unknown analytics view {self.view!r} - at `$.view`"
            raise ValueError(msg)


class Quarantine(_Read, tag="quarantine", forbid_unknown_fields=True):
    """How many stored messages the views skipped (``events.jetstream.quarantine``) and the first
    ones: ``{"count": n, "rows": [{stream, seq, subject, kind, reason} …]}``."""

    limit: Limit = 20


Read = Ping | Position | Rooms | Room | Topics | Topic | Outcomes | Analytics | Quarantine
"""Every read the views answer."""

READ_NAMES: Final[tuple[str, ...]] = tuple(
    str(kind.__struct_config__.tag)
    for kind in (Ping, Position, Rooms, Room, Topics, Topic, Outcomes, Analytics, Quarantine)
)

Rows = list[dict[str, Any]]


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Iterable[object] = ()) -> Rows:
    cursor = con.execute(sql, list(params))
    columns = [d[0] for d in cursor.description or ()]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _where(filters: Mapping[str, object]) -> tuple[str, list[object]]:
    """``WHERE column = ? AND …`` over the filters given (column names are this module's)."""
    given = {k: v for k, v in filters.items() if v is not None}
    clause = " AND ".join(f"{k} = ?" for k in given)
    return (f" WHERE {clause}" if clause else ""), list(given.values())


def _text(value: UUID | None) -> str | None:
    return None if value is None else str(value)


def _answer(con: duckdb.DuckDBPyConnection, read: Read) -> Any:  # noqa: PLR0911 - one per read
    match read:
        case Ping():
            return _rows(con, "SELECT 1 AS ok")[0]["ok"] == 1
        case Position():
            value = _rows(con, "SELECT max(notification_id) AS n FROM tracking")[0]["n"]
            return 0 if value is None else int(value)
        case Rooms():
            where, params = _where({"county": read.county, "town": read.town, "level": read.level})
            sql = f"SELECT * FROM rooms{where} ORDER BY county, town, locality NULLS FIRST, name"
            return _rows(con, f"{sql} LIMIT ? OFFSET ?", [*params, read.limit, read.offset])
        case Room():
            ident = str(read.room_id)
            found = _rows(con, "SELECT * FROM rooms WHERE room_id = ?", [ident])
            if not found:
                return None
            room = found[0]
            room["members"] = _rows(
                con, "SELECT * FROM room_members WHERE room_id = ? ORDER BY seq", [ident]
            )
            room["plans"] = _rows(
                con, "SELECT * FROM room_plans WHERE room_id = ? ORDER BY year", [ident]
            )
            return room
        case Topics():
            filters = {"room_id": _text(read.room_id), "status": read.status, "source": read.source}
            where, params = _where(filters)
            sql = f"SELECT * FROM topics{where} ORDER BY proposed_at, topic_id LIMIT ? OFFSET ?"
            return _rows(con, sql, [*params, read.limit, read.offset])
        case Topic():
            found = _rows(con, "SELECT * FROM topics WHERE topic_id = ?", [str(read.topic_id)])
            return found[0] if found else None
        case Outcomes():
            where, params = _where({"room_id": _text(read.room_id), "stage": read.stage})
            sql = f"SELECT * FROM outcome_status{where} ORDER BY outcome_id LIMIT ? OFFSET ?"
            return _rows(con, sql, [*params, read.limit, read.offset])
        case Analytics():
            if read.view not in VIEWS:  # checked on decoding too; the name becomes SQL
                msg = f"unknown analytics view {read.view!r}"
                raise ValueError(msg)
            return _rows(con, f'SELECT * FROM "{read.view}" LIMIT ?', [read.limit])
        case Quarantine():
            count = _rows(con, "SELECT count(*) AS n FROM quarantine")[0]["n"]
            sql = "SELECT * FROM quarantine ORDER BY stream, seq LIMIT ?"
            return {"count": int(count), "rows": _rows(con, sql, [read.limit])}
    msg = f"not a read: {read!r}"  # pragma: no cover - the union is exhaustive
    raise TypeError(msg)


def run_read(con: duckdb.DuckDBPyConnection, read: Read) -> Any:
    """Answer ``read`` on ``con`` inside one transaction: one consistent snapshot.

    ``con`` must be this thread's own connection (a cursor, or a read-only connection); the
    transaction is rolled back at the end, so nothing a read could do would stay.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        return _answer(con, read)
    finally:
        with contextlib.suppress(duckdb.Error):  # an error may have ended the transaction
            con.execute("ROLLBACK")


# --- the wire: requests as JSON, replies as MessagePack keeping every value's type ----------

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


# --- an asyncio loop of our own, in a thread ---------------------------------------------


class _LoopThread:
    """An event loop run by a daemon thread; synchronous callers hand it coroutines."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


# --- the projector's side ----------------------------------------------------------------


class QueryServiceError(RuntimeError):
    """The query service cannot start (NATS unreachable, or the subject not permitted)."""


class QueryService:
    """Answers the views' reads on :func:`query_subject` from the projector's connection.

    ``start`` (in the thread that owns ``con``, before it starts applying batches) opens one
    cursor per worker, connects to NATS and subscribes in the queue group :data:`QUEUE_GROUP`;
    ``stop`` unsubscribes, lets the reads in flight answer, and closes the cursors, before the
    owner closes ``con``. Each request is answered by :func:`answer` in a worker thread on that
    worker's cursor, never on the projector's own connection.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        url: str,
        stream: str,
        *,
        workers: int = WORKERS,
        name: str = "hsl-views",
        server_file: Path | None = None,
    ) -> None:
        self.subject = query_subject(stream)
        self._con = con
        self._url = url
        self._server_file = server_file
        self._name = name
        self._workers = workers
        self._cursors: queue.SimpleQueue[duckdb.DuckDBPyConnection] = queue.SimpleQueue()
        self._opened: list[duckdb.DuckDBPyConnection] = []
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._loop: _LoopThread | None = None
        self._nc: Client | None = None
        self._sub: Subscription | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._errors: list[Exception] = []
        self._starting = True
        self.answered = 0

    def start(self) -> None:
        for _ in range(self._workers):
            cursor = self._con.cursor()
            self._opened.append(cursor)
            self._cursors.put(cursor)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            self._workers, thread_name_prefix="hsl-views-read"
        )
        self._loop = _LoopThread("hsl-views-service")
        try:
            self._loop.run(self._start(), timeout=CONNECT_TIMEOUT * 3)
        except Exception as e:
            self.stop()
            if isinstance(e, QueryServiceError):
                raise
            msg = f"cannot answer view reads on {self.subject}: {e or type(e).__name__}"
            raise QueryServiceError(msg) from e

    async def _start(self) -> None:
        async def remember(error: Exception) -> None:
            # Logged by the connection (without credentials); kept only while starting, to
            # tell a refused subscription apart: a long outage reports an error per attempt.
            if self._starting:
                self._errors.append(error)

        # Reconnects for as long as it takes; the subscription is made again on each.
        self._nc = await connect(
            self._url,
            name=self._name,
            policy=LONG_RUNNING,
            server_file=self._server_file,
            error_cb=remember,
        )
        self._sub = await self._nc.subscribe(self.subject, queue=QUEUE_GROUP, cb=self._received)
        await self._nc.flush(timeout=int(CONNECT_TIMEOUT))
        await asyncio.sleep(0.05)  # a permissions violation arrives just before the PONG
        self._starting = False
        refused = [e for e in self._errors if "permission" in str(e).lower()]
        if refused:
            msg = (
                f"NATS does not let this user subscribe to {self.subject} ({refused[0]}); "
                "the projector user needs it (docs/operations.md, NATS users)"
            )
            raise QueryServiceError(msg)

    async def _received(self, msg: Msg) -> None:
        task = asyncio.create_task(self._reply(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reply(self, msg: Msg) -> None:
        if not msg.reply or self._nc is None or self._pool is None:
            return
        loop = asyncio.get_running_loop()
        try:
            data = await loop.run_in_executor(self._pool, self._answer, msg.data)
        except Exception as e:
            log.exception("views query failed", subject=msg.subject)
            data = encode_error("internal", f"{type(e).__name__}: {e}")
        try:
            await send_reply(self._nc, msg.reply, data)
        except Exception as e:  # the requester is gone, or the reply subject not permitted
            log.warning("views reply not sent", reply=msg.reply, error=str(e))
        self.answered += 1

    def _answer(self, data: bytes) -> bytes:
        cursor = self._cursors.get()
        try:
            return answer(cursor, data)
        finally:
            self._cursors.put(cursor)

    async def _stop(self) -> None:
        if self._nc is None:
            return
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=CONNECT_TIMEOUT)
        with contextlib.suppress(Exception):
            await self._nc.close()

    def stop(self) -> None:
        """Stop answering; the reads in flight finish first. Safe to call twice."""
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.run(self._stop(), timeout=CONNECT_TIMEOUT * 3)
            self._loop.close()
            self._loop = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for cursor in self._opened:
            with contextlib.suppress(duckdb.Error):
                cursor.close()
        self._opened.clear()


async def send_reply(nc: Client, reply: str, data: bytes) -> None:
    """Publish ``data`` to ``reply``, in chunks of at most the server's payload limit."""
    size = max(1, nc.max_payload - HEADER_ROOM)
    pieces = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    for index, piece in enumerate(pieces):
        headers = {CHUNK: str(index), CHUNKS: str(len(pieces))}
        await nc.publish(reply, piece, headers=headers)


# --- the API's side -------------------------------------------------------------------------


class ViewsUnavailableError(RuntimeError):
    """No answer from the projector: ``reason`` is ``unreachable``, ``no-projector`` or
    ``timeout``; the message says what to do."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class RemoteViews:
    """The views' reads sent to the projector over NATS (``hsl serve --no-projector``).

    Connects on first use, with its own connection whose inbox prefix is
    :func:`reply_prefix`, and keeps it (reconnecting as needed). Thread-safe: the API's
    worker threads call :meth:`read` at once.
    """

    url: str
    stream: str
    timeout: float = QUERY_TIMEOUT
    name: str = "hsl-api-views"
    server_file: Path | None = None
    """The embedded server's state file, re-read on reconnect (``events.jetstream.connection``)."""

    def __post_init__(self) -> None:
        self.subject = query_subject(self.stream)
        self._lock = threading.Lock()
        self._loop: _LoopThread | None = None
        self._nc: Client | None = None

    def read(self, read: Read) -> Any:
        """The result of ``read``; :class:`ViewsUnavailableError` when nobody answers it in
        time, :class:`ViewsQueryError` when the projector answers with an error."""
        loop = self._connected()
        data = encode_request(read)
        try:
            reply = loop.run(self._request(data), timeout=self.timeout + 1)
        except (TimeoutError, concurrent.futures.TimeoutError, nats.errors.TimeoutError) as e:
            msg = f"the projector did not answer on {self.subject} within {self.timeout:g} s"
            raise ViewsUnavailableError("timeout", msg) from e
        except nats.errors.NoRespondersError as e:
            msg = f"no projector answers on {self.subject} (is `hsl project` running?)"
            raise ViewsUnavailableError("no-projector", msg) from e
        except nats.errors.Error as e:
            msg = f"cannot ask the projector on {self.subject}: {e or type(e).__name__}"
            raise ViewsUnavailableError("unreachable", msg) from e
        return decode_reply(reply)

    async def _request(self, data: bytes) -> bytes:
        nc = self._nc
        assert nc is not None
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        try:
            await nc.publish(self.subject, data, reply=inbox)
            deadline = asyncio.get_running_loop().time() + self.timeout
            pieces: list[bytes] = []
            expected = 1
            while len(pieces) < expected:
                left = deadline - asyncio.get_running_loop().time()
                msg = await sub.next_msg(timeout=max(left, 0.001))
                headers = msg.headers or {}
                if headers.get("Status") == "503":
                    raise nats.errors.NoRespondersError
                expected = int(headers.get(CHUNKS, "1"))
                pieces.append(msg.data)
            return b"".join(pieces)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    def _connected(self) -> _LoopThread:
        with self._lock:
            if self._loop is not None and self._nc is not None:
                return self._loop
            loop = self._loop or _LoopThread("hsl-api-views")
            self._loop = loop
            try:
                self._nc = loop.run(self._connect(), timeout=CONNECT_TIMEOUT * 2)
            except Exception as e:
                msg = f"cannot reach NATS to ask the projector: {e or type(e).__name__}"
                raise ViewsUnavailableError("unreachable", msg) from e
            return loop

    async def _connect(self) -> Client:
        return await connect(
            self.url,
            name=self.name,
            policy=LONG_RUNNING,
            inbox_prefix=reply_prefix(self.stream),
            server_file=self.server_file,
        )

    def close(self) -> None:
        with self._lock:
            loop, nc = self._loop, self._nc
            self._loop = self._nc = None
        if loop is None:
            return
        if nc is not None:
            with contextlib.suppress(Exception):
                loop.run(nc.close(), timeout=CONNECT_TIMEOUT)
        loop.close()
