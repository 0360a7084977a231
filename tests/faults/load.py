"""Clients under load: HTTP writers (threads here) and a direct application writer (a process).

An HTTP writer sends each command with an ``Idempotency-Key`` equal to its marker. It retries
what the server says was not recorded (409, or a 503 saying 本次未记录), and connection
refusals (nothing was sent); a result that is unknown (a timeout, a dropped connection, any
other 5xx) is retried with the same key only when the API honours the key
(:func:`probe_idempotency`), since without it a retry could store the command twice.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.faults.figures import Ledger, Request
from tests.faults.procs import COUNTY, TOWN, Proc, Workspace

HTTP_TIMEOUT = 10.0


def room_body(marker: str) -> dict[str, Any]:
    return {
        "occurred_at": datetime.now(UTC).isoformat(),
        "name": marker,
        "level": "town",
        "region": {"county": COUNTY, "town": TOWN},
    }


def plan_body(marker: str) -> dict[str, Any]:
    return {
        "occurred_at": datetime.now(UTC).isoformat(),
        "year": 2025,
        "planned_consultations": 1,
        "summary": marker,
    }


@dataclass
class HttpTarget:
    """Where and as whom to write, and what: a path and a body made from a marker."""

    url: str
    token: str
    path: str = "/rooms"
    body: Callable[[str], dict[str, Any]] = room_body
    idempotent: bool = False
    """The API honours ``Idempotency-Key``: unknown results may be retried."""

    def headers(self, marker: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Idempotency-Key": marker}


def probe_idempotency(target: HttpTarget) -> tuple[bool, str]:
    """Send one command twice with the same key: does the second return the first result?"""
    marker = f"probe-{uuid.uuid4().hex[:12]}"
    body = room_body(marker)
    answers = []
    with httpx.Client(timeout=HTTP_TIMEOUT) as client:
        for _ in range(2):
            r = client.post(target.url + "/rooms", json=body, headers=target.headers(marker))
            answers.append((r.status_code, r.json().get("id") if r.status_code < 300 else None))
    (s1, id1), (s2, id2) = answers
    if s1 < 300 and s2 < 300 and id1 == id2:
        return True, "Idempotency-Key honoured: a repeated request returned the first result"
    return False, (
        f"Idempotency-Key not honoured (two requests with one key: {s1} id {id1}, {s2} id {id2});"
        " unknown results were not retried"
    )


def _nothing_recorded(response: httpx.Response) -> bool:
    """The server says the command was not stored (and does not say the result is unknown)."""
    if response.status_code == 409:
        return True
    if response.status_code != 503:
        return False
    text = response.text
    return "未记录" in text and "unknown" not in text.lower()


def send(
    client: httpx.Client,
    target: HttpTarget,
    ledger: Ledger,
    request: Request,
    stop: threading.Event,
) -> None:
    """Send one request, retrying as the module docstring says, until it ends or ``stop``."""
    backoff = 0.1
    body = target.body(request.marker)  # one body for every attempt: a retry is the same request
    while True:
        started = time.monotonic()
        retry = False
        try:
            response = client.post(
                target.url + target.path, json=body, headers=target.headers(request.marker)
            )
        except httpx.ConnectError:
            ledger.error(request, "conn refused")
            retry = True
        except (httpx.TimeoutException, httpx.TransportError) as e:
            ledger.error(request, "timeout" if isinstance(e, httpx.TimeoutException) else "dropped")
            retry = target.idempotent
        else:
            if response.status_code < 300:
                ledger.ok(request, started, time.monotonic())
                return
            ledger.error(request, str(response.status_code))
            retry = _nothing_recorded(response) or (
                target.idempotent and response.status_code >= 500
            )
        if not retry or stop.is_set():
            return
        ledger.retried()
        time.sleep(backoff)
        backoff = min(backoff * 2, 1.0)


@dataclass
class HttpLoad:
    """``writers`` threads each sending ``count`` requests (or until stopped), one at a time."""

    target: HttpTarget
    ledger: Ledger
    writers: int = 4
    count: int | None = None
    pause: float = 0.05
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> HttpLoad:
        for i in range(self.writers):
            thread = threading.Thread(target=self._writer, args=(i,), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def _writer(self, index: int) -> None:
        with httpx.Client(timeout=HTTP_TIMEOUT) as client:
            n = 0
            while not self.stop_event.is_set() and (self.count is None or n < self.count):
                request = self.ledger.new(f"{self.ledger.prefix}-{index}-{n}", 1)
                send(client, self.target, self.ledger, request, self.stop_event)
                n += 1
                time.sleep(self.pause)

    def stop(self, timeout: float = 30.0) -> None:
        self.stop_event.set()
        self.join(timeout)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.1, deadline - time.monotonic()))


DIRECT_EVENTS = 4
"""A direct commit: two new rooms, each with its annual plan, saved in one atomic batch."""


class DirectLoad:
    """``python -m tests.faults.direct_writer``: the application itself, in its own process."""

    def __init__(self, ws: Workspace, prefix: str, *, pause: float = 0.05, **env: str) -> None:
        self.prefix = prefix
        self.proc: Proc = ws.python(
            "direct-writer", "tests.faults.direct_writer", prefix, "--pause", str(pause), **env
        )

    @property
    def ledger(self) -> Ledger:
        """What the writer reported so far (its stdout lines, parsed)."""
        ledger = Ledger("direct commits", self.prefix)
        requests: dict[str, Request] = {}
        for line in list(self.proc.lines):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            marker = record.get("m")
            if marker is None:
                continue
            if "send" in record:
                requests[marker] = ledger.new(marker, DIRECT_EVENTS)
            elif record.get("ok"):
                ledger.ok(requests[marker], record["send_t"], record["t"])
            else:
                ledger.error(requests[marker], str(record.get("err", "error")))
        return ledger

    def fatal(self) -> str | None:
        for line in self.proc.lines:
            if '"fatal"' in line:
                return str(json.loads(line)["fatal"])
        return None

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM (the commit in flight may end first), SIGKILL after ``timeout``: a commit
        still in flight then has no answer, as for a client that gave up."""
        return self.proc.stop(timeout)


def wait_recovered(
    ledgers: list[Callable[[], Ledger]], moment: float, timeout: float
) -> list[float | None]:
    """Wait (at most ``timeout``) until every load has an ack sent after ``moment``."""
    deadline = time.monotonic() + timeout
    while True:
        found = [get().first_ack_after(moment) for get in ledgers]
        if all(f is not None for f in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


RIDE_OUT = 30.0
"""Seconds after a fault that the loads keep writing: a process that dies of a lost
connection some time later (not at once) dies within them."""


def ride_out(ws: Workspace, moment: float, ledgers: list[Callable[[], Ledger]]) -> list[str]:
    """Keep writing until ``RIDE_OUT`` after ``moment`` (within the scenario's time); say for
    each load whether it was still acknowledged in the last seconds."""
    until = min(moment + RIDE_OUT, time.monotonic() + max(0.0, ws.left() - 45))
    time.sleep(max(0.0, until - time.monotonic()))
    recent = time.monotonic() - 5.0
    return [
        "still acknowledged at the end"
        if any((r.acked_at or 0) >= recent for r in get().requests.values())
        else "no ack in the last 5 s"
        for get in ledgers
    ]
