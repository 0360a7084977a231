"""The embedded server's lock, ``<data_dir>/nats/server.lock``: one process decides at a time.

An exclusive ``flock`` is held while a process reads the state file and starts, reuses,
stops or restarts the server, so processes racing on a fresh data directory start exactly one
server, and the users file is read and written by one at a time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from service.nats.embedded_files import LOCK_FILE, EmbeddedServerError


@contextlib.contextmanager
def locked(nats_dir: Path, timeout: float) -> Iterator[None]:
    """Hold ``server.lock`` exclusively: one process at a time decides about the server."""
    try:
        nats_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(nats_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        msg = f"data directory {nats_dir.parent} is not writable: {e.strerror or e}"
        raise EmbeddedServerError(msg) from e
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    msg = (
                        f"another hsl process has held {nats_dir / LOCK_FILE} "
                        f"for over {timeout:.0f} s"
                    )
                    raise EmbeddedServerError(msg) from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # closing releases the lock
