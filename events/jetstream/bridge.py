"""A NATS connection for synchronous callers, driven by whichever thread needs it.

eventsourcing's recorders are called from ordinary threads (the library's own test cases use
thread pools), while nats-py is asyncio-only. Handing every request to a loop running in
another thread costs two thread wake-ups per request, which was most of a commit's
client-side time (docs/performance.md). So:

- a lone caller, finding the loop idle, starts its coroutine and runs the loop itself until
  that coroutine is done: no hand-over at all;
- when several callers are active at once, they schedule their coroutines and each waits on
  its own lock, while one thread runs the loop for all of them (requests are pipelined on
  the one connection, and a caller is woken only by its own result);
- a background thread runs the loop whenever no caller does (pings, reconnects and live
  subscriptions go on between calls), and whenever callers are waiting on results, or one
  cannot drive (it is already inside another event loop).

Only one thread runs the loop at a time (the ``_driver`` lock), so everything the loop
touches stays single-threaded, as asyncio expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Generic, TypeVar

from eventsourcing.persistence import InterfaceError, OperationalError
from nats.aio.client import Client

from events.jetstream.connection import LONG_RUNNING, ReconnectPolicy, connect
from events.redact import redact_url

T = TypeVar("T")

SLICE = 0.02
"""Seconds the background thread drives before checking whether callers want the loop."""


class _Call(Generic[T]):
    """One caller's coroutine; ``finished`` (for a waiting caller) is released when done."""

    __slots__ = ("alone", "coro", "finished", "stop_loop_when_done", "task")

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self.coro = coro
        self.alone = False
        self.task: asyncio.Task[T] | None = None
        self.finished: threading.Lock | None = None  # only for a caller that waits
        self.stop_loop_when_done = False


