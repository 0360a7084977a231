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
import gc
import json
import os
import pickle
import queue
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
from array import array
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from functools import cache
from typing import IO, Any, BinaryIO, Final
from urllib.parse import unquote, urlsplit

from eventsourcing.persistence import ApplicationRecorder, Notification, OperationalError

from events.nats_connection import address_of, server_list
from events.quarantine import CANONICAL_UUID, envelope_fault, foreign_topic
from events.stream_layout import originator_id_from_token

PAGE: Final = 10_000
"""Events per page handed to the parent (5,000 and 20,000 rebuilt slower)."""
CHILD: Final = "events.jetstream_reader"
"""The reader child's module (``python -m``); ``read_pages(child=…)`` may name one wrapping
:func:`run_child` with a page hook."""

PROCESS_THRESHOLD: Final = 50_000
"""Ranges shorter than this are read in-process: starting a process costs ~0.2 s."""
TIMEOUT: Final = 30.0
"""Seconds without a byte from the server before the reader gives up."""
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
    """The parent's side: runs ``python -m events.jetstream_reader`` and unpickles its pages.

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


# --- the child --------------------------------------------------------------------------------


def _send(out: BinaryIO, message: tuple[str, Any]) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(len(body).to_bytes(8, "little"))
    out.write(body)
    out.flush()


def run_child(argv: Sequence[str], annex: Callable[[Page], bytes | None] | None = None) -> None:
    """The reader child's program: ``url stream subjects start stop page``.

    Writes the pages to stdout, framed, then the end. ``annex`` (a module wrapping this one,
    run by ``read_pages(child=…)``) adds what it makes of each page, in this process.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when reading stops
    _child(argv, annex)


def _child(argv: Sequence[str], annex: Callable[[Page], bytes | None] | None) -> None:
    url, stream, subjects = argv[:3]
    if url == "-":  # from the parent's _ChildReader: the URL is in the environment
        url = os.environ.pop(URL_VARIABLE, "")
    start, stop, page = (int(a) for a in argv[3:6])
    out = sys.stdout.buffer
    gc.disable()  # short-lived lists only; a collection would walk each page
    try:
        try:
            connection = RawConnection.open(url)
        except (OSError, ValueError, ProtocolError) as e:
            _send(out, ("refused", f"{type(e).__name__}: {e}"))
            return
        try:
            pages = connection.consume_pages(stream, subjects, start=start, stop=stop, page=page)
            for columns in pages:
                # Plain values: this module is ``__main__`` here, its classes unknown to the parent.
                page_of = Page.of_columns(*columns)
                if annex is not None:
                    page_of = replace(page_of, annex=annex(page_of))
                _send(out, ("page", tuple(getattr(page_of, f.name) for f in fields(Page))))
            _send(out, ("end", None))
        finally:
            connection.close()
    except (BrokenPipeError, ConnectionResetError):  # the parent stopped reading
        pass
    except Exception as e:
        with contextlib.suppress(OSError):
            _send(out, ("error", f"{type(e).__name__}: {e}"))


class ProtocolError(Exception):
    """The server said something the raw reader does not handle."""


Columns = tuple[list[int], list[str], list[int], list[str], list[bytes]]

_TOPIC: Final = b"\r\nHsl-Topic: "
_VERSION: Final = b"\r\nHsl-Originator-Version: "


