"""The real processes of a fault scenario: `hsl` commands, their output, their data directory.

Each scenario gets a :class:`Workspace`: a temporary directory of its own (data directory,
logs), every process it started (so a scenario that runs out of time can end them all), and
the secrets it handed out (so its logs can be searched for them afterwards). The `hsl`
processes are started as the other tests start them (``tests.service.http.test_remote_views``,
``tests.service.test_embedded``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from service.nats.embedded import find_embedded, stop_embedded
from service.nats.embedded_files import USERS_FILE
from service.settings import Settings
from tests.support.hsl_commands import hsl, hsl_process
from tests.support.paths import REPO_ROOT

COUNTY, TOWN = "清河县", "柳溪镇"


class ScenarioTimeoutError(RuntimeError):
    """A scenario's wait ran past its deadline."""


class Proc:
    """A child process whose stdout and stderr are drained (into files and lines) by threads,
    so a chatty process never blocks on a full pipe."""

    def __init__(self, name: str, popen: subprocess.Popen[str], logs: Path) -> None:
        self.name, self.popen = name, popen
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._changed = threading.Condition()
        logs.mkdir(parents=True, exist_ok=True)
        stem = f"{name}-{popen.pid}"
        self.threads = [
            threading.Thread(
                target=self._drain,
                args=(popen.stdout, self.lines, logs / f"{stem}.out"),
                daemon=True,
            ),
            threading.Thread(
                target=self._drain,
                args=(popen.stderr, self.errors, logs / f"{stem}.err"),
                daemon=True,
            ),
        ]
        for thread in self.threads:
            thread.start()

    def _drain(self, stream: object, into: list[str], path: Path) -> None:
        assert stream is not None
        with path.open("w", encoding="utf-8") as out:
            for line in stream:  # type: ignore[attr-defined]
                out.write(line)
                out.flush()
                with self._changed:
                    into.append(line)
                    self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_line(
        self, predicate: Callable[[str], bool], timeout: float, *, stderr: bool = False
    ) -> str:
        """The first line (of stdout, or stderr) that ``predicate`` accepts, waiting for it."""
        lines = self.errors if stderr else self.lines
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in lines[seen:]:
                    if predicate(line):
                        return line
                seen = len(lines)
                left = deadline - time.monotonic()
                if left <= 0 or (not self.alive() and not any(t.is_alive() for t in self.threads)):
                    tail = "".join(self.errors[-5:])
                    msg = (
                        f"{self.name} (pid {self.pid}): no such line within {timeout:.0f} s; {tail}"
                    )
                    raise ScenarioTimeoutError(msg)
                self._changed.wait(min(left, 0.2))

    def kill(self) -> None:
        """SIGKILL, and reap."""
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(30)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM; SIGKILL after ``timeout``. Returns the exit code."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        for thread in self.threads:
            thread.join(5)
        return int(self.popen.returncode)


