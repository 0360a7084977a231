"""The figures of one fault scenario: what clients were told, what the log holds, the table.

Every client request (an HTTP command, a direct application commit) carries a unique marker
that its stored events repeat (a room's name, a plan's summary), so the log can be matched
to the requests: acknowledged but absent is *lost*, stored more than once is *duplicated*,
a multi-event commit found in part is *torn*.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

MARK = "fault-"
"""Every marker starts with it, so events of the demo or of a probe are never counted."""


@dataclass
class Request:
    """One marked client request and what became of it."""

    marker: str
    events: int
    """How many events the log holds for this marker when the request is stored once."""
    acked: bool = False
    acked_at: float | None = None
    """monotonic time of the acknowledgement."""
    attempt_started: float | None = None
    """monotonic time the acknowledged attempt was sent."""
    outcome: str = "not sent"
    """The last answer: ``ok``, an HTTP status, ``conn``, ``timeout`` or an error class."""


@dataclass
class Ledger:
    """Every request of one load, shared by the threads that send them."""

    name: str
    prefix: str
    """Every marker of this load starts with it (and a ``-``)."""
    requests: dict[str, Request] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    """Every answer that was not a success, by HTTP status or error kind (retries included)."""
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def new(self, marker: str, events: int) -> Request:
        with self._lock:
            request = Request(marker, events)
            self.requests[marker] = request
            return request

    def error(self, request: Request, kind: str) -> None:
        with self._lock:
            request.outcome = kind
            self.errors[kind] += 1

    def ok(self, request: Request, started: float, at: float) -> None:
        with self._lock:
            request.outcome = "ok"
            request.acked, request.acked_at, request.attempt_started = True, at, started

    def retried(self) -> None:
        with self._lock:
            self.retries += 1

    def first_ack_after(self, moment: float) -> float | None:
        """Seconds from ``moment`` to the first acknowledgement of an attempt sent after it."""
        with self._lock:
            times = [
                r.acked_at
                for r in self.requests.values()
                if r.acked_at is not None
                and r.attempt_started is not None
                and r.attempt_started >= moment
            ]
        return min(times) - moment if times else None

    def acked_count(self) -> int:
        with self._lock:
            return sum(r.acked for r in self.requests.values())


@dataclass
class Row:
    """One line of a scenario's table."""

    case: str
    acknowledged: int | str = "—"
    stored: int | str = "—"
    lost: int = 0
    duplicated: int = 0
    torn: int = 0
    errors: str = "—"
    recover: str = "—"
    verify: str = "—"
    check: str = "—"
    """A scenario's own check (views equal a clean rebuild, checkpoints continue …)."""
    failed: bool = False
    """The check failed (beyond lost/duplicated/torn/verify)."""

    @property
    def bad(self) -> bool:
        verify_bad = self.verify not in ("—", "OK") and not self.verify.startswith("OK")
        return bool(self.lost or self.duplicated or self.torn or verify_bad or self.failed)


def match(ledger: Ledger, stored: Counter[str]) -> Row:
    """Compare a ledger with the stored events per marker (only this ledger's markers)."""
    lost = duplicated = torn = stored_requests = 0
    for marker, request in ledger.requests.items():
        found = stored.get(marker, 0)
        if found == 0:
            lost += request.acked
            continue
        stored_requests += 1
        if found % request.events:
            torn += 1
        elif found > request.events:
            duplicated += found // request.events - 1
    unknown = sum(
        1 for m in stored if m not in ledger.requests and m.startswith(ledger.prefix + "-")
    )
    row = Row(
        case=ledger.name,
        acknowledged=ledger.acked_count(),
        stored=stored_requests + unknown,
        lost=lost,
        duplicated=duplicated,
        torn=torn,
        errors=errors_text(ledger.errors, ledger.retries),
    )
    if unknown:
        row.check = f"{unknown} stored markers no request sent"
        row.failed = True
    return row


def errors_text(errors: Counter[str], retries: int = 0) -> str:
    if not errors:
        return "none"
    shown = ", ".join(f"{kind}×{n}" for kind, n in sorted(errors.items()))
    return shown + (f" ({retries} retried)" if retries else "")


def seconds(value: float | None) -> str:
    return "not recovered" if value is None else f"{value:.1f} s"


COLUMNS = (
    "case",
    "acknowledged",
    "stored",
    "lost",
    "duplicated",
    "torn",
    "client errors",
    "time to recover",
    "verify --live",
    "check",
)


def table(rows: list[Row]) -> str:
    """A Markdown table of ``rows``."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for r in rows:
        cells = (
            r.case,
            r.acknowledged,
            r.stored,
            r.lost,
            r.duplicated,
            r.torn,
            r.errors,
            r.recover,
            r.verify,
            r.check,
        )
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
