"""Scenario 1: SIGKILL of the single embedded NATS server during HTTP and direct writes.

`hsl serve` runs with its defaults (projector, feed, checkpointer) on a fresh data directory;
HTTP writers post rooms and a direct writer commits two rooms at a time. The embedded
server is killed; nothing is restarted by hand: after a few seconds the next `hsl` command
(`hsl log status`) finds the server gone and starts it again, as any command would. The
figures say what the clients were told, what the log kept, and how long until a write was
acknowledged again (if ever, within the scenario's time).
"""

from __future__ import annotations

import os
import signal
import time

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
from tests.faults.procs import Proc, Workspace, last_event
from tests.faults.scenario import Options, Scenario

SELF_RECOVERY_WAIT = 3.0
"""Seconds given to anything that restarts the server by itself, before the next command."""
RECOVERY_WAIT = 45.0


def run(ws: Workspace, options: Options) -> list[Row]:
    token = ws.clerk()
    serve, url = ws.serve()
    target = HttpTarget(url, token)
    target.idempotent, note = probe_idempotency(target)
    ws.note(note)
    http = HttpLoad(target, Ledger("HTTP writes (POST /rooms, 4 writers)", f"{MARK}s1http"))
    http.start()
    direct = DirectLoad(ws, f"{MARK}s1direct")
    loads = [lambda: http.ledger, lambda: direct.ledger]
    if None in wait_recovered(loads, 0.0, min(30.0, ws.left())):
        ws.note(f"before the fault not every load wrote: {direct.fatal() or 'no acks'}")
    time.sleep(2.0)
    before = ws.embedded_pid()
    before_url = _state_url(ws)
    assert before is not None, "no embedded server to kill"
    os.kill(before, signal.SIGKILL)
    fault = time.monotonic()
    time.sleep(SELF_RECOVERY_WAIT)
    status = ws.run("log", "status")
    after_url = _state_url(ws)
    ws.note(
        f"embedded nats-server (pid {before}) SIGKILLed; {SELF_RECOVERY_WAIT:.0f} s later "
        f"`hsl log status` exited {status.returncode} and the server is at {after_url} "
        f"({'the same port' if after_url == before_url else f'was {before_url}'})"
    )
    recovered = wait_recovered(loads, fault, min(RECOVERY_WAIT, max(5.0, ws.left() - 40)))
    at_end = ride_out(ws, fault, loads)
    http.stop()
    direct.stop()
    _serve_fate(ws, serve)
    stored = stored_log(ws)
    verify = ws.verify()
    rows = []
    for ledger, took, end in zip((http.ledger, direct.ledger), recovered, at_end, strict=True):
        row = match(ledger, stored.markers)
        row.recover, row.verify, row.check = seconds(took), verify, end
        rows.append(row)
    return rows


def _state_url(ws: Workspace) -> str:
    import json  # noqa: PLC0415

    try:
        state = json.loads((ws.data_dir / "nats" / "server.json").read_text())
        return str(state["url"])
    except (OSError, ValueError, KeyError):
        return "(no server.json)"


def _serve_fate(ws: Workspace, serve: Proc) -> None:
    """Say whether `hsl serve` rode the fault out, and how it ended."""
    alive = serve.alive()
    code = serve.stop()
    if alive:
        ws.note(f"`hsl serve` was still running at the end (SIGTERM → exit {code})")
    else:
        ws.note(f"`hsl serve` exited by itself with code {code}: {last_event(serve)}")


SCENARIO = Scenario(
    key="1",
    title="SIGKILL of the single embedded NATS server during HTTP and direct writes",
    run=run,
    timeout=150,
    what=(
        "`hsl serve` (defaults: projector, feed, checkpointer) on the embedded server; 4 HTTP "
        "writers POST rooms and a direct writer (the application in its own process) commits "
        "two rooms with their plans per save (4 events, one atomic batch). The embedded "
        "nats-server is SIGKILLed; 3 s later the next `hsl` command (`hsl log status`) starts "
        "it again; nothing else is restarted."
    ),
)
