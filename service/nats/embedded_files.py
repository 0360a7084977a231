"""The embedded server's files in ``<data_dir>/nats/``, and the error its operations raise.

Beside the server's JetStream store: ``server.json`` (where the running server is,
``service.nats.embedded_state``), ``server.lock`` (held while a process decides about the
server, ``service.nats.embedded_lock``), ``users.json`` (its users' passwords,
``service.nats.embedded_users``), ``auth.conf`` (written from it at every start) and the
server's own log.
"""

from __future__ import annotations

from pathlib import Path

STATE_FILE = "server.json"
LOCK_FILE = "server.lock"
LOG_FILE = "nats-server.log"
USERS_FILE = "users.json"
"""The embedded server's NATS users and their passwords (owner-only)."""


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be found, started or stopped; the message says why."""


def read_if_present(path: Path) -> str | None:
    """The text of ``path``, or None if there is no such file; other failures named."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as e:
        msg = f"cannot read {path}: {e.strerror or e}"
        raise EmbeddedServerError(msg) from e
