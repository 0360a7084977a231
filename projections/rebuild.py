"""Rebuilding every view from zero into a new DuckDB file, swapped in only when complete.

A reader never sees a half-built database: the new file is built beside the old one, checkpointed
and closed, then renamed over it (``os.replace`` is atomic on one file system). The old file
stays in service until that moment, and an interrupted rebuild leaves it untouched.

A rebuild that is killed cannot clean up after itself: its new file
(``<views>.rebuild-<pid>``, with DuckDB's ``.wal`` and ``.tmp`` beside it) stays, as large as
the views. So each rebuild holds an exclusive ``flock`` on ``<views>.rebuild-<pid>.lock``
while it runs, and the next rebuild and ``hsl project`` at its start remove what no running
rebuild holds (:func:`remove_stale_rebuilds`). The lock, not the pid, says whether its owner
still runs: the kernel releases it when the process dies, however it dies, and a reused pid
never holds it. A file without a lock (an older ``hsl``'s) goes only when its pid is dead.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import structlog
from eventsourcing.persistence import ApplicationRecorder

from events.jetstream.bulk_reader import PAGE
from projections.runner import DEFAULT_BATCH, Projector
from projections.schema import ORDER_BY, TABLES

MEMORY_LIMIT = "300MB"
"""DuckDB's memory while rebuilding (the Python side holds the aggregates' rows besides)."""
THREADS = 1
"""DuckDB's threads while rebuilding. The fold (Python), its writer thread, the log reader
child and nats-server already keep two cores busy; DuckDB's own workers only competed with
them (a 1M-event rebuild: ~10 % less CPU and ~10 % faster with one)."""


REBUILDING = ".rebuild-"
"""Between the views file's name and the rebuilding process's pid."""
_LEFTOVERS = ("", ".wal", ".tmp")
"""A rebuild's files: its database, DuckDB's write-ahead log and spill directory."""

log = structlog.get_logger(__name__)


class ViewsBusyError(RuntimeError):
    """Another process (``hsl project``) holds the views file open for writing."""


def rebuild(
    recorder: ApplicationRecorder,
    application_name: str,
    target: Path,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Project the whole log into ``<target>.rebuild`` and swap it in; returns the position.

    ``progress(position, end)`` is called after every batch; ``end`` is the last notification
    id when the rebuild started (events stored later are applied by the next ``hsl project``).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_rebuilds(target)
    with _claimed(target) as building:
        return _build(
            recorder, application_name, target, building, batch_size=batch_size, progress=progress
        )


def _build(
    recorder: ApplicationRecorder,
    application_name: str,
    target: Path,
    building: Path,
    *,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
) -> int:
    _remove(building)  # ours by the lock: what a dead process with our pid once left
    end = recorder.max_notification_id() or 0
    try:
        con = duckdb.connect(str(building))
        try:
            # The whole rebuild is one transaction: let DuckDB write its blocks out rather
            # than hold them (peak memory of a 1M-event rebuild: ~640 MB with, ~830 without).
            con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
            con.execute(f"SET threads = {THREADS}")
            projector = Projector(con, recorder, application_name)
            report = None if progress is None else (lambda position: progress(position, end))
            if progress is not None:
                progress(0, end)
            # An empty file that nobody else opens: fold the whole log in one transaction
            # (``batch_size`` is the page read at a time).
            projector.fold_all(end, page=max(batch_size, PAGE), progress=report)
            con.execute("CHECKPOINT")
            position = projector.position
        finally:
            con.close()
        _ensure_not_open(target)
        _wal(target).unlink(missing_ok=True)  # belongs to the old file; would corrupt the new
        os.replace(building, target)
    except BaseException:
        with contextlib.suppress(OSError):
            _remove(building)
        raise
    return position


@contextlib.contextmanager
def _claimed(target: Path) -> Iterator[Path]:
    """This process's rebuild file, locked for as long as the block runs."""
    building = target.with_name(f"{target.name}{REBUILDING}{os.getpid()}")
    lock = _lock_of(building)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # at once: no other process has our pid now
        yield building
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def remove_stale_rebuilds(target: Path) -> list[Path]:
    """Remove the files of rebuilds of ``target`` that no longer run; return the ones removed.

    A rebuild runs while its lock is held (by any process, this one included); a file from
    before the locks counts as running while its pid is alive.
    """
    pattern = re.compile(re.escape(target.name + REBUILDING) + r"(\d+)(?:\.wal|\.tmp|\.lock)?")
    pids = set()
    with contextlib.suppress(OSError):
        for entry in target.parent.iterdir():
            found = pattern.fullmatch(entry.name)
            if found:
                pids.add(int(found.group(1)))
    removed: list[Path] = []
    for pid in sorted(pids):
        building = target.with_name(f"{target.name}{REBUILDING}{pid}")
        try:
            removed += _remove_if_stale(building, pid)
        except OSError as e:
            log.warning("cannot remove a stale rebuild", path=str(building), error=str(e))
    if removed:
        log.info("stale rebuild files removed", files=[str(p) for p in removed])
    return removed


def _remove_if_stale(building: Path, pid: int) -> list[Path]:
    lock = _lock_of(building)
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return [] if _pid_alive(pid) else _remove(building)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return []  # a rebuild runs and holds it
        if not _same_file(fd, lock):
            return []  # released and made anew meanwhile: a new rebuild's
        removed = _remove(building)
        lock.unlink(missing_ok=True)
        return [*removed, lock]
    finally:
        os.close(fd)


def _remove(building: Path) -> list[Path]:
    """Delete a rebuild's database, write-ahead log and spill directory; return those present."""
    removed = []
    for suffix in _LEFTOVERS:
        path = building.with_name(building.name + suffix)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        removed.append(path)
    return removed


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), path.stat())
    except FileNotFoundError:
        return False


def _lock_of(building: Path) -> Path:
    return building.with_name(f"{building.name}.lock")


def _pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one we may not signal exists too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wal(path: Path) -> Path:
    return path.with_name(f"{path.name}.wal")


def _ensure_not_open(target: Path) -> None:
    """Refuse to swap under a running projector (DuckDB allows one writing process)."""
    if not target.exists():
        return
    try:
        duckdb.connect(str(target)).close()
    except duckdb.IOException as e:
        msg = f"{target} is open in another process (stop `hsl project` first): {e}"
        raise ViewsBusyError(msg) from e


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows in a total order: two databases built from one log compare equal."""
    return {
        table: con.execute(f"SELECT * FROM {table} ORDER BY {ORDER_BY[table]}").fetchall()
        for table in TABLES
    }
