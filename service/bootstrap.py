"""One place that turns settings into a running application on the JetStream log.

settings → NATS URL (``NATS_URL``, or the embedded server of the data directory) → a quick
reachability probe → ``HaoshangliangApplication(env={"PERSISTENCE_MODULE":
"events.jetstream", "NATS_URL": url})``. The demo uses it, and ``hsl serve`` can later, so
that both write to the same stream the same way.

The probe exists because the NATS bridge retries an unreachable server forever (it is built
to ride out reconnects); a command a user runs should instead say in one line that nothing
answers at that URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import nats
import nats.errors
from eventsourcing.persistence import PersistenceError

from events.nats_bridge import redact_url
from events.stream_layout import StreamLayout
from service.application import Clock, HaoshangliangApplication
from service.embedded import ServerHandle, connect_url
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
        """The NATS URL the application writes to."""
        return self.handle.url

    @property
    def stream(self) -> str:
        """The JetStream stream holding the application's events."""
        return stream_name(self.app)

    def close(self) -> None:
        """Close the application's NATS connection."""
        self.app.close()


def application_env(url: str, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The eventsourcing environment of an application on the JetStream log at ``url``."""
    return {"PERSISTENCE_MODULE": PERSISTENCE_MODULE, "NATS_URL": url, **(overrides or {})}


def stream_name(app: HaoshangliangApplication) -> str:
    """The stream an application's events go to (named after the application)."""
    return StreamLayout.for_application(app.name).stream


def probe(url: str, timeout: float = PROBE_TIMEOUT) -> None:
    """Connect once and disconnect; raise :class:`BootstrapError` if nothing answers."""
    servers = [u.strip() for u in url.split(",") if u.strip()]
    errors: list[Exception] = []

    async def remember(error: Exception) -> None:
        errors.append(error)

    async def attempt() -> None:
        nc = await nats.connect(
            servers,
            name="hsl-probe",
            connect_timeout=timeout,
            allow_reconnect=False,
            max_reconnect_attempts=1,  # 0 would mean "forever" in nats-py
            reconnect_time_wait=0.1,
            error_cb=remember,
        )
        await nc.close()

    try:
        asyncio.run(asyncio.wait_for(attempt(), timeout=timeout * 2))
    except (nats.errors.Error, OSError, TimeoutError) as e:
        cause = errors[-1] if errors else e
        msg = f"cannot connect to NATS at {redact_url(url)}: {cause or type(cause).__name__}"
        raise BootstrapError(msg) from e


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
    try:
        app = HaoshangliangApplication(env=application_env(handle.url, env_overrides), clock=clock)
    except PersistenceError as e:
        msg = f"cannot open the log at {redact_url(handle.url)}: {e}"
        raise BootstrapError(msg) from e
    return Opened(app=app, handle=handle)
