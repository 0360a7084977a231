"""A NATS connection for synchronous callers.

eventsourcing's recorders are called from ordinary threads (the library's own test cases use
thread pools), while nats-py is asyncio-only. One event loop runs in a daemon thread and owns
the connection; callers hand it coroutines and wait for their results. All recorder state that
the loop touches is touched only on the loop, so it needs no locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import nats
from eventsourcing.persistence import InterfaceError, OperationalError
from nats.aio.client import Client

T = TypeVar("T")

CONNECT_TIMEOUT = 5.0


class NatsBridge:
    """Owns one NATS connection and the event loop thread that drives it."""

    def __init__(self, url: str, name: str = "haoshangliang") -> None:
        self.url = url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"nats-loop[{name}]", daemon=True
        )
        self._thread.start()
        self._closed = False
        try:
            self.client: Client = self.run(
                nats.connect(
                    url,
                    name=name,
                    connect_timeout=CONNECT_TIMEOUT,
                    max_reconnect_attempts=-1,
                    allow_reconnect=True,
                )
            )
        except Exception as e:
            self._stop_loop()
            msg = f"cannot connect to NATS at {url}: {e or type(e).__name__}"
            raise OperationalError(msg) from e

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the connection's loop and return its result in this thread."""
        if self._closed:
            coro.close()
            msg = f"the NATS connection to {self.url} is closed"
            raise InterfaceError(msg)
        if threading.current_thread() is self._thread:
            coro.close()
            msg = "a recorder was called from its own NATS loop thread; call it from another thread"
            raise InterfaceError(msg)
        # A bare lock instead of run_coroutine_threadsafe's chained futures: the thread hop
        # is most of a commit's client-side cost (docs/performance.md).
        finished = threading.Lock()
        finished.acquire()
        outcome: list[asyncio.Task[T]] = []

        def on_done(task: asyncio.Task[T]) -> None:
            outcome.append(task)
            finished.release()

        def start() -> None:
            self._loop.create_task(coro).add_done_callback(on_done)

        self._loop.call_soon_threadsafe(start)
        if not finished.acquire(timeout=-1 if timeout is None else timeout):
            msg = f"no answer from the NATS loop within {timeout} s"
            raise OperationalError(msg)
        return outcome[0].result()

    def close(self) -> None:
        """Flush and close the connection, then stop the loop thread."""
        if self._closed:
            return
        # Closing is best effort: the loop is stopped regardless.
        with contextlib.suppress(Exception):
            self.run(self.client.close(), timeout=10)
        self._closed = True
        self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()
