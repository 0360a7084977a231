""" "As of": the point in the log an auditor names, by time or by stream sequence.

The log is append-only and ``recorded_at`` follows the stream sequence to within the record's
clock tolerance (``replay.record_time``: concurrent writers may store a command that began a
moment earlier after one that began later), so "as the system knew it at time T" is a prefix
of the log, exact to within that: every event recorded at or before T. A bare date means the
end of that day, in UTC like every time we store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import msgspec
from eventsourcing.domain import Aggregate

from replay.history import Entry


class AsOfError(ValueError):
    """An as-of point that cannot be understood; the message names the text and the form."""


@dataclass(frozen=True)
class AsOf:
    """A point in the log: a recorded time (UTC) or a stream sequence, exactly one."""

    time: datetime | None = None
    sequence: int | None = None

    @classmethod
    def parse(cls, text: str) -> AsOf:
        """``2025-06-30``, ``2025-06-30T12:00:00+08:00`` / ``…Z``, or a sequence ``12345``."""
        text = text.strip()
        if text.isdigit():
            sequence = int(text)
            if sequence < 1:
                msg = f"as-of sequence {text!r} must be 1 or more"
                raise AsOfError(msg)
            return cls(sequence=sequence)
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                end = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
                return cls(time=end - timedelta(microseconds=1))
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is None:
            msg = (
                f"as-of {text!r} is neither a date (2025-06-30), a time with its offset "
                "(2025-06-30T12:00:00+08:00) nor a stream sequence (12345)"
            )
            raise AsOfError(msg)
        if moment.tzinfo is None:
            msg = f"as-of time {text!r} has no UTC offset: add Z or +08:00"
            raise AsOfError(msg)
        return cls(time=moment.astimezone(UTC))

    def includes(self, entry: Entry) -> bool:
        """Whether ``entry`` was in the log at this point."""
        if self.sequence is not None:
            return entry.seq <= self.sequence
        assert self.time is not None
        return entry.recorded_at <= self.time

    def describe(self) -> str:
        if self.sequence is not None:
            return f"stream sequence {self.sequence}"
        assert self.time is not None
        return f"recorded by {self.time.isoformat()}"


def version_as_of(entries: list[Entry], aggregate_id: str, as_of: AsOf) -> int | None:
    """The aggregate's version at ``as_of`` (None if it did not exist yet)."""
    versions = [e.version for e in entries if e.aggregate_id == aggregate_id and as_of.includes(e)]
    return max(versions) if versions else None


def aggregate_state(aggregate: Aggregate) -> dict[str, Any]:
    """An aggregate's attributes as JSON values (ids and times as text)."""
    public = {k: v for k, v in vars(aggregate).items() if not k.startswith("_")}
    public["id"] = aggregate.id
    public["version"] = aggregate.version
    state: dict[str, Any] = msgspec.to_builtins(public, enc_hook=_as_text, str_keys=True)
    return state


def _as_text(value: object) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)
