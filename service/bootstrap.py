"""One place that turns settings into a running application on the JetStream log.

settings → NATS URL (``NATS_URL``, or the embedded server of the data directory) → a quick
reachability probe → ``HaoshangliangApplication(env={"PERSISTENCE_MODULE":
"events.jetstream", "NATS_URL": url})``. The demo uses it, and ``hsl serve`` can later, so
that both write to the same stream the same way.

The probe exists because the NATS bridge retries an unreachable server forever (it is built
to ride out reconnects); a command a user runs should instead say in one line that nothing
answers at that URL. Every connection goes through ``events.jetstream.connection``: the probe's is
one-shot, the application's reconnects for as long as it takes, and on the embedded server it
re-reads ``server.json`` to find a server that came back elsewhere.

On the embedded server each command connects as its NATS user (``settings.nats_user``). The
read-only users (``projector``, ``auditor``) open the log with ``CREATE_TABLE=no``, as compose
runs them; on a fresh data directory, where no command has written yet, the log's stream is
first created as ``service`` (the embedded server's owner holds every password anyway), so
that ``hsl project`` on an empty log waits for events as it always did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace

import nats.errors
import nats.js.errors
from eventsourcing.persistence import PersistenceError

from events.jetstream.connection import ONE_SHOT, ReconnectPolicy, connect
from events.jetstream.factory import JetStreamFactory
from events.jetstream.stream_layout import StreamLayout
from events.redact import redact_url
from service.application import Clock, HaoshangliangApplication
from service.nats.embedded import ServerHandle, connect_url
from service.nats.permissions import READ_ONLY_USERS
from service.settings import Settings

PERSISTENCE_MODULE = "events.jetstream"
PROBE_TIMEOUT = 3.0
"""Seconds to wait for a NATS server to answer before calling it unreachable."""


class BootstrapError(RuntimeError):
    """The log cannot be reached or opened; the message says where and why, in one line."""


@dataclass(frozen=True)
class Opened:
    """An application on the JetStream log, and where that log is."""

    app: HaoshangliangApplication
    handle: ServerHandle

    @property
    def url(self) -> str:
        """The NATS URL the application writes to, credentials included: for connecting only,
        never for printing (:attr:`display_url` is that)."""
        return self.handle.url

    @property
    def display_url(self) -> str:
        """Where the log is, without a password: for printing and logs."""
        return self.handle.display_url

    @property
    def stream(self) -> str:
        """The JetStream stream holding the application's events."""
        return stream_name(self.app)

    def close(self) -> None:
        """Close the application's NATS connection."""
        self.app.close()


def application_env(
    url: str,
    overrides: Mapping[str, str] | None = None,
    *,
    settings: Settings | None = None,
    handle: ServerHandle | None = None,
) -> dict[str, str]:
    """The eventsourcing environment of an application on the JetStream log at ``url``.

    With ``settings``, the streams it creates get their replicas (``JETSTREAM_REPLICAS``);
    with an embedded ``handle``, its reconnects re-read the server's state file.
    """
    env = {"PERSISTENCE_MODULE": PERSISTENCE_MODULE, "NATS_URL": url}
    if settings is not None:
        env[JetStreamFactory.JETSTREAM_REPLICAS] = str(settings.jetstream_replicas)
    if handle is not None and handle.state_file is not None:
        env[JetStreamFactory.NATS_SERVER_FILE] = str(handle.state_file)
    return {**env, **(overrides or {})}


def stream_name(app: HaoshangliangApplication) -> str:
    """The stream an application's events go to (named after the application)."""
    return StreamLayout.for_application(app.name).stream


def probe(url: str, timeout: float = PROBE_TIMEOUT) -> None:
    """Connect once and disconnect; raise :class:`BootstrapError` if nothing answers."""
    errors: list[Exception] = []

    async def remember(error: Exception) -> None:
        errors.append(error)

    async def attempt() -> None:
        nc = await connect(url, name="hsl-probe", policy=_one_shot(timeout), error_cb=remember)
        await nc.close()

    try:
        asyncio.run(asyncio.wait_for(attempt(), timeout=timeout * 2))
    except (nats.errors.Error, OSError, TimeoutError) as e:
        cause = errors[-1] if errors else e
        msg = f"cannot connect to NATS at {redact_url(url)}: {cause or type(cause).__name__}"
        raise BootstrapError(msg) from e


def _one_shot(timeout: float) -> ReconnectPolicy:
    return replace(ONE_SHOT, connect_timeout=timeout, first_connect=timeout * 2)


def open_application(
    settings: Settings,
    *,
    clock: Clock | None = None,
    env_overrides: Mapping[str, str] | None = None,
) -> Opened:
    """Find or start the NATS server the settings name and open the application on it.

    ``env_overrides`` adds eventsourcing settings (e.g. ``AGGREGATE_CACHE_MAXSIZE``).
    """
    handle = connect_url(settings)
    probe(handle.url)
    overrides = dict(env_overrides or {})
    if handle.user in READ_ONLY_USERS:
        overrides["CREATE_TABLE"] = "no"  # the server refuses this user's request to create
        if not _log_exists(
            handle.url, StreamLayout.for_application(HaoshangliangApplication.name).stream
        ):
            _create_log(settings, env_overrides)
    try:
        env = application_env(handle.url, overrides, settings=settings, handle=handle)
        app = HaoshangliangApplication(env=env, clock=clock)
    except PersistenceError as e:
        msg = f"cannot open the log at {handle.display_url}: {e}"
        raise BootstrapError(msg) from e
    return Opened(app=app, handle=handle)


def _log_exists(url: str, stream: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether ``stream`` exists (asked as the reader itself: stream info is a read)."""

    async def ask() -> bool:
        nc = await connect(url, name="hsl-probe", policy=_one_shot(timeout))
        try:
            await nc.jetstream(timeout=timeout).stream_info(stream)
        except nats.js.errors.NotFoundError:
            return False
        finally:
            await nc.close()
        return True

    try:
        return asyncio.run(asyncio.wait_for(ask(), timeout=timeout * 2))
    except (nats.errors.Error, OSError, TimeoutError) as e:
        msg = f"cannot read the log's stream {stream!r}: {e or type(e).__name__}"
        raise BootstrapError(msg) from e


def _create_log(settings: Settings, env_overrides: Mapping[str, str] | None) -> None:
    """Create the embedded server's (empty) log as ``service``, as a writer's first start does."""
    handle = connect_url(settings, user="service")
    try:
        env = application_env(handle.url, env_overrides, settings=settings, handle=handle)
        HaoshangliangApplication(env=env).close()
    except PersistenceError as e:
        msg = f"cannot create the log at {handle.display_url}: {e}"
        raise BootstrapError(msg) from e
