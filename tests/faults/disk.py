"""Scenario 6: a full disk, on a small tmpfs holding the whole data directory.

`hsl serve` (defaults) and its embedded server keep everything on a tmpfs of a few
megabytes; HTTP writers and a direct writer run; a filler file then takes every free byte.
Writes must fail clearly (the answers are counted by status), store nothing partial, and
succeed again by themselves once the filler is removed, with nothing restarted (the check
fails otherwise): time to recover is from that moment.
Where mounting is not allowed (not root, no tmpfs) the scenario is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.faults.figures import MARK, Ledger, Row, match, seconds
from tests.faults.load import (
    DirectLoad,
    HttpLoad,
    HttpTarget,
    probe_idempotency,
    ride_out,
    wait_recovered,
)
from tests.faults.log import stored_log
from tests.faults.procs import Workspace, last_event
from tests.faults.scenario import Options, Scenario, Skipped

SIZE = "96m"
FULL_FOR = 5.0
RECOVERY_WAIT = 40.0


def _mount(point: Path) -> None:
    point.mkdir(parents=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        reason = (result.stderr or result.stdout).strip() or f"exit {result.returncode}"
        raise Skipped(f"cannot mount a tmpfs here: {reason}")


def _unmount(point: Path) -> None:
    for args in (["umount", str(point)], ["umount", "-l", str(point)]):
        if subprocess.run(args, capture_output=True, check=False).returncode == 0:
            return


def _fill(path: Path) -> int:
    """Write ``path`` until the disk refuses; returns the bytes written."""
    chunk = b"\0" * (1 << 20)
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                written += os.write(fd, chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    return written
                chunk = chunk[: len(chunk) // 2]
    finally:
        os.close(fd)


def run(ws: Workspace, options: Options) -> list[Row]:
    if os.geteuid() != 0:
        raise Skipped("mounting a tmpfs needs root")
    point = ws.base / "disk"
    _mount(point)
    try:
        return _on(ws, point)
    finally:
        ws.close(keep=True)  # stop every process holding files on the tmpfs before unmounting
        ws.secrets()  # remembered for the log search after the unmount
        for log in point.rglob("nats-server.log"):
            shutil.copy(log, ws.logs / "nats-server.log")
        _unmount(point)


def _on(ws: Workspace, point: Path) -> list[Row]:
    ws.data_dir = point / "data"
    token = ws.clerk()
    serve, url = ws.serve()
    target = HttpTarget(url, token)
    target.idempotent, note = probe_idempotency(target)
    ws.note(note)
    http = HttpLoad(
        target, Ledger("HTTP writes (POST /rooms, 2 writers)", f"{MARK}s6http"), writers=2
    )
    http.start()
    direct = DirectLoad(ws, f"{MARK}s6direct")
    loads: list[Callable[[], Ledger]] = [lambda: http.ledger, lambda: direct.ledger]
    wait_recovered(loads, 0.0, min(30.0, ws.left()))
    filler = point / "filler"
    filled = _fill(filler)
    ws.note(f"tmpfs of {SIZE}; the filler took the last {filled / 1e6:.1f} MB")
    acked_before = [get().acked_count() for get in loads]
    time.sleep(FULL_FOR)
    acked_full = [get().acked_count() - n for get, n in zip(loads, acked_before, strict=True)]
    with contextlib.suppress(OSError):
        filler.unlink()
    space_back = time.monotonic()
    recovered = wait_recovered(loads, space_back, min(RECOVERY_WAIT, max(5.0, ws.left() - 40)))
    at_end = ride_out(ws, space_back, loads)
    http.stop()
    direct.stop()
    alive = serve.alive()
    code = serve.stop()
    ws.note(
        "`hsl serve` kept running"
        if alive
        else f"`hsl serve` exited by itself ({code}): {last_event(serve)}"
    )
    log = next(iter(point.rglob("nats-server.log")), None)
    if log is not None:
        lines = log.read_text(errors="replace").splitlines()
        full = [line for line in lines if "no space left" in line.lower()]
        disabled = any("disabl" in line.lower() for line in lines)
        ws.note(
            f"nats-server.log: {len(full)} lines say no space left on device; "
            f"JetStream disabled itself: {'yes' if disabled else 'no'}"
        )
    stored = stored_log(ws)
    verify = ws.verify()
    rows = []
    for ledger, took, during, end in zip(
        (http.ledger, direct.ledger), recovered, acked_full, at_end, strict=True
    ):
        row = match(ledger, stored.markers)
        row.recover, row.verify = seconds(took), verify
        row.check = f"{during} acknowledged during the {FULL_FOR:.0f} s the disk was full; {end}"
        if took is None:  # the service must take writes again by itself, with no restart
            row.failed = True
            row.check += f"; no write acknowledged within {RECOVERY_WAIT:.0f} s of space returning"
        rows.append(row)
    return rows


SCENARIO = Scenario(
    key="6",
    title="A full disk on a small tmpfs",
    run=run,
    timeout=150,
    what=(
        f"The data directory (NATS store, views, keys) on a {SIZE} tmpfs; `hsl serve` "
        "(defaults), 2 HTTP writers and a direct writer; a filler file takes every free byte "
        f"for {FULL_FOR:.0f} s and is then removed (time to recover counts from then)."
    ),
)
