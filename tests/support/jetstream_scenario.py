"""The domain tests' scenario on a real JetStream log (one copy for every suite that needs it)."""

from __future__ import annotations

from service.application import HaoshangliangApplication
from service.bootstrap import application_env
from tests.support.scenario import FakeClock, Scenario


class JetStreamScenario(Scenario):
    """The domain tests' scenario, on the JetStream log instead of the in-memory store.

    By default the application's clock is the scenario's, so ``recorded_at`` is the story's
    time (what the as-of tests need). ``wall_clock``: the application keeps the real clock, as
    a served log does, so the log verifies against the server's storage times
    (``replay.record_time``); its events, entered now about the story's past, are late entries.
    """

    def __init__(self, url: str, *, wall_clock: bool = False) -> None:
        self.clock = FakeClock()
        clock = None if wall_clock else self.clock
        self.app = HaoshangliangApplication(env=application_env(url), clock=clock)
