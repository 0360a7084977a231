"""Scenario 7: sixteen HTTP writers at once, on one aggregate and on many.

No fault is injected: concurrency alone. On one room every writer files annual plans (each a
new version of the same aggregate, so commits race for its next version and the losers get
409 and retry); on many, every writer establishes rooms. Afterwards the log must hold each
acknowledged command once, and ``hsl audit verify --live`` must accept the honest record.
"""

from __future__ import annotations

from tests.faults.figures import MARK, Ledger, Row, match
from tests.faults.load import HttpLoad, HttpTarget, plan_body, probe_idempotency, room_body
from tests.faults.log import stored_log
from tests.faults.procs import Workspace
from tests.faults.scenario import Options, Scenario

WRITERS = 16


def run(ws: Workspace, options: Options) -> list[Row]:
    per_writer = 3 if options.quick else 12
    token = ws.clerk()
    serve, url = ws.serve("--no-feed", HSL_LOG_LEVEL="warning")
    target = HttpTarget(url, token)
    target.idempotent, note = probe_idempotency(target)
    ws.note(note)
    one = _one_room(target)
    loads = [
        HttpLoad(
            HttpTarget(url, token, f"/rooms/{one}/plans", plan_body, target.idempotent),
            Ledger(f"{WRITERS} writers × {per_writer}, one aggregate", f"{MARK}s7one"),
            writers=WRITERS,
            count=per_writer,
            pause=0.0,
        ),
        HttpLoad(
            HttpTarget(url, token, "/rooms", room_body, target.idempotent),
            Ledger(f"{WRITERS} writers × {per_writer}, many aggregates", f"{MARK}s7many"),
            writers=WRITERS,
            count=per_writer,
            pause=0.0,
        ),
    ]
    for load in loads:
        load.start().join(ws.left())
        ws.check_time("writing")
    serve.stop()
    stored = stored_log(ws)
    verify = ws.verify()
    rows = []
    for load in loads:
        row = match(load.ledger, stored.markers)
        row.verify = verify
        sent = len(load.ledger.requests)
        if row.acknowledged != sent:
            row.check = f"{sent - int(row.acknowledged)} of {sent} never acknowledged"
            row.failed = True
        rows.append(row)
    return rows


def _one_room(target: HttpTarget) -> str:
    import httpx  # noqa: PLC0415

    marker = f"{MARK}s7room"
    response = httpx.post(
        target.url + "/rooms", json=room_body(marker), headers=target.headers(marker), timeout=30
    )
    response.raise_for_status()
    return str(response.json()["id"])


SCENARIO = Scenario(
    key="7",
    title="16 concurrent writers on one aggregate and on many",
    run=run,
    timeout=150,
    what=(
        "`hsl serve` (embedded NATS); 16 threads each POST annual plans to one room "
        "(`/rooms/{id}/plans`), then 16 threads each POST new rooms (`/rooms`); "
        "409 conflicts are retried with the same Idempotency-Key."
    ),
)
