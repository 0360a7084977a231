"""What a killed rebuild leaves is removed by the next one; a running rebuild's never is."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from projections.rebuild import REBUILDING, remove_stale_rebuilds
from tests.support.jetstream_scenario import JetStreamScenario
from tests.support.paths import REPO_ROOT
from tests.support.scenario import Scenario, full_lifecycle

F_SETPIPE_SZ = 1031  # Linux fcntl: a pipe's capacity
WAIT = 60.0


@pytest.fixture
def scenario(nats_url: str) -> Iterator[Scenario]:
    s = JetStreamScenario(nats_url)
    try:
        full_lifecycle(s)
        yield s
    finally:
        s.app.close()


def _env(data_dir: Path, nats_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HSL_", "NATS_"))}
    return env | {
        "HSL_DATA_DIR": str(data_dir),
        "NATS_URL": nats_url,
        "HSL_LOG_LEVEL": "error",
        "PYTHONWARNINGS": "ignore",
    }


def _rebuild(data_dir: Path, nats_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "projections", "rebuild"],
        cwd=REPO_ROOT,
        env=_env(data_dir, nats_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _full_pipe() -> tuple[int, int]:
    """A pipe whose buffer is full: the first write to it blocks until someone reads."""
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
    os.set_blocking(write_end, False)
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(write_end, b"x" * 4096)
    os.set_blocking(write_end, True)
    return read_end, write_end


@contextlib.contextmanager
def _rebuild_held_mid_run(data_dir: Path, nats_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """`hsl projections rebuild`, stopped inside the rebuild with its new file open.

    Its stderr is a full pipe: the progress bar's first line, drawn once the new file is
    open and before any event is folded, blocks it there until the process is killed.
    """
    read_end, write_end = _full_pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "projections", "rebuild"],
        cwd=REPO_ROOT,
        env=_env(data_dir, nats_url),
        stdout=subprocess.DEVNULL,
        stderr=write_end,
    )
    os.close(write_end)
    try:
        building = data_dir / f"projections.duckdb{REBUILDING}{process.pid}"
        deadline = time.monotonic() + WAIT
        while not building.exists():
            assert process.poll() is None, f"the rebuild ended ({process.returncode}) too soon"
            assert time.monotonic() < deadline, "the rebuild never opened its new file"
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=WAIT)
        os.close(read_end)


def _leftovers(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.glob(f"projections.duckdb{REBUILDING}*"))


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with contextlib.suppress(ProcessLookupError):
        os.kill(child.pid, 0)
        pytest.skip("the pid was reused at once")
    return child.pid


def test_a_killed_rebuilds_files_go_with_the_next_rebuild(
    scenario: Scenario, nats_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "killed-rebuild"
    with _rebuild_held_mid_run(data_dir, nats_url) as process:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=WAIT)
    assert process.returncode == -signal.SIGKILL
    pid = process.pid
    assert f"projections.duckdb{REBUILDING}{pid}" in _leftovers(data_dir)
    assert f"projections.duckdb{REBUILDING}{pid}.lock" in _leftovers(data_dir)

    done = _rebuild(data_dir, nats_url)
    assert done.returncode == 0, done.stderr
    assert _leftovers(data_dir) == []
    assert (data_dir / "projections.duckdb").is_file()


def test_a_running_rebuilds_files_are_never_removed(
    scenario: Scenario, nats_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "live-rebuild"
    with _rebuild_held_mid_run(data_dir, nats_url) as running:
        theirs = _leftovers(data_dir)
        assert f"projections.duckdb{REBUILDING}{running.pid}" in theirs
        assert remove_stale_rebuilds(data_dir / "projections.duckdb") == []
        # A whole other rebuild meanwhile: it finishes and swaps in, leaving the running one be.
        done = _rebuild(data_dir, nats_url)
        assert done.returncode == 0, done.stderr
        assert set(theirs) <= set(_leftovers(data_dir))  # (its write-ahead log may be new)
        assert running.poll() is None
    assert remove_stale_rebuilds(data_dir / "projections.duckdb") != []
    assert _leftovers(data_dir) == []


def test_a_file_without_a_lock_goes_only_when_its_pid_is_dead(tmp_path: Path) -> None:
    """Files an older hsl left (no lock file): the pid decides, conservatively."""
    views = tmp_path / "old-leftovers" / "projections.duckdb"
    views.parent.mkdir()
    dead, alive = _dead_pid(), os.getpid()
    for pid in (dead, alive):
        for suffix in ("", ".wal"):
            views.with_name(f"{views.name}{REBUILDING}{pid}{suffix}").write_bytes(b"half")
    spill = views.with_name(f"{views.name}{REBUILDING}{dead}.tmp")
    spill.mkdir()
    (spill / "block").write_bytes(b"spilled")
    unrelated = views.with_name(f"{views.name}{REBUILDING}x1")
    unrelated.write_bytes(b"not ours")

    removed = remove_stale_rebuilds(views)

    assert sorted(p.name for p in removed) == sorted(
        f"{views.name}{REBUILDING}{dead}{s}" for s in ("", ".wal", ".tmp")
    )
    assert sorted(p.name for p in views.parent.iterdir()) == sorted(
        [f"{views.name}{REBUILDING}{alive}", f"{views.name}{REBUILDING}{alive}.wal", unrelated.name]
    )


def test_hsl_project_removes_them_at_its_start(
    scenario: Scenario, nats_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "project-start"
    with _rebuild_held_mid_run(data_dir, nats_url) as process:
        process.send_signal(signal.SIGKILL)
    assert _leftovers(data_dir) != []
    project = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "project"],
        cwd=REPO_ROOT,
        env=_env(data_dir, nats_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert project.stdout is not None
        first = project.stdout.readline()
        assert first.startswith("projecting into"), first
        assert _leftovers(data_dir) == []
    finally:
        project.send_signal(signal.SIGTERM)
        try:
            project.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            project.kill()
            project.communicate()


def test_an_unwritable_leftover_is_logged_not_fatal(tmp_path: Path) -> None:
    views = tmp_path / "locked-dir" / "projections.duckdb"
    views.parent.mkdir()
    views.with_name(f"{views.name}{REBUILDING}{_dead_pid()}").write_bytes(b"half")
    views.parent.chmod(0o500)
    try:
        if os.access(views.parent, os.W_OK):
            pytest.skip("running as a user who may write anywhere")
        assert remove_stale_rebuilds(views) == []
    finally:
        views.parent.chmod(0o700)
