"""What the demo tells its user: a progress bar while writing, and counts read back after.

The counts come from the log itself (the recorder's ``select_notifications``), not from
the generator's bookkeeping, so the report shows what the stream holds.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, TextIO

from eventsourcing.persistence import ApplicationRecorder

from service.demo.plan import END, START

READ_PAGE: Final = 10_000


class ProgressBar:
    """One self-rewriting stderr line: simulated date, share of the timeline, events, rate.

    ``events`` is asked only when the line is redrawn (at most every ``interval`` seconds),
    since it may cost a request to the server.
    """

    def __init__(
        self,
        *,
        enabled: bool,
        stream: TextIO | None = None,
        width: int = 28,
        interval: float = 0.2,
        start: datetime = START,
        end: datetime = END,
    ) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.interval = interval
        self.start, self.end = start, end
        self.began = time.monotonic()
        # None until the first draw: monotonic() may be below ``interval`` on a machine
        # that booted moments ago, so no number is a safe "never".
        self._last_draw: float | None = None
        self._drawn = False

    def update(self, now: datetime, events: Callable[[], int], *, force: bool = False) -> None:
        """Redraw if enough time has passed since the last redraw (or ``force``)."""
        if not self.enabled:
            return
        tick = time.monotonic()
        last = self._last_draw
        if not force and last is not None and tick - last < self.interval:
            return
        self._last_draw = tick
        share = (now - self.start) / (self.end - self.start)
        share = min(max(share, 0.0), 1.0)
        filled = round(share * self.width)
        written = events()
        elapsed = max(tick - self.began, 1e-9)
        line = (
            f"\r{now:%Y-%m-%d} [{'#' * filled}{'.' * (self.width - filled)}] {share:4.0%} "
            f"{written:>11,} events {written / elapsed:>8,.0f}/s {_clock(elapsed)}"
        )
        self.stream.write(line)
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the progress line so that what follows starts on a fresh one."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def count_by_type(recorder: ApplicationRecorder, after: int = 0) -> Counter[str]:
    """Events per topic (tag) in the log after notification id ``after``, read back."""
    counts: Counter[str] = Counter()
    start = after + 1
    while True:
        page = recorder.select_notifications(start=start, limit=READ_PAGE)
        if not page:
            return counts
        counts.update(n.topic for n in page)
        start = page[-1].id + 1


@dataclass(frozen=True)
class Summary:
    """Everything the final report prints."""

    seed: int
    scale: int
    county: str
    towns: int
    rooms: int
    planned_topics: int
    url: str
    server: str
    stream: str
    counts: Counter[str]
    before: int
    """Events the stream held before this run."""
    seconds: float
    """Time spent writing (commands through the application, not the read-back)."""
    read_seconds: float = 0.0
    """Time spent reading the events back to count them."""

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def rate(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0


def format_summary(summary: Summary) -> str:
    """The report as printed: where it went, how fast, and the counts by event type."""
    s = summary
    width = max([len("total"), *(len(tag) for tag in s.counts)])
    lines = [
        f"demo      seed {s.seed}, scale {s.scale}",
        f"county    {s.county}: {s.towns:,} towns, {s.rooms:,} rooms, "
        f"{s.planned_topics:,} planned topics, {START:%Y-%m-%d} to {END:%Y-%m-%d}",
        f"NATS      {s.url} ({s.server})",
        f"stream    {s.stream}",
        f"wrote     {s.total:,} events in {s.seconds:,.1f} s ({s.rate:,.0f} events/s)",
    ]
    if s.before:
        lines.append(
            f"          the stream now holds {s.before + s.total:,} events "
            f"({s.before:,} were there before)"
        )
    lines += ["", f"events by type, read back from the log in {s.read_seconds:,.1f} s:"]
    lines += [f"  {tag:<{width}}  {count:>10,}" for tag, count in sorted(s.counts.items())]
    lines.append(f"  {'total':<{width}}  {s.total:>10,}")
    return "\n".join(lines)
