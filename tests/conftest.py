"""Shared fixtures: a real nats-server per test, on a free port, with a temporary store; a
fresh domain scenario on the in-memory store."""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.nats.bundled_server import NatsServerProcess
from tests.support.scenario import Scenario


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServerProcess]:
    """A fresh JetStream server for one test; stopped afterwards."""
    server = NatsServerProcess(store_dir=tmp_path / "nats")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s() -> Scenario:
    """A new scenario: its own application, in-memory store and clock (domain and codec tests)."""
    return Scenario()


@pytest.fixture
def nats_url(nats_server: NatsServerProcess) -> str:
    return nats_server.url


LINGERING_THREAD_GRACE = 20.0
"""Seconds a non-daemon thread may outlive the tests before the run is failed and ended."""


def pytest_unconfigure(config: pytest.Config) -> None:
    """Never let a thread left running by a test keep the process (and CI) alive.

    Python waits for every non-daemon thread at exit; one stuck thread once held a finished
    run open until CI's time limit. Such a thread is a bug: name it, with its stack, fail the
    run and exit.
    """
    deadline = time.monotonic() + LINGERING_THREAD_GRACE
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
    lingering = [
        t
        for t in threading.enumerate()
        if t is not threading.main_thread() and not t.daemon and t.is_alive()
    ]
    if not lingering:
        return
    frames = sys._current_frames()
    for thread in lingering:
        stack = "".join(traceback.format_stack(frames[thread.ident])) if thread.ident else ""
        print(f"\nthread {thread.name!r} still running after the tests:\n{stack}", file=sys.stderr)
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(1)
