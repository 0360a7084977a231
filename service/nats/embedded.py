"""The embedded default: one background ``nats-server`` per data directory.

With ``NATS_URL`` unset, ``hsl`` runs the bundled server itself. Each command asks
:func:`connect_url` for it: the first one starts the server (loopback only, JetStream on, a
port the server picks, its store in ``<data_dir>/nats/``) and leaves it running as a daemon;
later commands, from any process, find it through the state file ``<data_dir>/nats/server.json``
and reuse it. An exclusive ``flock`` on ``<data_dir>/nats/server.lock`` is held while deciding,
so processes racing on a fresh data directory start exactly one server. :func:`stop_embedded`
stops it; the store stays, so the next start sees the same log.

**Restarts keep the port.** A server that died (killed, the machine rebooted) is started again
by the next command on the port ``server.json`` recorded, so that long-running commands
(``hsl serve``, ``hsl project`` …), which reconnect for as long as it takes, find it where it
was. Only if that port is taken meanwhile does it get another; those commands then find it
through ``server.json`` itself, which they re-read before each reconnect attempt
(:attr:`ServerHandle.state_file`, ``events.jetstream.connection``).

A recorded server counts as running only when its pid is alive *and* its URL answers with the
same server id that was recorded: a reused pid or port never passes for our server
(``service.nats.embedded_process``).

**Users.** The server runs with the users and permissions of ``service.nats.permissions``, one
per role. Their passwords are made at random on the first start and kept in
``<data_dir>/nats/users.json`` (mode 0600, never logged); every start rewrites the server's
``auth.conf`` (0600) from them. :func:`connect_url` returns the URL with the credentials of
``settings.nats_user`` (the command's role): for connecting only, never for showing
(:attr:`ServerHandle.display_url` is the server's address without them). ``server.json``
holds no password. The downstream systems' users (``service.nats.subscribers``) are kept in
``users.json`` too: :func:`update_subscribers` (``hsl subscribers add|remove``) rewrites it and
``auth.conf`` and has a running server reload them (SIGHUP) without a restart.
A server started before it had users (an older ``hsl``) is still reused,
without credentials needed, until it stops: its next start has the users (its store is read
as it is: the users live in the global account, where its streams are).
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import structlog

from events.redact import redact_url
from service.nats.bundled_server import NatsServerError, NatsServerProcess
from service.nats.embedded_files import LOG_FILE, STATE_FILE, USERS_FILE, EmbeddedServerError
from service.nats.embedded_lock import locked
from service.nats.embedded_process import (
    answers_after_all,
    check_running_version,
    is_our_process,
    is_running,
    pid_alive,
    refuse_if_hung,
    server_info,
    terminate,
)
from service.nats.embedded_state import ServerState, read_state, write_state
from service.nats.embedded_users import (
    find_subscriber,
    load_or_create_users,
    read_subscribers,
    read_users,
    reload_users,
    write_users,
)
from service.nats.passwords import NatsUsers
from service.nats.server_config import server_args
from service.nats.subscribers import Subscriber
from service.settings import NatsUser, Settings

log = structlog.get_logger(__name__)

Origin = Literal["external", "started", "reused"]


@dataclass(frozen=True)
class ServerHandle:
    """Where the log's NATS server is, and how this call came by it."""

    url: str
    origin: Origin
    """``external`` (``NATS_URL``), ``started`` by this call, or ``reused`` from an earlier one."""
    pid: int | None = None
    """The embedded server's pid; None for an external server."""
    started_at: str | None = None
    user: str | None = None
    """The NATS user ``url`` connects as on the embedded server; None when it has no users
    (a server started before them) and for an external server (the URL says)."""
    server_url: str | None = None
    """The embedded server's address, without credentials; None for an external server."""
    state_file: Path | None = None
    """The embedded server's ``server.json``: where it is now, for reconnects to re-read."""

    @property
    def embedded(self) -> bool:
        return self.origin != "external"

    @property
    def display_url(self) -> str:
        """What to print or log: the embedded server's address, or ``NATS_URL`` redacted."""
        return self.server_url if self.server_url is not None else redact_url(self.url)


