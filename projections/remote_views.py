"""The API's side of the views' reads: sending them to the projector over NATS.

The protocol is ``projections.views_wire``'s; the projector answers with
``projections.query_service.QueryService``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import nats.errors
from nats.aio.client import Client

from events.jetstream.connection import LONG_RUNNING, connect
from projections.loop_thread import LoopThread
from projections.view_reads import Read
from projections.views_wire import (
    CHUNKS,
    CONNECT_TIMEOUT,
    decode_reply,
    encode_request,
    query_subject,
    reply_prefix,
)

QUERY_TIMEOUT: Final = 10.0
"""Seconds the API waits for the projector's answer before it answers 503."""


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
        self._loop: LoopThread | None = None
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

    def _connected(self) -> LoopThread:
        with self._lock:
            if self._loop is not None and self._nc is not None:
                return self._loop
            loop = self._loop or LoopThread("hsl-api-views")
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