class Workspace:
    """One scenario's temporary data directory, processes, secrets and deadline."""

    def __init__(self, name: str, deadline: float, *, nats_url: str | None = None) -> None:
        self.name = name
        self.deadline = deadline
        self.base = Path(tempfile.mkdtemp(prefix=f"hsl-faults-{name}-"))
        self.data_dir = self.base / "data"
        self.logs = self.base / "logs"
        self.nats_url = nats_url
        self.procs: list[Proc] = []
        self.tokens: list[str] = []
        self.passwords: set[str] = set()
        self.notes: list[str] = []

    @property
    def settings(self) -> Settings:
        env = {"HSL_DATA_DIR": str(self.data_dir)}
        return Settings.from_env(env | ({"NATS_URL": self.nats_url} if self.nats_url else {}))

    def left(self) -> float:
        """Seconds before the scenario's deadline (never below a small floor)."""
        return max(1.0, self.deadline - time.monotonic())

    def check_time(self, what: str) -> None:
        if time.monotonic() > self.deadline:
            raise ScenarioTimeoutError(f"{self.name}: out of time while {what}")

    # --- processes ---------------------------------------------------------------------------

    def hsl(self, name: str, *args: str, **env: str) -> Proc:
        """``hsl ARGS`` in its own process, on this workspace's data directory."""
        proc = Proc(name, hsl_process(self.data_dir, self.nats_url, *args, **env), self.logs)
        self.procs.append(proc)
        return proc

    def python(self, name: str, module: str, *args: str, **env: str) -> Proc:
        """``python -m MODULE ARGS`` (a client of ours) with this workspace's settings."""
        environ = {k: v for k, v in os.environ.items() if k not in ("HSL_LOG_LEVEL", "NATS_URL")}
        environ |= {"HSL_DATA_DIR": str(self.data_dir), "PYTHONPATH": str(REPO_ROOT), **env}
        if self.nats_url:
            environ["NATS_URL"] = self.nats_url
        popen = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=REPO_ROOT,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        proc = Proc(name, popen, self.logs)
        self.procs.append(proc)
        return proc

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``hsl ARGS`` to its end (at most 60 s), its output kept with the logs."""
        result = hsl(*args, data_dir=self.data_dir, nats_url=self.nats_url)
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / "commands.log").open("a", encoding="utf-8") as out:
            out.write(f"$ hsl {' '.join(args[:2])} … → {result.returncode}\n")
            # `hsl users add` prints the token once, by design: that screen is not a log.
            shown = "" if args[:2] == ("users", "add") else result.stdout
            out.write(shown + result.stderr)
        return result

    def serve(self, *options: str, **env: str) -> tuple[Proc, str]:
        """``hsl serve --port 0 OPTIONS``; returns it and its API's URL (its ``HTTP`` line)."""
        proc = self.hsl("serve", "serve", "--port", "0", *options, **env)
        line = proc.wait_line(lambda s: s.startswith("HTTP "), min(60.0, self.left()))
        return proc, line.split()[1]

    def add_user(self, person: str, role: str, *scope: str) -> str:
        """``hsl users add``; returns the token it printed once."""
        result = self.run("users", "add", person, "--name", person, "--role", role, *scope)
        if result.returncode != 0:
            raise RuntimeError(f"hsl users add failed: {result.stderr[-500:]}")
        token = result.stdout.strip().splitlines()[-1]
        self.tokens.append(token)
        return token

    def clerk(self) -> str:
        return self.add_user("clerk-1", "clerk", "--county", COUNTY, "--town", TOWN)

    def embedded_pid(self) -> int | None:
        state = find_embedded(self.settings)
        return state.pid if state else None

    # --- afterwards ----------------------------------------------------------------------------

    def verify(self) -> str:
        """``hsl audit verify --live``: ``OK`` or ``FAILED …`` in one short line."""
        key = self.run("audit", "key")
        if key.returncode != 0:
            return "FAILED (no key): " + _last_line(key.stderr)
        result = self.run("audit", "verify", "--live", "--key", key.stdout.strip().splitlines()[-1])
        if result.returncode == 0:
            return "OK"
        reason = _last_line(result.stderr or result.stdout).removeprefix("FAILED ")
        self.note(f"verify --live: FAILED {reason}")
        return _short("FAILED " + reason, 48)

    def note(self, text: str) -> None:
        """A line for the report, with any secret of this scenario masked."""
        for secret in self.secrets():
            text = text.replace(secret, "***")
        self.notes.append(_short(text, 400))

    def secrets(self) -> list[str]:
        """The NATS passwords and bearer tokens this scenario made."""
        users = self.data_dir / "nats" / USERS_FILE
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self.passwords |= {str(p) for p in json.loads(users.read_text())["users"].values()}
        return [s for s in [*self.tokens, *sorted(self.passwords)] if len(s) >= 12]

    def secret_hits(self) -> int:
        """How many log lines this scenario's processes (and NATS servers) wrote hold a secret;
        where they are is added to the notes."""
        secrets = self.secrets()
        files = list(self.logs.glob("*")) + list(self.base.rglob("nats-server.log"))
        found: dict[str, int] = {}
        for path in files:
            with contextlib.suppress(OSError):
                lines = path.read_text(errors="replace").splitlines()
                hits = sum(any(s in line for s in secrets) for line in lines)
                if hits:
                    name = re.sub(r"-\d+\.", ".", path.name)  # serve-1234.err → serve.err
                    found[name] = found.get(name, 0) + hits
        if found:
            where = ", ".join(f"{name} ({n})" for name, n in sorted(found.items()))
            self.note(f"log lines holding a password or token, by output: {where}")
        return sum(found.values())

    def close(self, keep: bool = False) -> None:
        """End every process still running, the embedded server too; remove the directory."""
        for proc in self.procs:
            if proc.alive():
                proc.stop(5)
        if self.nats_url is None:
            with contextlib.suppress(Exception):
                stop_embedded(self.settings)
        if not keep:
            shutil.rmtree(self.base, ignore_errors=True)

    def kill_all(self) -> None:
        """For a scenario out of time: SIGKILL every process it started (its waits then end)."""
        for proc in self.procs:
            if proc.alive():
                with contextlib.suppress(Exception):
                    proc.kill()


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def _short(text: str, limit: int = 160) -> str:
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def last_event(proc: Proc) -> str:
    """The first line of the last thing a process logged (the event of a JSON log line)."""
    for line in reversed(proc.errors):
        if not line.strip():
            continue
        try:
            text = str(json.loads(line).get("event", line))
        except (ValueError, AttributeError):
            text = line
        return text.strip().splitlines()[0] if text.strip() else "(nothing)"
    return "(nothing)"
