"""The embedded server's store after a failed disk write: restart it once the disk has room.

nats-server treats a failed write to a stream's files (a full disk mid-write) as an operator's
problem: it logs a *critical write error*, answers no further publish to that stream, and
keeps it so until the server restarts. Our commits are staged so that a full disk is refused
cleanly most of the time, but a write that loses the race with the disk filling still leaves
its stream deaf. Where ``hsl`` runs the server itself (``NATS_URL`` unset), ``hsl serve``
watches the server's log for that line and, once the store's filesystem has room again,
restarts the server on the same port; every long-running command reconnects to it and writes
resume with nothing restarted by hand. Against an external server the operator restarts the
node (on a cluster, the stream's other replicas take over by themselves).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import structlog

from events.jetstream.write_errors import StorageFullError
from service.nats.embedded import restart_embedded
from service.nats.embedded_files import LOG_FILE, EmbeddedServerError
from service.settings import Settings

log = structlog.get_logger(__name__)

CRITICAL_WRITE = "critical write error"
"""What nats-server logs when a stream stops taking writes until it restarts."""
SERVER_START = "Starting nats-server"
CHECK_EVERY = 2.0
"""Seconds between looks at the server's log and the disk."""
TAIL = 1 << 20
"""How far back, in bytes, the first look reads the log for the current server's start."""
ROOM_SHARE = 0.05
ROOM_MIN = 8 << 20
ROOM_MAX = 64 << 20
_PID = re.compile(r"^\[(\d+)\]")
_STREAM = re.compile(r"stream '[^']*> ([^']+)'|Filestore \[([^\]]+)\]")


def room_needed(total_bytes: int) -> int:
    """Free bytes the store's filesystem needs before a restart is worth it: 5 % of it,
    between 8 and 64 MiB (a restart onto a disk that is still full fails the same way)."""
    return max(ROOM_MIN, min(ROOM_MAX, int(total_bytes * ROOM_SHARE)))


@dataclass(frozen=True)
class Stuck:
    """A server process whose stream refuses writes, as its log says."""

    pid: int
    stream: str


class StoreRecovery:
    """Follows the embedded server's log; restarts the server when a stream is stuck and
    the disk has room. :attr:`problem` says, meanwhile, why writes cannot succeed."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._log_file = settings.nats_dir / LOG_FILE
        self._offset: int | None = None
        self._inode = 0
        self._partial = b""
        self.stuck: Stuck | None = None
        self.problem: str | None = None
        self.restarts = 0

    def step(self) -> None:
        """Read what the log says since the last step; restart the server if it is time."""
        self._read_log()
        if self.stuck is None:
            self.problem = None
            return
        free, total = _disk_space(self._settings.nats_dir)
        needed = room_needed(total)
        if free < needed:
            self.problem = (
                f"the log's store (stream {self.stuck.stream!r}) failed to write to its disk and "
                f"refuses writes until nats-server restarts; hsl restarts it once "
                f"{self._settings.nats_dir} has {needed >> 20} MiB free ({free >> 20} MiB now)"
            )
            return
        log.warning(
            "restarting the embedded nats-server: a stream refuses writes after a failed disk "
            "write, and the disk has room again",
            pid=self.stuck.pid,
            stream=self.stuck.stream,
            free_mib=free >> 20,
        )
        try:
            restarted = restart_embedded(self._settings, self.stuck.pid)
        except EmbeddedServerError as e:
            self.problem = f"the embedded nats-server could not be restarted: {e}"
            log.error("embedded nats-server restart failed", error=str(e))
            return
        if restarted is not None:
            self.restarts += 1
            log.info("embedded nats-server restarted", pid=restarted.pid, url=restarted.url)
        self.stuck = None
        self.problem = None

    def refusal(self) -> StorageFullError | None:
        """What a write should raise now instead of waiting for a stream that cannot answer."""
        if self.stuck is None or self.problem is None:
            return None
        return StorageFullError(f"{self.problem}; nothing was stored", store=self.stuck.stream)

    async def run(self, stop: asyncio.Event, every: float = CHECK_EVERY) -> None:
        """Step every ``every`` seconds until ``stop``; a failed look is tried again later."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.step)
            except Exception as e:  # a look that failed is no reason to stop watching
                log.warning("cannot read the embedded server's log or disk", error=str(e))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)

    def _read_log(self) -> None:
        try:
            with self._log_file.open("rb") as f:
                stat = os.fstat(f.fileno())
                if (
                    self._offset is None
                    or stat.st_ino != self._inode
                    or stat.st_size < self._offset
                ):
                    self._inode, self._partial = stat.st_ino, b""
                    self._offset = max(0, stat.st_size - TAIL)
                f.seek(self._offset)
                data = self._partial + f.read()
        except FileNotFoundError:
            return
        self._offset += len(data) - len(self._partial)
        *lines, self._partial = data.split(b"\n")
        for raw in lines:
            self._see(raw.decode(errors="replace"))

    def _see(self, line: str) -> None:
        pid = _PID.match(line)
        if pid is None:
            return
        if SERVER_START in line:
            self.stuck = None  # a new server process: its streams start clean
        elif CRITICAL_WRITE in line and self.stuck is None:
            found = _STREAM.search(line)
            stream = next((g for g in found.groups() if g), "?") if found else "?"
            self.stuck = Stuck(pid=int(pid.group(1)), stream=stream)
            log.error(
                "a stream of the embedded nats-server refuses writes after a failed disk write",
                pid=self.stuck.pid,
                stream=stream,
            )


def _disk_space(path: Path) -> tuple[int, int]:
    """Free bytes (for an unprivileged writer) and total bytes of ``path``'s filesystem."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
