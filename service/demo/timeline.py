"""The demo's time: the story's clock, its ids, and the timeline that interleaves lifecycles.

Each room's set-up, each topic and each outcome is a *lifecycle*: a generator that sends one
command (or a few, for one meeting) and then yields how long to wait before its next step. The
timeline keeps every pending lifecycle in a heap by the simulated time of its next step, so
the commands of the whole county interleave as they would in a year of real work, and the
story's present (:class:`DemoClock`) only moves forward.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Generator
from datetime import date, datetime, time, timedelta
from typing import Final
from uuid import UUID, uuid5

from service.demo.plan import CST, END, START

DEMO_NAMESPACE: Final = UUID("2f6c1e0a-9d4b-5c1e-8a47-1b3f5d7e9c20")

Life = Generator[timedelta, None, None]
"""A lifecycle: runs commands, yields the wait before its next step."""


class DemoClock:
    """The story's present, moved only by the timeline: what ``occurred_at`` is (not the
    application's clock, which stamps ``recorded_at`` with the real time)."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class DemoIds:
    """The ids the domain would draw at random: uuid5 of the seed and a running count."""

    def __init__(self, seed: int) -> None:
        self.namespace = uuid5(DEMO_NAMESPACE, f"seed:{seed}")
        self.count = 0

    def nth(self, n: int) -> UUID:
        """The ``n``-th id handed out (1-based); the first is the first town's room."""
        return uuid5(self.namespace, str(n))

    def __call__(self) -> UUID:
        self.count += 1
        return self.nth(self.count)


class Timeline:
    """Pending lifecycles by the simulated time of their next step (ties: first come)."""

    def __init__(self, clock: DemoClock, end: datetime = END) -> None:
        self.clock = clock
        self.end = end
        self._heap: list[tuple[datetime, int, Life]] = []
        self._seq = 0

    def spawn(self, at: datetime, life: Life) -> None:
        """Start ``life`` at ``at`` (not before the present)."""
        self._seq += 1
        heapq.heappush(self._heap, (max(at, self.clock.now), self._seq, life))

    def step(self) -> bool:
        """Run the earliest pending step; False when nothing is left before the end."""
        while self._heap:
            at, _, life = heapq.heappop(self._heap)
            if at > self.end:
                life.close()
                continue
            self.clock.now = max(self.clock.now, at)
            try:
                wait = next(life)
            except StopIteration:
                return True
            self.spawn(self.clock.now + wait, life)
            return True
        return False

    def __len__(self) -> int:
        return len(self._heap)


def days_later(rng: random.Random, low: int, high: int) -> timedelta:
    """Some days later, at a random time of the working day (about 9:00–17:00)."""
    return timedelta(days=rng.randint(low, high), minutes=rng.randrange(0, 8 * 60))


def minutes_later(rng: random.Random, low: int, high: int) -> timedelta:
    return timedelta(minutes=rng.randint(low, high))


def wait_until(now: datetime, day: date, at: time = time(9, 30)) -> timedelta:
    """The wait from ``now`` to ``at`` on ``day`` (zero if that is past)."""
    return max(datetime.combine(day, at, tzinfo=CST) - now, timedelta(0))
