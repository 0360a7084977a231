"""Settings: read once, from the environment, in this one place.

Everything else receives a :class:`Settings` value instead of reading ``os.environ``, so a test
(or a second configuration in one process) is just another ``Settings.from_env({...})``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from events.jetstream.connection import server_list

NatsUser = Literal["service", "projector", "auditor"]
"""The NATS users (one per role, ``service.nats.permissions``) a command may connect as."""

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
"""Accepted values of ``HSL_LOG_LEVEL`` (case-insensitive)."""

DEFAULT_DATA_DIR = Path(".hsl")
DEFAULT_HTTP_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 8000
MAX_REPLICAS = 5
"""JetStream's limit on a stream's replicas."""


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    """The service's configuration.

    ``NATS_URL``
        The NATS server holding the log, e.g. ``nats://nats.example:4222`` (several, for a
        cluster, separated by commas). Unset or empty: the *embedded default*, where ``hsl``
        starts the bundled ``nats-server`` itself, on loopback, with its store under the data
        directory, and reuses it across commands. When set, ``hsl`` starts and stops nothing.
    ``HSL_DATA_DIR``
        Where this installation keeps its files: the embedded server's store
        (``<data_dir>/nats/``) and the DuckDB projections. Default ``./.hsl``, taken relative to
        the working directory when the settings are read and stored as an absolute path.
    ``HSL_LOG_LEVEL``
        One of ``debug``, ``info`` (default), ``warning``, ``error``, ``critical``. Logs go to
        stderr: JSON lines, or coloured text on a terminal.
    ``HSL_HTTP_HOST``, ``HSL_HTTP_PORT``
        Where ``hsl serve`` listens for the HTTP API: default ``127.0.0.1`` and ``8000``
        (``hsl serve --host/--port`` override them; port 0 picks a free port).
    ``JETSTREAM_REPLICAS``
        Replicas of every stream a command creates: the event log, its checkpoints and the
        public feed (default 1; ``3`` on a three-node cluster). An existing stream keeps its own.

    Not from the environment: ``nats_user``, the NATS user this process connects to the
    *embedded* server as. Each ``hsl`` command declares the one it needs (``service.cli``); the
    passwords are the embedded server's, in ``<data_dir>/nats/users.json``. With ``NATS_URL``
    set it is ignored: the URL carries the credentials. ``nats_subscriber``, when set, is the
    downstream system (``service.nats.subscribers``) whose user ``hsl subscribe --as NAME``
    connects as instead.
    """

    nats_url: str | None
    data_dir: Path
    log_level: str = "info"
    http_host: str = DEFAULT_HTTP_HOST
    http_port: int = DEFAULT_HTTP_PORT
    jetstream_replicas: int = 1
    nats_user: NatsUser = "service"
    nats_subscriber: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        nats_url = env.get("NATS_URL", "").strip() or None
        data_dir = Path(env.get("HSL_DATA_DIR", "").strip() or DEFAULT_DATA_DIR)
        log_level = env.get("HSL_LOG_LEVEL", "").strip().lower() or "info"
        if log_level not in LOG_LEVELS:
            msg = f"HSL_LOG_LEVEL={log_level!r} is not one of {', '.join(LOG_LEVELS)}"
            raise SettingsError(msg)
        http_host = env.get("HSL_HTTP_HOST", "").strip() or DEFAULT_HTTP_HOST
        port_text = env.get("HSL_HTTP_PORT", "").strip() or str(DEFAULT_HTTP_PORT)
        if not port_text.isdigit() or int(port_text) > 65535:
            msg = f"HSL_HTTP_PORT={port_text!r} is not a port number (0-65535)"
            raise SettingsError(msg)
        replicas_text = env.get("JETSTREAM_REPLICAS", "").strip() or "1"
        if not replicas_text.isdigit() or not 1 <= int(replicas_text) <= MAX_REPLICAS:
            msg = f"JETSTREAM_REPLICAS={replicas_text!r} is not a replica count (1-{MAX_REPLICAS})"
            raise SettingsError(msg)
        return cls(
            nats_url=nats_url,
            data_dir=data_dir.expanduser().resolve(),
            log_level=log_level,
            http_host=http_host,
            http_port=int(port_text),
            jetstream_replicas=int(replicas_text),
        )

    @property
    def embedded(self) -> bool:
        """True when ``hsl`` runs the NATS server itself (``NATS_URL`` unset)."""
        return self.nats_url is None

    @property
    def nats_servers(self) -> list[str]:
        """``NATS_URL`` split into the server list nats-py expects (empty when embedded)."""
        if self.nats_url is None:
            return []
        return server_list(self.nats_url)

    @property
    def nats_dir(self) -> Path:
        """The embedded server's directory: its JetStream store, state, lock and log files."""
        return self.data_dir / "nats"
