"""Scenario 3: SIGKILL of `hsl project` and of `hsl projections rebuild` mid-way, then rerun.

On the demo county's log (seed 1), `hsl project --batch 200` is SIGKILLed right after its
first batch while a direct writer adds events, and run again until it has every event; then
`hsl projections rebuild --batch 200` is SIGKILLed once its new file exists, and run again.
Each time the views must equal a clean rebuild of the same log.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import duckdb

from projections.rebuild import snapshot
from service.bootstrap import open_application
from tests.faults.figures import MARK, Row, match, seconds
from tests.faults.load import DirectLoad, wait_recovered
from tests.faults.log import stored_log, stream_state
from tests.faults.procs import Workspace
from tests.faults.scenario import Options, Scenario
from tests.support.rebuilt_views import fresh_rebuild

BATCH = "200"


def run(ws: Workspace, options: Options) -> list[Row]:
    demo = ws.run("demo")
    if demo.returncode != 0:
        raise RuntimeError(f"hsl demo failed: {demo.stderr[-300:]}")
    rows = [_project_killed(ws)]
    if not options.quick:
        rows.append(_rebuild_killed(ws))
    verify = ws.verify()
    for row in rows:
        row.verify = verify
    return rows


def _views_updated(line: str) -> int | None:
    """The sequence of a ``views updated`` log line (HSL_LOG_LEVEL=debug, JSON), else None."""
    if '"views updated"' not in line:
        return None
    try:
        return int(json.loads(line)["sequence"])
    except (ValueError, KeyError, TypeError):
        return None


def _project_killed(ws: Workspace) -> Row:
    direct = DirectLoad(ws, f"{MARK}s3direct", pause=0.1)
    first = ws.hsl("project", "project", "--batch", BATCH, HSL_LOG_LEVEL="debug")
    line = first.wait_line(lambda s: _views_updated(s) is not None, ws.left(), stderr=True)
    first.kill()
    fault = time.monotonic()
    at = _views_updated(line)
    wait_recovered([lambda: direct.ledger], 0.0, min(20.0, ws.left()))
    again = ws.hsl("project-again", "project", "--batch", BATCH, HSL_LOG_LEVEL="debug")
    again.wait_line(lambda s: _views_updated(s) is not None, ws.left(), stderr=True)
    recovered = time.monotonic() - fault
    time.sleep(1.0)
    direct.stop()
    head = stream_state(ws)[0]
    again.wait_line(lambda s: (_views_updated(s) or 0) >= head, ws.left(), stderr=True)
    code = again.stop()
    row = match(direct.ledger, stored_log(ws).markers)
    row.case = f"hsl project SIGKILLed after event {at} (batch {BATCH}), rerun to {head}"
    row.recover = seconds(recovered)
    _compare(ws, row)
    if code != 0:
        row.check += f"; the rerun exited {code} on SIGTERM"
        row.failed = True
    return row


def _rebuild_killed(ws: Workspace) -> Row:
    views = ws.data_dir / "projections.duckdb"
    proc = ws.hsl("rebuild", "projections", "rebuild", "--batch", BATCH)
    building = views.with_name(f"{views.name}.rebuild-{proc.pid}")
    deadline = time.monotonic() + min(60.0, ws.left())
    while not building.exists() and proc.alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    was_running = proc.alive()
    proc.kill()
    fault = time.monotonic()
    rerun = ws.run("projections", "rebuild", "--batch", BATCH)
    row = Row(
        case=f"hsl projections rebuild SIGKILLed {'mid-way' if was_running else 'too late'}, rerun"
    )
    row.errors = "none" if rerun.returncode == 0 else f"rerun exit {rerun.returncode}"
    row.recover = seconds(time.monotonic() - fault) if rerun.returncode == 0 else seconds(None)
    _compare(ws, row)
    left = sorted(p.name for p in ws.data_dir.glob("projections.duckdb.rebuild-*"))
    ws.note(
        f"after the killed rebuild and its rerun, left in the data directory: {left or 'nothing'}"
    )
    if not was_running:
        ws.note("the rebuild had finished before the kill: that row tests nothing")
    return row


def _compare(ws: Workspace, row: Row) -> None:
    """The views file against a clean rebuild of the same log; the result in ``row.check``."""
    with duckdb.connect(str(ws.data_dir / "projections.duckdb"), read_only=True) as con:
        live: dict[str, list[tuple[Any, ...]]] = snapshot(con)
    opened = open_application(replace(ws.settings, nats_user="projector"))
    try:
        clean = fresh_rebuild(opened.app, ws.base / "clean.duckdb")
    finally:
        opened.close()
    (ws.base / "clean.duckdb").unlink(missing_ok=True)
    differ = [t for t in clean if live.get(t) != clean[t]]
    if differ:
        row.check = f"views differ from a clean rebuild in {', '.join(differ)}"
        row.failed = True
    else:
        row.check = f"views = clean rebuild ({sum(len(r) for r in clean.values())} rows)"


SCENARIO = Scenario(
    key="3",
    title="SIGKILL of `hsl project` and of a rebuild mid-batch, then rerun",
    run=run,
    timeout=150,
    what=(
        "The demo county (seed 1) on the embedded server. `hsl project --batch 200` is "
        "SIGKILLed after its first batch while a direct writer adds events, then run again "
        "until it has every event; `hsl projections rebuild --batch 200` is SIGKILLed once "
        "its new file exists, then run again. The views are compared with a clean rebuild."
    ),
)