class RawConnection:
    """A bare NATS client connection: CONNECT, a push consumer's deliveries, PING/PONG."""

    def __init__(self, sock: socket.socket | ssl.SSLSocket) -> None:
        self._sock = sock
        self._buffer = b""
        self._pos = 0
        self._sid = 0
        self._finished = False

    @classmethod
    def open(cls, url: str) -> RawConnection:
        """Connect to the first of the (comma-separated) servers that answers."""
        errors = []
        for one in server_list(url):
            try:
                return cls._open_one(one)
            except (OSError, ProtocolError) as e:
                errors.append(f"{address_of(one)}: {e}")  # never the URL's credentials
        raise ProtocolError("; ".join(errors) or "the NATS URL names no server")

    @classmethod
    def _open_one(cls, url: str) -> RawConnection:
        parts = urlsplit(url if "://" in url else f"nats://{url}")
        host, port = parts.hostname or "127.0.0.1", parts.port or 4222
        sock: socket.socket | ssl.SSLSocket = socket.create_connection((host, port), timeout=5)
        connection = cls(sock)
        info = connection._line()
        if not info.startswith(b"INFO "):
            raise ProtocolError(f"expected INFO, got {info[:40]!r}")
        server = json.loads(info[5:])
        if parts.scheme == "tls" or server.get("tls_required"):
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=host)
            connection._sock = sock
        if server.get("nonce") and not (parts.username or parts.password):
            raise ProtocolError("the server wants nkey/JWT authentication")
        options: dict[str, Any] = {
            "verbose": False,
            "pedantic": False,
            "headers": True,
            "no_responders": True,
            "protocol": 1,
            "lang": "python-raw",
            "version": "1",
            "name": "hsl-log-reader",
        }
        if parts.username and parts.password is not None:
            options["user"], options["pass"] = unquote(parts.username), unquote(parts.password)
        elif parts.username:
            options["auth_token"] = unquote(parts.username)
        connection._send(b"CONNECT " + json.dumps(options).encode() + b"\r\nPING\r\n")
        while True:
            line = connection._line()
            if line == b"PONG":
                break
            if line.startswith(b"-ERR"):
                raise ProtocolError(line.decode(errors="replace"))
        sock.settimeout(TIMEOUT)
        return connection

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()

    def _send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def _fill(self) -> None:
        chunk = self._sock.recv(1 << 22)
        if not chunk:
            raise ProtocolError("the server closed the connection")
        self._buffer = self._buffer[self._pos :] + chunk
        self._pos = 0

    def _line(self) -> bytes:
        while (end := self._buffer.find(b"\r\n", self._pos)) < 0:
            self._fill()
        line = self._buffer[self._pos : end]
        self._pos = end + 2
        return line

    def consume_pages(
        self, stream: str, subjects: str, *, start: int, stop: int, page: int
    ) -> Iterator[Columns]:
        """Stored messages ``start`` … ``stop`` on ``subjects``, as pages of columns.

        Through an ephemeral push consumer (no acks, flow control, in memory): the server
        delivers from ``start`` in stream order; each message's reply subject carries its
        stream and consumer sequences. A consumer sequence that skips (a message lost on the
        way) recreates the consumer after the last message taken, as nats-py's ordered
        consumer does, so nothing is skipped and nothing is taken twice.
        """
        prefix = subjects.removesuffix("*")
        position = start - 1
        while position < stop:
            consumed = self._consume(
                stream, subjects, prefix, start=position + 1, stop=stop, page=page
            )
            for columns in consumed:
                position = columns[0][-1]
                yield columns
            if self._finished:
                return

    def _consume(  # noqa: PLR0912, PLR0915 - one tight loop over the wire protocol
        self, stream: str, subjects: str, prefix: str, *, start: int, stop: int, page: int
    ) -> Iterator[Columns]:
        self._finished = False
        self._sid += 2
        deliver, api = self._sid, self._sid + 1
        inbox = f"_INBOX.hslr.{os.getpid()}.{os.urandom(6).hex()}"
        config = {
            "stream_name": stream,
            "config": {
                "deliver_policy": "by_start_sequence",
                "opt_start_seq": start,
                "ack_policy": "none",
                "deliver_subject": inbox,
                "filter_subject": subjects,
                "flow_control": True,
                "idle_heartbeat": 5_000_000_000,
                "mem_storage": True,
                "inactive_threshold": 30_000_000_000,
                "num_replicas": 1,
            },
        }
        request = json.dumps(config).encode()
        self._send(
            b"SUB %s %d\r\nSUB %s.api %d\r\nPUB $JS.API.CONSUMER.CREATE.%s %s.api %d\r\n%s\r\n"
            % (inbox.encode(), deliver, inbox.encode(), api, stream.encode(), inbox.encode(),
               len(request), request)
        )  # fmt: skip
        expected: int | None = None  # messages matching when the consumer was created
        consumer = ""
        taken = 0
        last_delivery = 0
        skip = len(prefix)
        sid_deliver, sid_api = str(deliver).encode(), str(api).encode()
        ids: list[int] = []
        tokens: list[str] = []
        versions: list[int] = []
        topics: list[str] = []
        states: list[bytes] = []
        delivered = _delivery_pattern(prefix).match
        intern = sys.intern
        try:
            while expected is None or taken < expected:
                buffer, pos = self._buffer, self._pos
                # The common case, an event delivered whole in the buffer, by one match; any
                # other (a status, an API answer, a reply subject with a domain, headers in
                # another order, a message still arriving) goes the general way below.
                message = delivered(buffer, pos)
                whole = False
                if message is not None:
                    token_, sid, seq_, delivery_, header_size, total, topic_, version_ = (
                        message.groups()
                    )
                    start = message.end(6) + 2  # the headers
                    end = start + int(total)
                    whole = sid == sid_deliver and end + 2 <= len(buffer)
                if whole:
                    payload = buffer[start + int(header_size) : end]
                    self._pos = end + 2
                else:
                    end_of_line = buffer.find(b"\r\n", pos)
                    if end_of_line < 0:
                        self._fill()
                        continue
                    op = buffer[pos : pos + 4]
                    if op == b"PING":
                        self._pos = end_of_line + 2
                        self._send(b"PONG\r\n")
                        continue
                    if op.startswith(b"-ERR"):
                        raise ProtocolError(buffer[pos:end_of_line].decode(errors="replace"))
                    if op not in {b"HMSG", b"MSG "}:  # +OK, PONG, INFO
                        self._pos = end_of_line + 2
                        continue
                    fields = buffer[pos + 5 : end_of_line].split(b" ")
                    total = int(fields[-1])
                    header_length = int(fields[-2]) if op == b"HMSG" else 0
                    body = end_of_line + 2
                    if body + total + 2 > len(buffer):
                        self._fill()
                        continue
                    self._pos = body + total + 2
                    header = buffer[body : body + header_length]
                    sid = fields[1]
                    if sid == sid_api:
                        answer = json.loads(buffer[body + header_length : body + total])
                        if "error" in answer:
                            raise ProtocolError(f"consumer refused: {answer['error']}")
                        consumer = answer["name"]
                        expected = int(answer.get("num_pending", 0)) + int(
                            answer.get("delivered", {}).get("consumer_seq", 0)
                        )
                        continue
                    if sid != sid_deliver:
                        continue  # a consumer given up on: its last messages
                    if header_length and header[8:10] != b"\r\n":  # a status: 100 …
                        if len(fields) == 5:  # flow control (it has a reply subject): answer
                            self._send(b"PUB %s 0\r\n\r\n" % fields[2])
                        stalled = _header(header, b"\r\nNats-Consumer-Stalled: ")
                        if stalled is not None:
                            self._send(b"PUB %s 0\r\n\r\n" % stalled)
                        continue
                    token_, seq_, delivery_, topic_, version_ = _delivery(fields, header, skip)
                    payload = buffer[body + header_length : body + total]
                seq, delivery = int(seq_), int(delivery_)
                if delivery != last_delivery + 1:
                    return  # a gap: the caller recreates the consumer after the last id
                last_delivery = delivery
                taken += 1
                if seq > stop:
                    break
                ids.append(seq)
                token = token_.decode(errors="replace")
                topic = "" if topic_ is None else topic_.decode(errors="replace")
                if version_ is not None and CANONICAL_UUID(token):
                    tokens.append(token)
                    versions.append(int(version_))
                else:  # a string id, or something that is not an event's (events.quarantine)
                    token, version, topic = _unusual(token, topic, version_)
                    tokens.append(token)
                    versions.append(version)
                # Interned: pickled once per page, and the parent's lookups compare identities.
                topics.append(intern(unquote(topic) if "%" in topic else topic))
                states.append(payload)
                if len(ids) >= page:
                    yield ids, tokens, versions, topics, states
                    ids, tokens, versions, topics, states = [], [], [], [], []
                if seq == stop:
                    break
            self._finished = True
            if ids:
                yield ids, tokens, versions, topics, states
        finally:
            # Best effort (the connection may be what failed); the server drops an ephemeral
            # consumer without interest after its inactive threshold anyway.
            done = b"UNSUB %d\r\nUNSUB %d\r\n" % (deliver, api)
            if consumer:
                done += b"PUB $JS.API.CONSUMER.DELETE.%s.%s 0\r\n\r\n" % (
                    stream.encode(),
                    consumer.encode(),
                )
            with contextlib.suppress(OSError):
                self._send(done)


