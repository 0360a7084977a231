"""Just enough of the NATS protocol, on a plain socket, to read the log fast.

The bulk reader's child (:mod:`events.jetstream.reader_child`) reads through an ephemeral push
consumer (no acks, flow control, in memory) and cuts the ``HMSG`` deliveries out of the receive
buffer: one regular-expression match per message, no objects. Servers and credentials come
from the NATS URL as for every connection (:func:`events.jetstream.connection.parse`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import ssl
import sys
from collections.abc import Iterator
from functools import cache
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from events.jetstream.connection import Target, address_of, parse
from events.jetstream.quarantine import CANONICAL_UUID, envelope_fault, foreign_topic
from events.jetstream.stream_layout import originator_id_from_token

TIMEOUT: Final = 30.0
"""Seconds without a byte from the server before the reader gives up."""


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
        target = parse(url)
        errors = []
        for server in target.servers:
            try:
                return cls._open_one(server, target)
            except (OSError, ProtocolError) as e:
                errors.append(f"{address_of(server)}: {e}")  # never the URL's credentials
        raise ProtocolError("; ".join(errors))

    @classmethod
    def _open_one(cls, server: str, target: Target) -> RawConnection:
        parts = urlsplit(server)  # without credentials: parse() took them apart
        host, port = parts.hostname or "127.0.0.1", parts.port or 4222
        sock: socket.socket | ssl.SSLSocket = socket.create_connection((host, port), timeout=5)
        connection = cls(sock)
        info = connection._line()
        if not info.startswith(b"INFO "):
            raise ProtocolError(f"expected INFO, got {info[:40]!r}")
        info_of = json.loads(info[5:])
        if parts.scheme == "tls" or info_of.get("tls_required"):
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=host)
            connection._sock = sock
        if info_of.get("nonce") and target.user is None and target.token is None:
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
        if target.user is not None:
            options["user"], options["pass"] = target.user, target.password
        elif target.token is not None:
            options["auth_token"] = target.token
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
                else:  # a string id, or not an event's (events.jetstream.quarantine)
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
    (``events.jetstream.quarantine``) and keeps its token, so the parent skips it as every reader
    does."""
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
