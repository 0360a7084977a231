"""Running ``hsl`` as a user does: a process of its own on a data directory, from the repo root."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.paths import REPO_ROOT


def hsl(
    *args: str, data_dir: Path, nats_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``hsl`` in a separate process, as a user would, against ``data_dir``."""
    env = {k: v for k, v in os.environ.items() if k not in {"NATS_URL", "HSL_LOG_LEVEL"}}
    env["HSL_DATA_DIR"] = str(data_dir)
    if nats_url is not None:
        env["NATS_URL"] = nats_url
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def hsl_process(
    data_dir: Path, nats_url: str | None, *args: str, **more: str
) -> subprocess.Popen[str]:
    """``hsl ARGS`` in its own process on ``data_dir`` (its embedded server when ``nats_url``
    is None), output piped as text."""
    env = {k: v for k, v in os.environ.items() if k not in ("HSL_LOG_LEVEL", "NATS_URL")}
    env |= {"HSL_DATA_DIR": str(data_dir), **more}
    if nats_url is not None:
        env["NATS_URL"] = nats_url
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def hsl_serve(
    data_dir: Path, *options: str, stderr: int = subprocess.PIPE
) -> subprocess.Popen[str]:
    """`hsl serve` as a user starts it: a process of its own, on the embedded server of
    ``data_dir``, the HTTP API on a free port."""
    env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    env["HSL_DATA_DIR"] = str(data_dir)
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", *options, "--port", "0"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


def await_metric(api: str, line: str, timeout: float = 10.0) -> None:
    """Wait until ``/metrics`` shows ``line`` (a gauge at the expected value)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{api}/metrics", timeout=10) as answer:
            text = answer.read().decode()
        if f"\n{line}\n" in text:
            return
        time.sleep(0.1)
    raise AssertionError(f"/metrics never showed {line!r}:\n{text}")
