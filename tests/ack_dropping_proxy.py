"""A TCP proxy in front of a real nats-server that can lose one publish acknowledgement.

It forwards the NATS protocol unchanged, except that, when armed, it swallows the next
message from server to client whose payload is a JetStream publish ack: the commit is stored
by the server but the client never hears so, exactly as when a network drops the reply.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class AckDroppingProxy:
    """Listens on a free loopback port and relays to ``upstream_url``."""

    def __init__(self, upstream_url: str) -> None:
        host, _, port = upstream_url.removeprefix("nats://").rpartition(":")
        self._upstream = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"nats://127.0.0.1:{self._listener.getsockname()[1]}"
        self._armed = threading.Event()
        self.dropped = threading.Event()
        self._closing = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def drop_next_ack(self) -> None:
        self.dropped.clear()
        self._armed.set()

    def close(self) -> None:
        self._closing = True
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._upstream)
            self._sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()
            threading.Thread(
                target=self._server_to_client, args=(server, client), daemon=True
            ).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)

    def _server_to_client(self, server: socket.socket, client: socket.socket) -> None:
        """Relay whole protocol frames, so that one frame can be left out cleanly."""
        buffer = b""
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                buffer += data
                out = b""
                while (frame_end := _frame_length(buffer)) is not None:
                    frame, buffer = buffer[:frame_end], buffer[frame_end:]
                    if (
                        self._armed.is_set()
                        and frame.startswith((b"MSG", b"HMSG"))
                        and (b'"seq":' in frame and b'"stream":' in frame)
                    ):
                        self._armed.clear()
                        self.dropped.set()
                        continue
                    out += frame
                if out:
                    client.sendall(out)


def _frame_length(buffer: bytes) -> int | None:
    """Length of the first complete protocol frame in ``buffer``, or None if incomplete."""
    line_end = buffer.find(b"\r\n")
    if line_end < 0:
        return None
    line = buffer[:line_end]
    if line.startswith((b"MSG ", b"HMSG ")):
        size = int(line.split()[-1])
        total = line_end + 2 + size + 2
        return total if len(buffer) >= total else None
    return line_end + 2
