"""The record's clock: which time of a stored event the verifiers trust, and what they check.

Three times travel with every stored event. ``occurred_at`` is the caller's (when it happened
in the world); ``recorded_at`` is the writing process's clock when its command began;
``stored_at`` is the JetStream server's clock when it stored the message (its
``Nats-Time-Stamp``). The server stamps ``stored_at`` itself, no publisher can choose it, and
every Merkle leaf binds it (``replay.leaf``), so it is the record's trusted clock. The other
two are claims checked against it:

- ``backdated``: ``recorded_at`` earlier than ``stored_at`` by more than
  :data:`CLOCK_TOLERANCE` (a recorded time moved to an earlier moment);
- ``postdated``: ``recorded_at`` later than ``stored_at`` by more than the tolerance (a
  recorded time moved to a later moment, or a writer whose clock runs far ahead);
- ``rewound``: ``stored_at`` earlier than that of an event before it in the sequence by more
  than the tolerance (the server's clock went back, or a cluster's new leader runs behind).

Within the tolerance ``recorded_at`` may go back along the sequence: concurrent commands
(threads of one API, several API processes) each take their time when they begin and reach
the stream in another order, and a writer's clock may be stepped back a few seconds. Both
are honest and verify. A late entry (occurred long before it was recorded) is not a fault:
the verifiers list it (``events.common.LATE_ENTRY``).

The live verifier (``hsl audit verify --live``) and the offline bundle check both run this
one check, through ``replay.verification``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

CLOCK_TOLERANCE: Final = timedelta(minutes=5)
"""How far ``recorded_at`` may stray from ``stored_at``, and ``stored_at`` go back.

Covers a command that is slow between taking its time and being stored (a large aggregate
read, a reconnect, a commit retried after a lost acknowledgement, which happens within the
stream's duplicate window, ``events.jetstream.stream_layout.DUPLICATE_WINDOW``, shorter than this),
clocks of writers and servers that differ, and a clock stepped by a few seconds. A forged
time that stays inside it is within minutes of the truth; anything further is named with its
sequence.
"""

TimeFaultKind = Literal["backdated", "postdated", "rewound"]


@dataclass(frozen=True)
class TimeFault:
    """One event's times do not agree with the record's clock: the kind and why."""

    kind: TimeFaultKind
    message: str


def stored_time(stored_at: str) -> datetime | None:
    """The server's storage time of a leaf (RFC 3339, nanoseconds allowed); None if unreadable."""
    try:
        moment = datetime.fromisoformat(stored_at)
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None else None


class RecordClock:
    """Checks each event's times against the server's clock, event by event in sequence order."""

    def __init__(self, tolerance: timedelta = CLOCK_TOLERANCE) -> None:
        self.tolerance = tolerance
        self._allowed = _span(tolerance)
        """The tolerance as a fault's message says it."""
        self._latest: tuple[int, datetime] | None = None
        """The greatest ``stored_at`` so far, and the sequence that holds it."""

    def check(self, seq: int, recorded_at: datetime, stored_at: datetime) -> TimeFault | None:
        """The fault of event ``seq``'s times, or None; then remember its ``stored_at``."""
        if stored_at - recorded_at > self.tolerance:
            return TimeFault(
                "backdated",
                f"recorded_at {recorded_at.isoformat()} is {_span(stored_at - recorded_at)} "
                f"before the server stored it ({stored_at.isoformat()}); at most {self._allowed} "
                "is allowed (back-dated)",
            )
        if recorded_at - stored_at > self.tolerance:
            return TimeFault(
                "postdated",
                f"recorded_at {recorded_at.isoformat()} is {_span(recorded_at - stored_at)} "
                f"after the server stored it ({stored_at.isoformat()}); at most {self._allowed} "
                "is allowed (post-dated)",
            )
        if self._latest is not None:
            latest_seq, latest = self._latest
            if latest - stored_at > self.tolerance:
                return TimeFault(
                    "rewound",
                    f"stored_at {stored_at.isoformat()} is {_span(latest - stored_at)} before "
                    f"event {latest_seq}'s ({latest.isoformat()}); at most {self._allowed} is "
                    "allowed (the server's clock went back)",
                )
        if self._latest is None or stored_at > self._latest[1]:
            self._latest = (seq, stored_at)
        return None


def _span(delta: timedelta) -> str:
    """A duration to the second, as ``timedelta`` prints it (``1 day, 0:00:00``, ``0:05:00``)."""
    return str(timedelta(seconds=int(delta.total_seconds())))
