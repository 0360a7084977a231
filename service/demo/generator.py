"""Play the county's plan against the application, one command at a time, in time order.

Each room's set-up, each topic and each outcome is a *lifecycle* (``service.demo.rooms``,
``topics``, ``outcomes``), interleaved by the timeline (``service.demo.timeline``) in the
simulated time of their next steps, so the story's present (``DemoClock``) only moves
forward. Every ``occurred_at`` is that present or earlier (earlier only for entries recorded
late on purpose).

Two times, two clocks: ``occurred_at`` is the story's, ``recorded_at`` is the application's
own clock, the real time of writing, as for every other writer. The demo writes its years of
history now, so the record says so: its events verify against the server's storage time
(``replay.record_time``) like any other, and a second seed written to the same log later
never goes back in time. Being entered long after they occurred, its events are late entries
(``backdated``); those late on purpose also carry an ``occurred_at`` weeks before the story's
present.

Determinism: all choices come from the plan (``county.py``) and from per-lifecycle
``random.Random`` instances seeded by it; the story's clock is simulated; and the ids the
domain draws (aggregates, motions, dissents) come from ``DemoIds``, the application's
id source while the demo runs (``HaoshangliangApplication.ids``). The same seed and
scale therefore give the same commands and the same events, alike in every field but the
time of writing (``recorded_at``) and what follows from it (``backdated``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

from service.demo.outcomes import OutcomeLives
from service.demo.plan import START
from service.demo.rooms import RoomLives
from service.demo.stage import DemoStats
from service.demo.topics import TopicLives


class Demo(RoomLives, TopicLives, OutcomeLives):
    """Drives one application through the county's plan."""

    def first_id(self) -> UUID:
        """The id of the first aggregate the demo creates (the first town's room)."""
        return self.ids.nth(1)

    def run(
        self, progress: Callable[[datetime], None] | None = None, every: int = 200
    ) -> DemoStats:
        """Run the whole plan; ``progress(simulated_now)`` is called every ``every`` steps."""
        for index, town in enumerate(self.county.towns):
            self.timeline.spawn(START + timedelta(seconds=30 * index), self._set_up_town(town))
        for plan in self.county.plans:
            self.timeline.spawn(plan.start, self._topic(plan))
        steps = 0
        own_ids, self.app.ids = self.app.ids, self.ids
        try:
            while self.timeline.step():
                steps += 1
                if progress is not None and steps % every == 0:
                    progress(self.clock.now)
        finally:
            self.app.ids = own_ids
        if progress is not None:
            progress(self.clock.now)
        return self.stats
