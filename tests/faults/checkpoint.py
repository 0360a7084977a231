"""Scenario 4: SIGKILL of the checkpointer (`hsl audit checkpoint`) under writes, restart.

A direct writer commits while `hsl audit checkpoint --every 20 --interval 0.5` signs; once it
has signed at least twice it is SIGKILLed and started again. Checkpoints must continue (a new one
after the restart, the last covering the whole log once writes stop) and the live
verification must accept the log with every checkpoint, the ones before the kill included.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.faults.figures import MARK, Row, match, seconds
from tests.faults.load import DirectLoad, wait_recovered
from tests.faults.log import checkpoint_sizes, stored_log, stream_state
from tests.faults.procs import Proc, Workspace
from tests.faults.scenario import Options, Scenario

CADENCE = ("--every", "20", "--interval", "0.5")


def _sizes(ws: Workspace) -> list[int]:
    try:
        return checkpoint_sizes(ws)
    except Exception:
        return []


def _wait(ws: Workspace, test: Callable[[list[int]], bool], timeout: float) -> list[int]:
    deadline = time.monotonic() + min(timeout, ws.left())
    while True:
        sizes = _sizes(ws)
        if test(sizes) or time.monotonic() > deadline:
            return sizes
        time.sleep(0.2)


def run(ws: Workspace, options: Options) -> list[Row]:
    direct = DirectLoad(ws, f"{MARK}s4direct", pause=0.05)
    wait_recovered([lambda: direct.ledger], 0.0, min(30.0, ws.left()))
    first: Proc = ws.hsl("checkpointer", "audit", "checkpoint", *CADENCE)
    _wait(ws, lambda s: len(s) >= 2, 30.0)
    first.kill()
    fault = time.monotonic()
    killed_at = len(_sizes(ws))
    time.sleep(1.0)
    again = ws.hsl("checkpointer-again", "audit", "checkpoint", *CADENCE)
    after = _wait(ws, lambda s: len(s) > killed_at, 30.0)
    recovered = time.monotonic() - fault if len(after) > killed_at else None
    time.sleep(2.0)
    direct.stop()
    head = stream_state(ws)[0]
    final = _wait(ws, lambda s: bool(s) and s[-1] >= head, 15.0)
    code = again.stop()
    row = match(direct.ledger, stored_log(ws).markers)
    row.case = f"hsl audit checkpoint SIGKILLed after {killed_at} checkpoints, restarted"
    row.recover = seconds(recovered)
    row.verify = ws.verify()
    covered = final[-1] if final else 0
    row.check = (
        f"checkpoints: {killed_at} before the kill, {len(final) - killed_at} after the restart; "
        f"the last covers {covered} of {head} events"
    )
    if recovered is None or covered < head or code != 0:
        row.failed = True
        row.check += f" (restarted checkpointer exit {code})" if code else ""
    return [row]


SCENARIO = Scenario(
    key="4",
    title="SIGKILL of the checkpointer, restart: checkpoints continue, verify OK",
    run=run,
    timeout=120,
    what=(
        "A direct writer commits on the embedded server while `hsl audit checkpoint --every 20 "
        "--interval 0.5` signs; after at least two checkpoints it is SIGKILLed and started again; "
        "time to recover is from the kill to the next checkpoint."
    ),
)
