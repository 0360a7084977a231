"""The embedded server's users file, ``<data_dir>/nats/users.json``, and reloading it.

The file holds the roles' passwords (made at random on the server's first start) and the
downstream systems' users (``service.nats.subscribers``), owner-only, never logged. The callers
in ``service.nats.embedded`` hold the data directory's server lock around every read and write,
so racing processes agree on one file. A file from before the downstream systems (or from
before the roles had users) is read as it is.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import structlog

from service.nats.embedded_files import USERS_FILE, EmbeddedServerError, read_if_present
from service.nats.passwords import NatsUsers, NatsUsersError
from service.nats.server_config import server_args, write_private
from service.nats.subscribers import Subscriber, from_document, to_document

log = structlog.get_logger(__name__)
T = TypeVar("T")


def find_subscriber(nats_dir: Path, name: str) -> Subscriber:
    found = next((s for s in read_subscribers(nats_dir) if s.name == name), None)
    if found is None:
        msg = (
            f"no downstream system {name!r} on the embedded server: "
            f"`hsl subscribers add {name}` makes its NATS user"
        )
        raise EmbeddedServerError(msg)
    return found


def reload_users(
    nats_dir: Path,
    server: tuple[int, str],
    users: NatsUsers,
    subscribers: tuple[tuple[Subscriber, ...], tuple[Subscriber, ...]],
    timeout: float,
) -> None:
    """Rewrite ``auth.conf``, SIGHUP the server (pid, url), wait until it has the new users.

    ``subscribers`` is (before, after): every one after must be accepted, and none of those
    removed.
    """
    pid, url = server
    before, after = subscribers
    try:
        server_args(users, nats_dir, global_account=True, extra=[s.entry() for s in after])
    except OSError as e:
        msg = f"cannot write the embedded server's configuration in {nats_dir}: {e.strerror or e}"
        raise EmbeddedServerError(msg) from e
    os.kill(pid, signal.SIGHUP)
    removed = [s for s in before if s.name not in {a.name for a in after}]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(accepts(url, s) for s in after) and not any(accepts(url, s) for s in removed):
            log.info("embedded nats-server reloaded its users", pid=pid)
            return
        time.sleep(0.05)
    msg = f"the embedded nats-server (pid {pid}) did not reload its users in {timeout:g} s"
    raise EmbeddedServerError(msg)


def accepts(url: str, subscriber: Subscriber) -> bool:
    """Whether the server at ``url`` lets ``subscriber`` connect (a raw CONNECT, verbose)."""
    host, _, port = url.removeprefix("nats://").rpartition(":")
    connect = {"user": subscriber.user, "pass": subscriber.password, "verbose": True}
    try:
        with socket.create_connection((host, int(port)), timeout=2.0) as sock:
            sock.recv(65536)  # INFO
            sock.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
            answer = b""
            while b"\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    return False
                answer += chunk
    except (OSError, ValueError):
        return False
    return answer.startswith(b"+OK")


def load_or_create_users(nats_dir: Path) -> NatsUsers:
    """The users of ``users.json``; on the first start (no file yet), fresh ones, saved."""
    users = read_users(nats_dir)
    if users is not None:
        return users
    users = NatsUsers.generate()
    path = write_users(nats_dir, users, ())
    log.info("embedded nats-server users made", path=str(path), users=sorted(users.passwords))
    return users


def write_users(nats_dir: Path, users: NatsUsers, subscribers: tuple[Subscriber, ...]) -> Path:
    """Write ``users.json`` (owner-only): the roles' passwords and the downstream systems."""
    document = {"users": dict(users.passwords), "subscribers": to_document(subscribers)}
    path = nats_dir / USERS_FILE
    try:
        write_private(path, json.dumps(document, indent=2) + "\n")
    except OSError as e:
        msg = f"cannot write {path}: {e.strerror or e}"
        raise EmbeddedServerError(msg) from e
    return path


def read_users(nats_dir: Path) -> NatsUsers | None:
    """``users.json``'s roles, checked; None if there is none. Never logs a password."""
    data = _users_document(nats_dir)
    if data is None:
        return None
    path = nats_dir / USERS_FILE
    return _checked(path, lambda: NatsUsers.from_mapping(data["users"], str(path)))


def read_subscribers(nats_dir: Path) -> tuple[Subscriber, ...]:
    """``users.json``'s downstream systems (none in a file from before them)."""
    data = _users_document(nats_dir)
    if data is None:
        return ()
    path = nats_dir / USERS_FILE
    return _checked(path, lambda: from_document(data.get("subscribers"), str(path)))


def _users_document(nats_dir: Path) -> dict[str, Any] | None:
    path = nats_dir / USERS_FILE
    text = read_if_present(path)
    if text is None:
        return None

    def parse() -> dict[str, Any]:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("users"), dict):
            raise TypeError
        return data

    return _checked(path, parse)


def _checked(path: Path, read: Callable[[], T]) -> T:
    """``read()``; a malformed users file named with what to do. Never shows a password."""
    try:
        return read()
    except (ValueError, KeyError, TypeError) as e:
        detail = str(e) if isinstance(e, NatsUsersError) else "not a users file"
        msg = (
            f"{path}: {detail}; move it away and stop the server (`hsl log stop`): "
            "the next start makes new passwords"
        )
        raise EmbeddedServerError(msg) from None
