"""The raw reader's parsing of the NATS wire, on deliveries a test server would not produce.

Every other test of ``events.jetstream.bulk_reader`` reads from a real ``nats-server``, whose
deliveries all take the reader's one-match path. These feed the parser bytes through a socket
pair instead, to check that what takes the general path gives the same columns: headers in
another order, a reply subject with a JetStream domain, a flow-control request between events,
and every message cut at arbitrary points as a slow network would deliver it.
"""

from __future__ import annotations

import json
import socket
import threading
import time

from events.jetstream.raw_connection import RawConnection

PREFIX = "hsl.hsl.events."
SUBJECTS = f"{PREFIX}*"


def _api_answer(pending: int) -> bytes:
    answer = json.dumps({"name": "c1", "num_pending": pending, "delivered": {"consumer_seq": 0}})
    return b"MSG _INBOX.test.api 3 %d\r\n%s\r\n" % (len(answer), answer.encode())


def _event(token: str, reply: str, headers: list[str], payload: bytes) -> bytes:
    header = ("NATS/1.0\r\n" + "".join(f"{h}\r\n" for h in headers) + "\r\n").encode()
    return b"HMSG %s%s 2 %s %d %d\r\n%s%s\r\n" % (
        PREFIX.encode(), token.encode(), reply.encode(), len(header),
        len(header) + len(payload), header, payload,
    )  # fmt: skip


def _status(reply: str, line: str) -> bytes:
    header = f"{line}\r\n\r\n".encode()
    subject = f"_INBOX.test 2 {reply}".strip().encode()  # a heartbeat has no reply subject
    return b"HMSG %s %d %d\r\n%s\r\n" % (subject, len(header), len(header), header)


AGGREGATE = "0b5f7d4e-9c1a-4e2b-8f3d-2a6c4e8b1d07"
"""A UUID aggregate's subject token, as the recorder writes it."""

WIRE = b"".join(
    [
        _api_answer(3),
        # The common layout (one match).
        _event(
            AGGREGATE, "$JS.ACK.hsl.c1.1.11.1.1700000000.2",
            ["Hsl-Topic: room.established", "Hsl-Originator-Version: 1"], b'{"n":1}',
        ),
        # A flow-control request: answered, not taken as an event.
        _status("$JS.FC.hsl.c1.x", "NATS/1.0 100 FlowControl Request"),
        # An idle heartbeat saying the consumer stalled: answered on the subject it names.
        _status("", "NATS/1.0 100 Idle Heartbeat\r\nNats-Consumer-Stalled: $JS.FC.hsl.c1.y"),
        # Headers in another order.
        _event(
            AGGREGATE, "$JS.ACK.hsl.c1.1.12.2.1700000001.1",
            ["Hsl-Originator-Version: 2", "Hsl-Topic: room.convener_assigned"], b'{"n":2}',
        ),
        # A reply subject with a domain and an account hash (eleven tokens); a string id's
        # token ("s-" and base64 of "b/c"); a percent-encoded topic.
        _event(
            "s-Yi9j", "$JS.ACK.dom.hash.hsl.c1.1.13.3.1700000002.0",
            ["Hsl-Topic: topic%2Eodd", "Hsl-Originator-Version: 1", "Nats-Msg-Id: x"], b"[3]",
        ),
    ]
)  # fmt: skip


def _serve(peer: socket.socket, wire: bytes, piece: int) -> None:
    for start in range(0, len(wire), piece):
        peer.sendall(wire[start : start + piece])
        time.sleep(0.001)


def _received(peer: socket.socket) -> bytes:
    """What the reader has written to the server so far."""
    peer.settimeout(0.2)
    got = b""
    try:
        while chunk := peer.recv(65536):
            got += chunk
    except TimeoutError:
        pass
    return got


def test_the_general_path_gives_what_the_one_match_path_gives() -> None:
    for piece in (len(WIRE), 7, 1):
        ours, peer = socket.socketpair()
        server = threading.Thread(target=_serve, args=(peer, WIRE, piece))
        server.start()
        try:
            ours.settimeout(5)  # a parsing mistake fails rather than waits
            connection = RawConnection(ours)
            pages = list(connection.consume_pages("hsl", SUBJECTS, start=11, stop=13, page=10))
            sent = _received(peer)
        finally:
            server.join()
            ours.close()
            peer.close()
        # The flow-control request answered on its reply subject, the stall on the one named.
        assert b"PUB $JS.FC.hsl.c1.x 0\r\n\r\n" in sent, piece
        assert b"PUB $JS.FC.hsl.c1.y 0\r\n\r\n" in sent, piece
        assert pages == [
            (
                [11, 12, 13],  # stream sequences (the deliveries are 1, 2, 3)
                [
                    AGGREGATE,
                    AGGREGATE,
                    "b/c",
                ],
                [1, 2, 1],
                ["room.established", "room.convener_assigned", "topic.odd"],
                [b'{"n":1}', b'{"n":2}', b"[3]"],
            )
        ], piece
