"""Reading a whole range of the log fast: the rebuild's and the catch-up's read path.

``select_notifications`` goes through nats-py, whose parser, ``Msg`` objects, header dicts and
per-subscription queue cost ~20 µs a message: ~47,000 events/s at best, a third of what a
rebuild needs (docs/performance.md). For a long range this module instead:

- reads in a **child process**, so that reading and folding overlap on two cores;
- speaks just enough of the NATS protocol on a plain socket to read through an ephemeral push
  consumer (no acks, flow control, in memory) and cut the ``HMSG`` deliveries out of the
  receive buffer: one regular-expression match per message, no objects;
- hands the parent one :class:`Page` at a time through a pipe, pickled: ids, aggregate ids,
  versions and topics as lists, the payloads joined in one JSON array; a thread of the parent
  takes them off the pipe a few pages ahead of the fold, and the bounded queue between them
  is the back-pressure.

Guarantees are the recorder's: the server delivers the stored messages on the events subjects
in stream order, each with its stream and delivery sequence. A delivery sequence that skips
(a message lost on the way) recreates the consumer after the last message taken, as nats-py's
ordered consumer does, so no event is skipped and none is taken twice; the consumer's pending
count when created says when the range is complete.

A short range (or a recorder that is not ours, or a server the raw reader cannot talk to:
nkeys/JWT credentials) is read through ``select_notifications`` in this process instead, with
the same :class:`Page` result.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import queue
import subprocess
import sys
import threading
from array import array
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import IO, Any, Final

from eventsourcing.persistence import ApplicationRecorder, Notification, OperationalError

PAGE: Final = 10_000
"""Events per page handed to the parent (5,000 and 20,000 rebuilt slower)."""
CHILD: Final = "events.jetstream.reader_child"
"""The reader child's module (``python -m``); ``read_pages(child=…)`` may name one wrapping
:func:`run_child` with a page hook."""

PROCESS_THRESHOLD: Final = 50_000
"""Ranges shorter than this are read in-process: starting a process costs ~0.2 s."""
URL_VARIABLE: Final = "HSL_LOG_READER_URL"
"""How the parent hands the child the NATS URL, credentials included (user and password go
in CONNECT), without putting them on its command line."""


@dataclass(frozen=True, slots=True)
class Page:
    """Consecutive notifications of the log, as columns, the payloads joined in one JSON array.

    The rebuild decodes a page's payloads in one call
    (``projections.page_decoding.decode_page``), so the reader process joins them and the
    fold never handles a payload on its own: a million fewer ``bytes`` to unpickle and free.
    ``states`` cuts them apart when needed.
    """

    ids: list[int]
    originator_ids: list[str]
    """The aggregate ids as text: the UUID's canonical form, or the string id."""
    versions: list[int]
    topics: list[str]
    payloads: bytes
    """``[`` + the stored payloads joined by ``,`` + ``]``."""
    sizes: Sequence[int]
    """Each payload's length in bytes."""
    annex: bytes | None = None
    """What the reader child's page hook made of the page, if it has one (the rebuild's
    ``projections.people_reader`` computes the people index there, beside the reading)."""

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of(cls, notifications: Sequence[Notification]) -> Page:
        return cls.of_columns(
            [n.id for n in notifications],
            [str(n.originator_id) for n in notifications],
            [n.originator_version for n in notifications],
            [n.topic for n in notifications],
            [n.state for n in notifications],
        )

    @classmethod
    def of_columns(
        cls,
        ids: list[int],
        originator_ids: list[str],
        versions: list[int],
        topics: list[str],
        states: list[bytes],
    ) -> Page:
        """From the five columns :class:`RawConnection` gives (payloads as separate bytes)."""
        joined = b"[" + b",".join(states) + b"]"
        return cls(ids, originator_ids, versions, topics, joined, array("I", map(len, states)))

    @property
    def states(self) -> list[bytes]:
        """The payloads, each as stored (cut out of ``payloads``)."""
        states, start, joined = [], 1, self.payloads
        for size in self.sizes:
            states.append(joined[start : start + size])
            start += size + 1
        return states

    def notifications(self) -> list[Notification]:
        return [
            Notification(id=i, originator_id=o, originator_version=v, topic=t, state=s)
            for i, o, v, t, s in zip(
                self.ids, self.originator_ids, self.versions, self.topics, self.states, strict=True
            )
        ]