def connect_url(
    settings: Settings, *, user: NatsUser | None = None, timeout: float = 20.0
) -> ServerHandle:
    """Return the server to connect to: ``NATS_URL``, or the data dir's embedded server.

    The embedded server is reused when it runs and started (as a daemon) when it does not;
    its URL carries the credentials of ``user`` (default ``settings.nats_user``). With
    ``NATS_URL`` set, that URL is returned as it is (its own credentials, if any).
    """
    if settings.nats_url is not None:
        return ServerHandle(url=settings.nats_url, origin="external")
    role = user or settings.nats_user
    nats_dir = settings.nats_dir
    with locked(nats_dir, timeout=timeout + 10):
        state = read_state(nats_dir)
        if state is not None:
            if is_running(state) or answers_after_all(state, nats_dir):
                info = check_running_version(state)
                log.debug("embedded nats-server reused", pid=state.pid, url=state.url)
                users = None
                # No INFO this time (a slow server): the users file tells whether it has users.
                requires = info.get("auth_required", (nats_dir / USERS_FILE).exists())
                if requires:
                    users = read_users(nats_dir)
                    if users is None:
                        msg = (
                            f"the embedded nats-server (pid {state.pid}) requires users but "
                            f"{nats_dir / USERS_FILE} is gone; restart it with `hsl log stop` "
                            "(new passwords are made on its next start)"
                        )
                        raise EmbeddedServerError(msg)
                else:
                    log.warning(
                        "the embedded nats-server runs without users (started before hsl "
                        "had them); `hsl log stop` and the next command restarts it with them",
                        pid=state.pid,
                        url=state.url,
                    )
                return _handle(state, "reused", users, role, settings)
            refuse_if_hung(state, nats_dir)
            log.info("stale embedded server state replaced", pid=state.pid, url=state.url)
        users = load_or_create_users(nats_dir)
        state = _start(nats_dir, timeout, users, preferred_port=_last_port(state))
        return _handle(state, "started", users, role, settings)


def _last_port(state: ServerState | None) -> int | None:
    """The port the last server listened on (kept on a restart when it is free)."""
    port = "" if state is None else state.url.rpartition(":")[2]
    return int(port) if port.isdigit() else None


def _handle(
    state: ServerState,
    origin: Origin,
    users: NatsUsers | None,
    role: NatsUser,
    settings: Settings,
) -> ServerHandle:
    url, user = state.url, None
    if users is not None and settings.nats_subscriber is not None:
        subscriber = find_subscriber(settings.nats_dir, settings.nats_subscriber)
        url, user = subscriber.url(state.url), subscriber.user
    elif users is not None:
        url, user = users.url(role, state.url), role
    return ServerHandle(
        url=url,
        origin=origin,
        pid=state.pid,
        started_at=state.started_at,
        user=user,
        server_url=state.url,
        state_file=settings.nats_dir / STATE_FILE,
    )


def embedded_users(settings: Settings) -> NatsUsers | None:
    """The embedded server's users and passwords (``users.json``), or None if not made yet."""
    if settings.nats_url is not None:
        return None
    with locked(settings.nats_dir, timeout=30.0):
        return read_users(settings.nats_dir)


def embedded_subscribers(settings: Settings) -> tuple[Subscriber, ...]:
    """The downstream systems declared on the embedded server (``users.json``)."""
    if settings.nats_url is not None:
        return ()
    with locked(settings.nats_dir, timeout=30.0):
        return read_subscribers(settings.nats_dir)


def update_subscribers(
    settings: Settings,
    change: Callable[[tuple[Subscriber, ...]], tuple[Subscriber, ...]],
    *,
    timeout: float = 10.0,
) -> tuple[Subscriber, ...]:
    """Replace the downstream systems with ``change(the current ones)``; return the new ones.

    ``users.json`` is rewritten (made first, with the roles' passwords, on a fresh data
    directory); a running server gets the new ``auth.conf`` and reloads it, and this returns
    once it accepts exactly the new users. Refused with ``NATS_URL`` set: compose's are
    declared in ``deploy/nats/subscribers.txt``.
    """
    if settings.nats_url is not None:
        msg = (
            "NATS_URL is set: that server's downstream systems are declared in its own "
            "configuration (compose: deploy/nats/subscribers.txt, docs/operations.md)"
        )
        raise EmbeddedServerError(msg)
    nats_dir = settings.nats_dir
    with locked(nats_dir, timeout=timeout + 10):
        users = load_or_create_users(nats_dir)
        before = read_subscribers(nats_dir)
        after = change(before)
        write_users(nats_dir, users, after)
        state = read_state(nats_dir)
        if state is not None and is_running(state):
            if (server_info(state.url, 2.0) or {}).get("auth_required"):
                reload_users(nats_dir, (state.pid, state.url), users, (before, after), timeout)
            else:
                log.warning(
                    "the embedded nats-server runs without users; the downstream systems "
                    "apply from its next start (`hsl log stop`)",
                    pid=state.pid,
                )
        return after


