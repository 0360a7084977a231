"""One way to connect to NATS, for every ``hsl`` command and every library caller.

``NATS_URL`` (or the embedded server's URL) is one URL or several, comma-separated for a
cluster, each possibly carrying ``user:password@`` or ``token@``. :func:`connect` turns it into
a nats-py client the same way everywhere:

- the servers without credentials (so nats-py never holds a password in a URL it may print),
  the credentials given once as options, so they also reach the servers a cluster announces;
- a :class:`ReconnectPolicy`: :data:`LONG_RUNNING` (serve, project, feed, subscribe, the
  checkpointer) reconnects for as long as it takes, so a restarted server or a surviving node
  of a cluster is found again; :data:`ONE_SHOT` fails at once, so a command a user runs says in
  one line that nothing answers;
- callbacks that log disconnects, reconnects and errors with the server's ``host:port`` only;
- optionally a *server file* (the embedded server's ``server.json``): re-read before each
  reconnect attempt, so a server that had to come back on another port is still found.

The first connect is bounded (nats-py would otherwise retry an unreachable server forever when
reconnects are unlimited). :func:`ride_out` is the loop that keeps a long-running worker going
through a NATS fault instead of ending it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client, Server

from events.jetstream.operations import JetStreamApiError

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ReconnectPolicy:
    """How a connection reacts when its server goes away."""

    reconnect: bool
    """Whether to reconnect at all; with it, attempts are unlimited."""
    wait: float
    """Seconds between two attempts on one server."""
    connect_timeout: float
    """Seconds one attempt may take."""
    first_connect: float
    """Seconds the first connect may take, all attempts together, before it is an error."""
    ping_interval: int = 10
    """Seconds between pings: a server that vanished without closing is noticed after
    ``ping_interval * max_outstanding_pings``."""
    max_outstanding_pings: int = 3


LONG_RUNNING: Final = ReconnectPolicy(
    reconnect=True, wait=0.5, connect_timeout=5.0, first_connect=10.0
)
"""For commands that run until stopped: ride out a restart or a node's loss, however long."""
ONE_SHOT: Final = ReconnectPolicy(
    reconnect=False, wait=0.1, connect_timeout=5.0, first_connect=10.0
)
"""For commands that do one thing and exit: an unreachable server is an error at once."""


@dataclass(frozen=True)
class Target:
    """What a NATS URL names: servers (without credentials) and the credentials, apart."""

    servers: tuple[str, ...]
    user: str | None = None
    password: str | None = None
    token: str | None = None

    @property
    def addresses(self) -> str:
        """``host:port`` of each server, comma-separated: what logs and messages may show."""
        return ",".join(address_of(server) for server in self.servers)


def server_list(url: str) -> list[str]:
    """The comma-separated URLs of ``url``, stripped, as given (credentials kept)."""
    return [part.strip() for part in url.split(",") if part.strip()]


def address_of(url: str) -> str:
    """``host:port`` of one server URL, never its credentials."""
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    return parts.netloc.rpartition("@")[2]


def parse(url: str) -> Target:
    """Split ``url`` into servers and credentials (the first server's; a cluster shares them)."""
    servers: list[str] = []
    user = password = token = None
    for one in server_list(url):
        parts = urlsplit(one if "://" in one else f"nats://{one}")
        if parts.username is not None and user is None and token is None:
            if parts.password is None:
                token = unquote(parts.username)
            else:
                user, password = unquote(parts.username), unquote(parts.password)
        host = parts.netloc.rpartition("@")[2]
        servers.append(urlunsplit(parts._replace(netloc=host)))
    if not servers:
        raise ValueError("the NATS URL names no server")
    return Target(tuple(servers), user, password, token)


def with_credentials(url: str, user: str, password: str) -> str:
    """``url``'s servers (comma-separated), each with ``user:password@`` instead of what it had.

    The password goes in as it is: callers keep passwords URL-safe (``service.nats.passwords``).
    """
    urls = []
    for server in parse(url).servers:
        parts = urlsplit(server)
        urls.append(urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.netloc}")))
    return ",".join(urls)