def read_pages(
    recorder: ApplicationRecorder,
    start: int,
    stop: int,
    *,
    page: int = PAGE,
    process_threshold: int = PROCESS_THRESHOLD,
    child: str = CHILD,
) -> Generator[Page, None, None]:
    """The notifications ``start`` … ``stop`` (inclusive), in order, as pages.

    Ranges of ``process_threshold`` ids or more on a JetStream recorder are read by a child
    process (``python -m`` the ``child`` module) over a raw connection; anything else through
    ``select_notifications``.
    """
    if stop < start:
        return
    source = _raw_source(recorder) if stop - start + 1 >= process_threshold else None
    if source is not None:
        reader = _ChildReader(*source, start=start, stop=stop, page=page, module=child)
        try:
            first = reader.next_page()
            if first is not None:
                yield first
                while (more := reader.next_page()) is not None:
                    yield more
                return
            if reader.refused is None:
                return
            start = max(start, reader.delivered_up_to + 1)  # fall back below
        finally:
            reader.close()
    position = start
    while position <= stop:
        batch = recorder.select_notifications(start=position, limit=page, stop=stop)
        if not batch:
            return
        yield Page.of(batch)
        position = batch[-1].id + 1


def _raw_source(recorder: ApplicationRecorder) -> tuple[str, str, str] | None:
    """(url, stream, events subject filter) when ``recorder`` is one of ours."""
    bridge = getattr(recorder, "_bridge", None)
    layout = getattr(recorder, "layout", None)
    url = getattr(bridge, "url", None)
    if not isinstance(url, str) or layout is None:
        return None
    return url, str(layout.stream), str(layout.events_filter)


class _ChildReader:
    """The parent's side: runs ``python -m events.jetstream.reader_child`` and unpickles its pages.

    A plain subprocess rather than ``multiprocessing``: spawning would re-import the caller's
    ``__main__``, which a script without a main guard does not survive.
    """

    def __init__(
        self,
        url: str,
        stream: str,
        subjects: str,
        *,
        start: int,
        stop: int,
        page: int,
        module: str = CHILD,
    ) -> None:
        self.refused: str | None = None
        self.delivered_up_to = start - 1
        # The URL may carry a password: it goes in the child's environment (readable by its
        # owner only), never in its arguments (which `ps` shows to everyone).
        arguments = ["-", stream, subjects, str(start), str(stop), str(page)]
        self._process = subprocess.Popen(
            [sys.executable, "-m", module, *arguments],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join(filter(None, sys.path)),
                URL_VARIABLE: url,
            },
        )
        assert self._process.stdout is not None
        self._receive = self._process.stdout
        _widen(self._receive)
        # A thread takes the pages off the pipe as the child writes them. Without it the child
        # blocks whenever the pipe is full (a page is ~4 MB, the pipe 1 MiB) and the parent,
        # reading a page, waited on a wake-up of the child per MiB: ~1.4 s of a 1M-event
        # rebuild on two busy cores.
        self._arrived: queue.Queue[tuple[str, Any] | BaseException] = queue.Queue(PREFETCH)
        self._closing = threading.Event()
        self._prefetch = threading.Thread(
            target=self._take_frames, name="hsl-log-pages", daemon=True
        )
        self._prefetch.start()

    def _take_frames(self) -> None:
        """Unpickle frames into the queue until the child's last, a failure, or ``close``."""
        try:
            while not self._closing.is_set():
                message: tuple[str, Any] = pickle.loads(self._frame())
                if not self._hand_over(message) or message[0] != "page":
                    return
        except BaseException as e:  # handed to next_page
            self._hand_over(e)

    def _hand_over(self, item: tuple[str, Any] | BaseException) -> bool:
        """Queue ``item`` once there is room; False if ``close`` came first."""
        while not self._closing.is_set():
            try:
                self._arrived.put(item, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    def _frame(self) -> bytes:
        size = self._receive.read(8)
        if len(size) < 8:
            msg = "the log reader process ended without finishing"
            raise OperationalError(msg)
        body = self._receive.read(int.from_bytes(size, "little"))
        return body

    def next_page(self) -> Page | None:
        """The next page, or None at the end (``refused`` says if it never started)."""
        message = self._arrived.get()
        if isinstance(message, BaseException):
            raise message
        kind, body = message
        if kind == "page":
            result = Page(*body)
            self.delivered_up_to = result.ids[-1]
            return result
        if kind == "end":
            return None
        if kind == "refused":  # could not connect or talk: the caller reads in-process
            self.refused = str(body)
            return None
        raise OperationalError(f"reading the log failed: {body}")

    def close(self) -> None:
        self._closing.set()
        if self._process.poll() is None:
            self._process.terminate()
        # The pages thread sees ``_closing`` between frames, or the pipe's end once the child
        # is gone.
        self._prefetch.join(timeout=5)
        with contextlib.suppress(OSError):
            self._receive.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)


PREFETCH: Final = 3
"""Pages the parent holds ahead of the fold (each ~4 MB for 10,000 events)."""

PIPE_SIZE: Final = 1 << 20
"""Bytes the pipe from the child holds (Linux; the default 64 KiB meant ~50 wake-ups a page)."""


def _widen(pipe: IO[bytes]) -> None:
    """Ask for a pipe of ``PIPE_SIZE`` (best effort: the limit is the system's)."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe.fileno(), set_size, PIPE_SIZE)
