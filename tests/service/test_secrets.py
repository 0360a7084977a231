"""No password or token reaches a log line or a screen, whatever fails (real processes).

``hsl serve`` runs on its embedded server (passwords in ``nats/users.json``) while the test
causes what used to print secrets: failed and throttled authentications, a 500 inside a
request carrying a bearer token, the NATS server killed (reconnect errors) and started again,
and CLI errors naming a ``NATS_URL`` with a password. Everything the processes wrote is then
searched for every secret (:class:`tests.support.secrets_scan.SecretScan`): nothing may be found.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from service.auth.users import Grant, Scope, UserStore
from service.http.auth_limit import FAILED_AUTH_BURST
from service.nats.embedded import stop_embedded
from service.nats.embedded_files import STATE_FILE
from service.settings import Settings
from tests.support.paths import REPO_ROOT
from tests.support.secrets_scan import SecretScan, data_dir_logs

DEADLINE = 60.0
"""Seconds any one awaited condition may take before the test fails."""


def _env(data_dir: Path, nats_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HSL_LOG_LEVEL", "NATS_URL")}
    env["HSL_DATA_DIR"] = str(data_dir)
    if nats_url is not None:
        env["NATS_URL"] = nats_url
    return env


def _hsl(data_dir: Path, *args: str, nats_url: str | None = None) -> str:
    """``hsl ARGS`` to the end; its stdout and stderr, as a user would see them."""
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=REPO_ROOT,
        env=_env(data_dir, nats_url),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    return done.stdout + done.stderr


def _wait_for(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"waited too long for {what}"
        time.sleep(0.1)


class Serve:
    """``hsl serve`` in its own process, its output going to files."""

    def __init__(self, data_dir: Path, logs: Path) -> None:
        self.stdout, self.stderr = logs / "serve.out", logs / "serve.err"
        with self.stdout.open("w") as out, self.stderr.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "serve", "--port", "0"],
                cwd=REPO_ROOT,
                # Debug: every failed reconnect attempt is logged, the most lines to search.
                env={**_env(data_dir), "HSL_LOG_LEVEL": "debug"},
                stdout=out,
                stderr=err,
                text=True,
            )
        self.url = ""

        def started() -> bool:
            assert self.process.poll() is None, self.stderr.read_text()
            lines = self.stdout.read_text().splitlines()
            self.url = next((ln.split()[1] for ln in lines if ln.startswith("HTTP ")), "")
            return bool(self.url)

        _wait_for("hsl serve to start", started)

    def err(self) -> str:
        return self.stderr.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "secrets-data"
    yield path
    stop_embedded(Settings.from_env({"HSL_DATA_DIR": str(path)}))


def test_no_secret_reaches_a_log_or_a_screen(data_dir: Path, tmp_path: Path) -> None:
    """Through failed logins, a 500, a killed and restarted NATS server and CLI errors, no
    password, token or key appears in anything the processes wrote."""
    store = UserStore.in_data_dir(data_dir)
    _, token = store.add("office-1", "办公室", [Grant(role="office", scope=Scope())])
    _, unused = store.add("office-2", "办公室二", [Grant(role="office", scope=Scope())])
    guesses = [f"hsl_{secrets.token_urlsafe(32)}" for _ in range(FAILED_AUTH_BURST + 3)]
    logs = tmp_path / "secrets-logs"
    logs.mkdir()
    screens: list[str] = []
    serve = Serve(data_dir, logs)
    try:
        good = {"Authorization": f"Bearer {token}"}
        # A good token; then guesses from one address until it is throttled.
        assert httpx.get(f"{serve.url}/rooms", headers=good, timeout=30).status_code != 401
        statuses = []
        for guess in guesses:
            answer = httpx.get(
                f"{serve.url}/rooms", headers={"Authorization": f"Bearer {guess}"}, timeout=30
            )
            statuses.append(answer.status_code)
            screens.append(answer.text)
        assert statuses[:FAILED_AUTH_BURST] == [401] * FAILED_AUTH_BURST
        assert set(statuses[FAILED_AUTH_BURST:]) == {429}
        # The same good token from another loopback address is not held up.
        other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        with other:
            assert other.get(f"{serve.url}/rooms", headers=good, timeout=30).status_code != 429
            # A 500 inside a request carrying a token: the users file is broken.
            users_file = data_dir / "users.json"
            intact = users_file.read_bytes()
            users_file.write_bytes(b"{not json")
            failed = other.get(
                f"{serve.url}/rooms", headers={"Authorization": f"Bearer {unused}"}, timeout=30
            )
            users_file.write_bytes(intact)
        assert failed.status_code == 500, failed.text
        screens.append(failed.text)
        _wait_for("the 500 in the log", lambda: "request failed" in serve.err())

        # The NATS server dies: the service logs its reconnect errors.
        state = json.loads((data_dir / "nats" / STATE_FILE).read_text())
        os.kill(state["pid"], signal.SIGKILL)
        _wait_for("a reconnect error", lambda: "Connect call failed" in serve.err())
        # Brought back by the next command, as a user would.
        screens.append(_hsl(data_dir, "log", "status"))
        scan = SecretScan.of_data_dir(data_dir, token=token, unused_token=unused)
        for number, guess in enumerate(guesses):
            scan.add(f"guessed token {number}", guess)
        service_password = scan.secrets["NATS password of service"]
        address = json.loads((data_dir / "nats" / STATE_FILE).read_text())["url"]
        host = address.removeprefix("nats://")
        # CLI errors naming a URL that carries a password: a wrong one, and the right one
        # to a port where nothing answers.
        wrong = f"Wrong{secrets.token_hex(12)}"
        scan.add("wrong NATS password", wrong)
        screens.append(_hsl(data_dir, "log", "status", nats_url=f"nats://service:{wrong}@{host}"))
        dead = f"nats://service:{service_password}@127.0.0.1:{_free_port()}"
        screens.append(_hsl(data_dir, "log", "status", nats_url=dead))
        assert all("hsl: error:" in s for s in screens[-2:]), screens[-2:]
    finally:
        serve.stop()
    assert "authentication failed" in serve.err()
    found = scan.file_hits([serve.stdout, serve.stderr, *data_dir_logs(data_dir)])
    found += [hit for n, text in enumerate(screens) for hit in scan.hits(text, f"screen {n}")]
    assert found == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestSecretScan:
    def test_finds_each_secret_by_name_and_line(self, tmp_path: Path) -> None:
        """The scan names the secret and the line it is on (so it can fail)."""
        data_dir = tmp_path / "scan-data"
        (data_dir / "nats").mkdir(parents=True)
        password = "Aa" + secrets.token_hex(10)
        users = {"users": {"service": password}}
        (data_dir / "nats" / "users.json").write_text(json.dumps(users))
        scan = SecretScan.of_data_dir(data_dir, token="hsl_" + "x" * 20)
        text = f"fine\nnats://service:{password}@h\nBearer hsl_{'x' * 20}\n"
        assert scan.hits(text, "log") == [
            "NATS password of service in log line 2",
            "token in log line 3",
        ]
