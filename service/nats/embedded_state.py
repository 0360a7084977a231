"""The embedded server's state file, ``<data_dir>/nats/server.json``: where it runs.

It records the running server's pid, URL, start time and server id (never a password); it is
written whole (a temporary file renamed) so that readers never see half of it, and an
unreadable one counts as none.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import structlog

from service.nats.embedded_files import STATE_FILE, EmbeddedServerError, read_if_present

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ServerState:
    """What ``server.json`` records about the running embedded server."""

    pid: int
    url: str
    started_at: str
    """ISO 8601, UTC."""
    server_id: str
    """The server's random id from its INFO line: tells our server from a stranger on the port."""

    @classmethod
    def from_json(cls, text: str) -> ServerState:
        data = json.loads(text)
        return cls(
            pid=int(data["pid"]),
            url=str(data["url"]),
            started_at=str(data["started_at"]),
            server_id=str(data["server_id"]),
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def read_state(nats_dir: Path) -> ServerState | None:
    path = nats_dir / STATE_FILE
    text = read_if_present(path)
    if text is None:
        return None
    try:
        return ServerState.from_json(text)
    except (ValueError, KeyError, TypeError):
        log.warning("unreadable embedded server state ignored", path=str(path))
        return None


def write_state(nats_dir: Path, state: ServerState) -> None:
    """Record ``state`` in ``server.json``."""
    write_atomically(nats_dir / STATE_FILE, state.to_json())


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so readers never see half a state file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        msg = f"cannot write {path}: {e.strerror or e}"
        raise EmbeddedServerError(msg) from e