def read_server_file(path: Path) -> str | None:
    """The ``url`` a server file records (``host:port`` form or ``nats://…``), or None."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = data.get("url") if isinstance(data, dict) else None
    return str(url) if url else None


ErrorCallback = Callable[[Exception], Awaitable[None]]


async def connect(
    url: str,
    *,
    name: str,
    policy: ReconnectPolicy = LONG_RUNNING,
    inbox_prefix: str | None = None,
    server_file: Path | None = None,
    error_cb: ErrorCallback | None = None,
) -> Client:
    """A connected client to the server(s) of ``url``, reconnecting as ``policy`` says.

    ``server_file``: a JSON file whose ``url`` names where the server is now (the embedded
    server's state file); a reconnect goes there if it changed. ``error_cb`` is called with
    each error after it is logged (a caller that wants the last one, for its message).
    """
    target = parse(url)
    nc = Client()
    current = {"address": target.addresses}

    async def on_error(error: Exception) -> None:
        # Each failed attempt reports here: quietly (the caller names a first connect that
        # fails, the disconnect was said once); what goes wrong while connected, aloud.
        report = log.warning if nc.is_connected else log.debug
        report(
            "NATS error",
            connection=name,
            server=current["address"],
            error=f"{type(error).__name__}: {error}",
        )
        if error_cb is not None:
            await error_cb(error)

    async def on_disconnected() -> None:
        if not nc.is_closed:
            log.warning(
                "NATS disconnected; reconnecting", connection=name, server=current["address"]
            )

    async def on_reconnected() -> None:
        connected = nc.connected_url
        current["address"] = connected.netloc.rpartition("@")[2] if connected else "?"
        log.info("NATS reconnected", connection=name, server=current["address"])

    options: dict[str, Any] = {
        "servers": list(target.servers),
        "name": name,
        "connect_timeout": policy.connect_timeout,
        "allow_reconnect": policy.reconnect,
        # nats-py reads 0 as "forever" and -1 as unlimited; a one-shot command tries once.
        "max_reconnect_attempts": -1 if policy.reconnect else 1,
        "reconnect_time_wait": policy.wait,
        "ping_interval": policy.ping_interval,
        "max_outstanding_pings": policy.max_outstanding_pings,
        "error_cb": on_error,
        "disconnected_cb": on_disconnected,
        "reconnected_cb": on_reconnected,
    }
    if target.user is not None:
        options["user"], options["password"] = target.user, target.password
    elif target.token is not None:
        options["token"] = target.token
    if inbox_prefix is not None:
        options["inbox_prefix"] = inbox_prefix
    if server_file is not None and policy.reconnect:
        options["reconnect_to_server_handler"] = _follow_server_file(nc, server_file, policy, name)
    try:
        await asyncio.wait_for(nc.connect(**options), timeout=policy.first_connect)
    except BaseException:
        with contextlib.suppress(Exception):
            await nc.close()
        raise
    connected = nc.connected_url
    if connected is not None:
        current["address"] = connected.netloc.rpartition("@")[2]
    return nc


def _follow_server_file(
    nc: Client, path: Path, policy: ReconnectPolicy, name: str
) -> Callable[[list[Server], dict[str, Any]], tuple[Server | None, float]]:
    """Before each reconnect attempt: if ``path`` names another server, connect there next.

    nats-py checks the pool it was given before calling this, so a changed address takes
    the pool's place now and is tried from the next attempt on; attempts go round the pool.
    """
    attempts = [0]

    def choose(servers: list[Server], info: dict[str, Any]) -> tuple[Server | None, float]:
        recorded = read_server_file(path)
        if recorded is not None:
            address = address_of(recorded)
            if all(server.uri.netloc != address for server in servers):
                log.info("NATS server moved; following it", connection=name, server=address)
                nc.set_server_pool([f"nats://{address}"])
        attempts[0] += 1
        return servers[attempts[0] % len(servers)], policy.wait

    return choose


class NatsUnavailableError(Exception):
    """Base of a caller's own error that means "NATS does not answer now": passes, like
    the faults :func:`is_transient` knows, so :func:`ride_out` waits it out."""


TRANSIENT_API_CODES: Final = frozenset({408, 409, 500, 503})
"""JetStream answers that mean "not now": a request timed out (408), a consumer's leader
changed (409), a leader is being elected or a server catches up (500, 503)."""
PERMANENT_ERR_CODES: Final = frozenset({10074})
"""Of those, the ones that will not pass: more than one replica asked of a lone server."""


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is a NATS fault that passes (a reconnect, a leader election, a
    timeout), rather than something that will fail the same way again."""
    if isinstance(
        error,
        (
            TimeoutError,  # nats-py's TimeoutError is one too
            nats.errors.NoRespondersError,
            nats.errors.ConnectionReconnectingError,
            nats.errors.OutboundBufferLimitError,
            nats.errors.StaleConnectionError,
            nats.errors.UnexpectedEOF,
            ConnectionError,
            NatsUnavailableError,
        ),
    ):
        return True
    if isinstance(error, nats.js.errors.APIError):
        return error.code in TRANSIENT_API_CODES and error.err_code not in PERMANENT_ERR_CODES
    if isinstance(error, JetStreamApiError):
        return error.code in TRANSIENT_API_CODES
    return False


T = TypeVar("T")

NO_LEADER_WAIT: Final = 10.0
"""Seconds :func:`until_answered` waits for a stream to answer at all."""


async def until_answered(request: Callable[[], Awaitable[T]], timeout: float = NO_LEADER_WAIT) -> T:
    """``request()``, asked again while nobody answers it, for up to ``timeout`` seconds.

    A stream just created on a cluster, or one electing a leader, has no responder for a
    moment. "No responders" means the message reached no stream, so asking again cannot
    store anything twice; any other outcome (a timeout included) is the caller's.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await request()
        except nats.errors.NoRespondersError:
            if asyncio.get_running_loop().time() >= deadline:
                raise
            await asyncio.sleep(0.1)


RETRY_WAIT: Final = 1.0
"""Seconds a worker waits after a NATS fault before it tries again."""


async def ride_out(
    stop: asyncio.Event,
    *,
    resume: Callable[[], Awaitable[object]],
    step: Callable[[], Awaitable[object]],
    poll: float,
    what: str,
) -> None:
    """``resume``, then ``step`` every ``poll`` seconds until ``stop`` is set.

    A NATS fault (:func:`is_transient`) ends neither: it is logged, and after
    :data:`RETRY_WAIT` the worker resumes again from what the server holds, so whatever was
    in flight when the connection dropped is found, not guessed. Any other error ends the loop.
    """
    resumed = False
    failing = False
    while not stop.is_set():
        wait = poll
        try:
            if not resumed:
                await resume()
                resumed = True
            await step()
            if failing:
                failing = False
                log.info("NATS answers again; resumed", worker=what)
        except Exception as e:
            if not is_transient(e):
                raise
            resumed = False
            wait = RETRY_WAIT
            # Said once per outage; each further try only at debug level.
            report = log.debug if failing else log.warning
            failing = True
            report("NATS unavailable; will resume", worker=what, error=f"{type(e).__name__}: {e}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)
