"""The projector's side of the views' reads: answering them over NATS from its DuckDB file.

The protocol is ``projections.views_wire``'s; the API's side is
``projections.remote_views.RemoteViews``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
from pathlib import Path
from typing import Final

import duckdb
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from events.jetstream.connection import LONG_RUNNING, connect
from projections.loop_thread import LoopThread
from projections.views_wire import (
    CONNECT_TIMEOUT,
    answer,
    encode_error,
    query_subject,
    send_reply,
)

log = structlog.get_logger(__name__)

QUEUE_GROUP: Final = "hsl-views"
"""The queue group the query service subscribes in: one projector answers each request."""
WORKERS: Final = 4
"""Reads the query service runs at once (each on its own cursor of the projector's file)."""


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
        self._loop: LoopThread | None = None
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
        self._loop = LoopThread("hsl-views-service")
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