class NatsBridge:
    """Owns one NATS connection and lets synchronous threads use it."""

    def __init__(
        self,
        url: str,
        name: str = "haoshangliang",
        *,
        server_file: Path | None = None,
        policy: ReconnectPolicy = LONG_RUNNING,
    ) -> None:
        self.url = url
        """The URL as given, credentials included: for connecting, never for showing."""
        self.display_url = redact_url(url)
        self._loop = asyncio.new_event_loop()
        self._driver = threading.Lock()
        self._state = threading.Lock()
        self._pending = 0
        self._cannot_drive = 0
        self._last_activity = time.monotonic()
        self._background_driving = False
        self._hand_back = False
        self._closed = False
        self._waiting: set[_Call[Any]] = set()
        """Calls whose callers wait on ``finished``; released with an error on shutdown."""
        self._wake_background = threading.Event()
        self._background = threading.Thread(
            target=self._drive_in_background, name=f"nats-loop[{name}]", daemon=True
        )
        self._background.start()
        try:
            # Reconnects for as long as it takes (``events.jetstream.connection``); ``server_file``
            # (the embedded server's state) says where a restarted server is.
            self.client: Client = self.run(
                connect(url, name=name, policy=policy, server_file=server_file)
            )
        except Exception as e:
            self._shutdown()
            msg = f"cannot connect to NATS at {self.display_url}: {e or type(e).__name__}"
            raise OperationalError(msg) from e

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the connection's loop and return its result in this thread.

        ``timeout`` bounds only the wait while another thread drives; the coroutines the
        recorders pass carry their own NATS timeouts.
        """
        if self._closed:
            coro.close()
            msg = f"the NATS connection to {self.display_url} is closed"
            raise InterfaceError(msg)
        running = asyncio._get_running_loop()
        if running is self._loop:
            coro.close()
            msg = "a recorder was called from inside its own NATS loop; call it from a thread"
            raise InterfaceError(msg)
        can_drive = running is None
        call = _Call(coro)
        with self._state:
            self._pending += 1
            alone = call.alone = self._pending == 1
            if not can_drive:
                self._cannot_drive += 1
        try:
            if can_drive and alone and self._driver.acquire(blocking=False):
                try:
                    # The loop is not running, so the task can be created from here; it
                    # cannot finish before the loop runs.
                    self._start(call)
                    call.stop_loop_when_done = True
                    self._loop.run_forever()
                finally:
                    self._release_driver()
                assert call.task is not None
                if not call.task.done() or call.task.cancelled():  # closed by another thread
                    msg = f"the NATS connection to {self.display_url} was closed during this call"
                    raise InterfaceError(msg)
            else:
                self._wait_for(call, timeout)
        finally:
            with self._state:
                self._waiting.discard(call)
                self._pending -= 1
                if not can_drive:
                    self._cannot_drive -= 1
                self._last_activity = time.monotonic()
        assert call.task is not None
        return call.task.result()

    def _wait_for(self, call: _Call[Any], timeout: float | None) -> None:
        """Hand ``call`` to whichever thread drives the loop and wait for it to finish.

        A close in the meantime releases the wait (see :meth:`_shutdown`), so a caller never
        waits forever on a loop that nobody will run again.
        """
        call.finished = finished = threading.Lock()
        finished.acquire()
        with self._state:
            if self._closed:
                call.coro.close()
                raise InterfaceError(f"the NATS connection to {self.display_url} is closed")
            self._waiting.add(call)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: released below
            self._loop.call_soon_threadsafe(self._start, call)
        if not self._driver.locked():
            self._wake_background.set()
        if not finished.acquire(timeout=-1 if timeout is None else timeout):
            msg = f"no answer on the NATS connection within {timeout} s"
            raise OperationalError(msg)
        if call.task is None or not call.task.done() or call.task.cancelled():
            if call.task is None:
                call.coro.close()
            msg = f"the NATS connection to {self.display_url} was closed while this call waited"
            raise InterfaceError(msg)

    def _start(self, call: _Call[Any]) -> None:
        call.task = self._loop.create_task(call.coro)
        call.task.add_done_callback(lambda _task: self._finished(call))

    def _finished(self, call: _Call[Any]) -> None:
        if call.finished is not None:
            call.finished.release()
        if call.stop_loop_when_done:
            self._loop.stop()
        elif call.alone and self._background_driving:
            # A lone caller had to wait for the background thread: hand the loop back, so
            # that its next call drives the loop itself.
            self._hand_back = True
            self._loop.stop()

    def _release_driver(self) -> None:
        self._driver.release()
        with self._state:
            others_waiting = self._pending > 1
        if others_waiting:
            self._wake_background.set()

    def _drive_in_background(self) -> None:
        """Run the loop whenever no caller does, or when callers wait on results."""
        while True:
            self._wake_background.wait(SLICE)
            self._wake_background.clear()
            if self._closed:
                return
            with self._state:
                needed = self._cannot_drive > 0 or self._pending > 0
                idle = time.monotonic() - self._last_activity >= SLICE
            if not (needed or idle) or not self._driver.acquire(blocking=False):
                continue
            try:
                self._background_driving = True
                while not self._closed and not self._hand_back:
                    # Idle duties, or driving for callers that wait: until handed back.
                    self._loop.run_forever()
                self._hand_back = False
            finally:
                self._background_driving = False
                self._driver.release()
                with self._state:
                    if self._pending > 1:
                        self._wake_background.set()  # others arrived meanwhile: look again

    def close(self) -> None:
        """Flush and close the connection, then stop the background thread."""
        if self._closed:
            return
        # Closing is best effort: the loop is shut down regardless.
        with contextlib.suppress(Exception):
            self.run(self.client.close(), timeout=10)
        self._shutdown()

    def _shutdown(self) -> None:
        with self._state:
            self._closed = True
        if self._loop.is_running():  # whoever drives it, background or caller, lets go
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._loop.stop)
        self._wake_background.set()
        self._background.join(timeout=10)
        with self._driver:
            self._cancel_pending()
            self._loop.close()
            # Nobody runs the loop any more: wake whoever still waits on a call, or they would
            # wait forever (a reader thread outliving its recorder once hung the test run).
            with self._state:
                abandoned = [c for c in self._waiting if c.task is None or not c.task.done()]
            for call in abandoned:
                assert call.finished is not None
                call.finished.release()

    def _cancel_pending(self) -> None:
        """Cancel the calls still running and let them end, so none is left half-done.

        Their waiting callers are woken by their tasks' ends and get ``InterfaceError``.
        """
        for _ in range(3):  # a finishing call may stop the loop once; run it again
            pending = [t for t in asyncio.all_tasks(self._loop) if not t.done()]
            if not pending:
                return
            for task in pending:
                task.cancel()
            with contextlib.suppress(RuntimeError):
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
