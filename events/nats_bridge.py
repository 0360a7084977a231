"""A NATS connection for synchronous callers, driven by whichever thread is waiting on it.

eventsourcing's recorders are called from ordinary threads (the library's own test cases use
thread pools), while nats-py is asyncio-only. Handing every request to a loop running in
another thread costs two thread wake-ups per request, which is most of a commit's client-side
time (docs/performance.md). So the loop has no thread of its own while work is flowing:

- a caller schedules its coroutine on the loop, then, if no other thread is running the loop,
  runs it itself until its own coroutine is done (no hand-over at all for a lone writer);
- if another thread is running the loop, the caller waits; whoever finishes driving hands
  the loop to a waiting caller;
- after a short idle period, or when a caller cannot drive (it is inside another event loop),
  a background thread drives the loop, so pings, reconnects and live subscriptions go on
  while nobody calls.

Only one thread runs the loop at a time (the ``_driver`` lock), so everything the loop touches
is single-threaded, as asyncio expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

import nats
from eventsourcing.persistence import InterfaceError, OperationalError
from nats.aio.client import Client

T = TypeVar("T")

CONNECT_TIMEOUT = 5.0
IDLE_GRACE = 0.02
"""Seconds without callers after which the background thread takes over the loop."""


class _Call(Generic[T]):
    """One caller's coroutine and, once finished, its outcome."""

    __slots__ = ("coro", "done", "stop_loop_when_done", "task")

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self.coro = coro
        self.task: asyncio.Task[T] | None = None
        self.done = False
        self.stop_loop_when_done = False


class NatsBridge:
    """Owns one NATS connection and lets synchronous threads use it."""

    def __init__(self, url: str, name: str = "haoshangliang") -> None:
        self.url = url
        self._loop = asyncio.new_event_loop()
        self._driver = threading.Lock()
        self._changed = threading.Condition()
        self._pending = 0
        self._cannot_drive = 0
        self._last_activity = time.monotonic()
        self._idle_driving = False
        self._stop_requested = False
        self._closed = False
        # The background thread sleeps on its own event, so callers' notifications (one per
        # request) never wake it: it would only contend for the GIL.
        self._wake_idle = threading.Event()
        self._idle = threading.Thread(
            target=self._drive_when_idle, name=f"nats-idle[{name}]", daemon=True
        )
        self._idle.start()
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
            self._shutdown()
            msg = f"cannot connect to NATS at {url}: {e or type(e).__name__}"
            raise OperationalError(msg) from e

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the connection's loop and return its result in this thread.

        ``timeout`` bounds only the wait for another thread's driving; the coroutines the
        recorders pass carry their own NATS timeouts.
        """
        if self._closed:
            coro.close()
            msg = f"the NATS connection to {self.url} is closed"
            raise InterfaceError(msg)
        running = asyncio._get_running_loop()
        if running is self._loop:
            coro.close()
            msg = "a recorder was called from inside its own NATS loop; call it from a thread"
            raise InterfaceError(msg)
        can_drive = running is None
        call = _Call(coro)
        with self._changed:
            self._pending += 1
            if not can_drive:
                self._cannot_drive += 1
                self._wake_idle.set()
        try:
            if can_drive and self._driver.acquire(blocking=False):
                # Nobody runs the loop: start the coroutine and drive it here, no hand-over.
                try:
                    self._start(call)
                    self._drive_until(call)
                finally:
                    self._release_driver()
            else:
                self._loop.call_soon_threadsafe(self._start, call)
                self._await(call, can_drive, timeout)
        finally:
            with self._changed:
                self._pending -= 1
                if not can_drive:
                    self._cannot_drive -= 1
                self._last_activity = time.monotonic()
        assert call.task is not None
        return call.task.result()

    def _start(self, call: _Call[Any]) -> None:
        call.task = self._loop.create_task(call.coro)
        call.task.add_done_callback(lambda _task: self._finished(call))

    def _finished(self, call: _Call[Any]) -> None:
        with self._changed:
            call.done = True
            self._changed.notify_all()
        if call.stop_loop_when_done:
            self._loop.stop()

    def _await(self, call: _Call[Any], can_drive: bool, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._changed:
                if call.done:
                    return
                if self._idle_driving and can_drive and not self._stop_requested:
                    # The background thread is driving: ask it to hand the loop over.
                    self._stop_requested = True
                    self._loop.call_soon_threadsafe(self._loop.stop)
                if not (can_drive and self._driver.acquire(blocking=False)):
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        msg = f"no answer on the NATS connection within {timeout} s"
                        raise OperationalError(msg)
                    self._changed.wait(remaining)
                    continue
            try:
                self._drive_until(call)
            finally:
                self._release_driver()

    def _release_driver(self) -> None:
        with self._changed:
            self._driver.release()
            self._changed.notify_all()

    def _drive_until(self, call: _Call[Any]) -> None:
        """Run the loop in this thread until ``call`` is done."""
        call.stop_loop_when_done = True
        with self._changed:
            if call.done:
                return
        self._loop.run_forever()

    def _drive_when_idle(self) -> None:
        """Keep the loop running while no caller drives it (pings, subscriptions)."""
        while True:
            with self._changed:
                if self._closed:
                    return
                idle_for = time.monotonic() - self._last_activity
                wanted = self._cannot_drive > 0 or (self._pending == 0 and idle_for >= IDLE_GRACE)
                if wanted and self._driver.acquire(blocking=False):
                    self._idle_driving = True
                    self._stop_requested = False
                else:
                    wanted = False
            if not wanted:
                self._wake_idle.wait(IDLE_GRACE)
                self._wake_idle.clear()
                continue
            try:
                self._loop.run_forever()  # until a caller or close() stops it
            finally:
                with self._changed:
                    self._idle_driving = False
                    self._driver.release()
                    self._changed.notify_all()

    def close(self) -> None:
        """Flush and close the connection, then stop the background thread."""
        if self._closed:
            return
        # Closing is best effort: the loop is shut down regardless.
        with contextlib.suppress(Exception):
            self.run(self.client.close(), timeout=10)
        self._shutdown()

    def _shutdown(self) -> None:
        with self._changed:
            self._closed = True
            if self._idle_driving:
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._changed.notify_all()
        self._wake_idle.set()
        self._idle.join(timeout=10)
        with self._driver:
            self._loop.close()
