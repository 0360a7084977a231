"""The DuckDB views as they stood at a past point of the log, in a file of their own.

The log is a prefix-ordered record (``replay.as_of``), so the views "as of" a point are the
views of the log's prefix up to it: the same projector as ``hsl project``, stopped at that
sequence, writing a separate DuckDB file the auditor queries with ``hsl query --db``. The
live views are not touched. A time is turned into a sequence by binary search on the
events' ``recorded_at`` (a few direct reads, not a scan).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from eventsourcing.persistence import ApplicationRecorder

from events.common import BaseEvent
from events.jetstream.quarantine import payload_verdict
from projections.runner import DEFAULT_BATCH, Projector
from replay.as_of import AsOf

AS_OF_TABLE = """
CREATE TABLE as_of (
    requested VARCHAR NOT NULL,   -- what the auditor asked for (a time or a sequence)
    sequence BIGINT NOT NULL,     -- the last event included (0: none)
    recorded_at TIMESTAMPTZ       -- that event's recorded_at
)
"""


class ViewsAsOfError(RuntimeError):
    """The views cannot be built at that point; the message says why."""


@dataclass(frozen=True)
class Point:
    """Where an as-of point falls in the log."""

    sequence: int
    """The last notification included; 0 when the point is before the first event."""
    recorded_at: str | None


def resolve(recorder: ApplicationRecorder, as_of: AsOf) -> Point:
    """The last notification at or before ``as_of``: sequences directly, times by search."""
    last = recorder.max_notification_id() or 0
    if as_of.sequence is not None:
        sequence = min(as_of.sequence, last)
        return Point(sequence, _recorded_at(recorder, sequence) if sequence else None)
    assert as_of.time is not None
    low, high = 0, last  # invariant: event `low` is included (or low == 0), `high + 1` is not
    while low < high:
        middle = (low + high + 1) // 2
        recorded = _recorded_at_dt(recorder, middle)
        if recorded <= as_of.time:
            low = middle
        else:
            high = middle - 1
    return Point(low, _recorded_at(recorder, low) if low else None)


def _recorded_at_dt(recorder: ApplicationRecorder, sequence: int) -> datetime:
    """The time event ``sequence`` was recorded. For a sequence that holds no event (a message
    quarantined by ``events.jetstream.quarantine``, or one stored on another subject of the
    stream), the time of the event before it: the search passes over it."""
    seq = sequence
    while seq >= 1:
        found = recorder.select_notifications(start=seq, limit=1)
        if found and found[0].id == seq:
            verdict = payload_verdict(found[0].topic, found[0].state)
            if isinstance(verdict, BaseEvent):
                return verdict.recorded_at
        seq -= 1
    return datetime.min.replace(tzinfo=UTC)


def _recorded_at(recorder: ApplicationRecorder, sequence: int) -> str:
    return str(_recorded_at_dt(recorder, sequence).isoformat())


def build_views_as_of(
    recorder: ApplicationRecorder,
    application_name: str,
    target: Path,
    as_of: AsOf,
    requested: str,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> Point:
    """Project the log up to ``as_of`` into ``target`` (replaced only when complete)."""
    point = resolve(recorder, as_of)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.with_name(f"{target.name}.building-{os.getpid()}")
    building.unlink(missing_ok=True)
    try:
        con = duckdb.connect(str(building))
        try:
            projector = Projector(con, recorder, application_name)
            if point.sequence:
                report = None if progress is None else (lambda at: progress(at, point.sequence))
                projector.catch_up(batch_size, until=point.sequence, progress=report)
            con.execute(AS_OF_TABLE)
            con.execute(
                "INSERT INTO as_of VALUES (?, ?, ?)",
                [requested, point.sequence, point.recorded_at],
            )
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(building, target)
    except BaseException:
        for leftover in (building, building.with_name(f"{building.name}.wal")):
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)
        raise
    return point
