"""A TCP proxy in front of a real nats-server that can lose one publish acknowledgement.

It forwards the NATS protocol unchanged, except that, when armed, it swallows the next
message from server to client whose payload is a JetStream publish ack: the commit is stored
by the server but the client never hears so, exactly as when a network drops the reply.
Armed to cut, it then also drops every connection and refuses new ones until healed: the
connection broke after the commit was sent, and stays down for a while.
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
        self._ack_marker = b'"stream":'
        self._cut = False
        self._refusing = threading.Event()
        self.dropped = threading.Event()
        self._closing = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def drop_next_ack(self, stream: str | None = None, *, then_cut: bool = False) -> None:
        """Swallow the next publish ack (of ``stream`` only, if given); ``then_cut``: and
        drop every connection, refusing new ones until :meth:`heal`."""
        self._ack_marker = b'"stream":' if stream is None else f'"stream":"{stream}"'.encode()
        self._cut = then_cut
        self.dropped.clear()
        self._armed.set()

    def cut(self) -> None:
        """Drop every connection now and refuse new ones until :meth:`heal`."""
        self._cut_all()

    def heal(self) -> None:
        """Accept connections again (after a cut)."""
        self._refusing.clear()

    def _cut_all(self) -> None:
        self._refusing.set()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

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
            if self._refusing.is_set():
                client.close()
                continue
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
                        and (b'"seq":' in frame and self._ack_marker in frame)
                    ):
                        self._armed.clear()
                        self.dropped.set()
                        if self._cut:
                            self._cut_all()
                            return
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