def find_embedded(settings: Settings) -> ServerState | None:
    """The data dir's running embedded server, or None; never starts one."""
    if settings.nats_url is not None or not settings.nats_dir.is_dir():
        return None
    with locked(settings.nats_dir, timeout=30.0):
        state = read_state(settings.nats_dir)
        return state if state is not None and is_running(state) else None


def stop_embedded(settings: Settings, *, timeout: float = 20.0) -> ServerState | None:
    """Stop the data dir's embedded server (SIGTERM, then wait) and remove its state file.

    Returns the stopped server, or None when none was running. Refuses when ``NATS_URL`` is
    set: that server is not ours to stop.
    """
    if settings.nats_url is not None:
        msg = (
            f"NATS_URL is set ({redact_url(settings.nats_url)}): hsl did not start that server "
            "and will not stop it"
        )
        raise EmbeddedServerError(msg)
    nats_dir = settings.nats_dir
    if not nats_dir.is_dir():
        return None
    with locked(nats_dir, timeout=timeout + 10):
        state = read_state(nats_dir)
        if state is None:
            return None
        running = is_running(state) or (
            pid_alive(state.pid) and is_our_process(state.pid, nats_dir)
        )
        if running:
            terminate(state.pid, timeout)
            log.info("embedded nats-server stopped", pid=state.pid, url=state.url)
        (nats_dir / STATE_FILE).unlink(missing_ok=True)
        return state if running else None


def restart_embedded(settings: Settings, pid: int, *, timeout: float = 20.0) -> ServerState | None:
    """Restart the embedded server if it is still the process ``pid``, on the port it had.

    For a server that refuses writes until it restarts (a stream after a failed disk write):
    every long-running command reconnects to it where it was. Returns the new server, or None
    when ``pid`` is no longer the recorded server (someone restarted it already).
    """
    nats_dir = settings.nats_dir
    with locked(nats_dir, timeout=timeout + 10):
        state = read_state(nats_dir)
        if state is None or state.pid != pid or not is_our_process(pid, nats_dir):
            return None
        terminate(pid, timeout)
        log.warning("embedded nats-server stopped for a restart", pid=pid, url=state.url)
        users = load_or_create_users(nats_dir)
        return _start(nats_dir, timeout, users, preferred_port=_last_port(state))


def _start(
    nats_dir: Path, timeout: float, users: NatsUsers, preferred_port: int | None = None
) -> ServerState:
    log_file = nats_dir / LOG_FILE
    log_offset = log_file.stat().st_size if log_file.exists() else 0
    try:
        extra = [s.entry() for s in read_subscribers(nats_dir)]
        auth = server_args(users, nats_dir, global_account=True, extra=extra)
    except OSError as e:
        msg = f"cannot write the embedded server's configuration in {nats_dir}: {e.strerror or e}"
        raise EmbeddedServerError(msg) from e
    server = NatsServerProcess(
        store_dir=nats_dir, preferred_port=preferred_port, log_file=log_file, extra_args=auth
    )
    try:
        url = server.start(timeout=timeout)
    except (NatsServerError, OSError, subprocess.SubprocessError) as e:
        reason = _explain(e, log_file, log_offset)
        msg = f"cannot start the embedded nats-server in {nats_dir}: {reason}"
        raise EmbeddedServerError(msg) from e
    assert server.pid is not None
    try:
        info = server_info(url)
        if info is None:
            msg = f"the embedded nats-server at {url} stopped answering right after it started"
            raise EmbeddedServerError(msg)
        state = ServerState(
            pid=server.pid,
            url=url,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            server_id=str(info.get("server_id", "")),
        )
        write_state(nats_dir, state)
    except BaseException:
        server.stop()
        raise
    log.info("embedded nats-server started", pid=state.pid, url=url, store_dir=str(nats_dir))
    return state


def _explain(error: Exception, log_file: Path, offset: int) -> str:
    """One line: the error's first line, plus the server's own fatal/error line if it left one."""
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    if "exited with code" not in first:
        return first
    reason = ""
    with contextlib.suppress(OSError):
        with log_file.open("rb") as f:
            f.seek(offset)
            lines = f.read().decode(errors="replace").splitlines()
        reason = next((ln for ln in reversed(lines) if "[FTL]" in ln or "[ERR]" in ln), "")
    head = first.split(":")[0]
    return f"{head}: {reason.strip()} (log: {log_file})" if reason else f"{head} (log: {log_file})"