def _delivery(
    fields: list[bytes], header: bytes, skip: int
) -> tuple[bytes, bytes, bytes, bytes | None, bytes | None]:
    """An event delivery the one match did not take: subject token, stream and delivery
    sequences, topic and version (unparsed; None when the header is missing), from its
    ``HMSG`` (or ``MSG``: no headers at all) fields and headers."""
    reply = fields[2].split(b".")
    seq, delivery = (reply[5], reply[6]) if len(reply) == 9 else (reply[7], reply[8])
    topic, version = _header(header, _TOPIC), _header(header, _VERSION)
    return fields[0][skip:], seq, delivery, topic, version


def _unusual(token: str, topic: str, version: bytes | None) -> tuple[str, int, str]:
    """(aggregate id as text, version, topic) of a message whose token is not a canonical
    UUID: a string id's, or one that is not an event's, which gets the foreign topic
    (``events.quarantine``) and keeps its token, so the parent skips it as every reader does."""
    version_text = None if version is None else version.decode(errors="replace")
    fault = envelope_fault(token, topic, version_text)
    if fault is not None:
        return token, 0, foreign_topic(fault)
    return str(originator_id_from_token(token)), int(version_text or 0), topic


@cache
def _delivery_pattern(prefix: str) -> re.Pattern[bytes]:
    """An event delivered by the consumer: ``HMSG`` line (subject, sid, a nine-token
    ``$JS.ACK`` reply with the stream and delivery sequences, sizes) and our first headers."""
    return re.compile(
        rb"HMSG " + re.escape(prefix.encode()) + rb"([^ ]+) (\d+) "
        rb"\$JS\.ACK\.[^. ]+\.[^. ]+\.\d+\.(\d+)\.(\d+)\.\d+\.\d+ "
        rb"(\d+) (\d+)\r\n"  # header size, total size; the sixth group ends the line
        rb"NATS/1\.0\r\nHsl-Topic: ([^\r]*)\r\n"
        rb"Hsl-Originator-Version: (\d+)\r\n"
    )


def _header(header: bytes, name: bytes) -> bytes | None:
    """The value of the header ``name`` (``b"\\r\\nName: "``) as it came, or None."""
    at = header.find(name)
    if at < 0:
        return None
    start = at + len(name)
    return header[start : header.find(b"\r\n", start)]


if __name__ == "__main__":
    run_child(sys.argv[1:])
