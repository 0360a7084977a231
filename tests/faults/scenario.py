"""What a fault scenario is, and running one within its time: rows, notes, or why not."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.faults.figures import Row
from tests.faults.procs import Workspace

NOT_RUN = "not run:"
"""How a scenario's skip reason starts when the run's budget ended before it (a failure)."""


class Skipped(Exception):  # noqa: N818 - it is an outcome, not an error
    """The machine cannot run this scenario (the reason is the message)."""


@dataclass(frozen=True)
class Options:
    """How big the run is: ``quick`` is the subset the default test suite runs."""

    quick: bool = False
    keep: bool = False
    """Keep each scenario's temporary directory (its logs) instead of removing it."""


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    run: Callable[[Workspace, Options], list[Row]]
    timeout: float
    """Seconds the full run may take; the quick one gets the same bound."""
    what: str
    """One sentence on what is done (for docs/reliability.md)."""


@dataclass
class Result:
    scenario: Scenario
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: str | None = None
    error: str | None = None
    secret_hits: int = 0

    @property
    def bad(self) -> bool:
        """Gates the run: lost, duplicated or torn > 0, verify failed, a check failed, a
        secret in a log, or the scenario could not finish."""
        if self.skipped is not None:
            return self.skipped.startswith(NOT_RUN)
        return self.error is not None or self.secret_hits > 0 or any(r.bad for r in self.rows)


def run_scenario(scenario: Scenario, options: Options, budget_left: float) -> Result:
    """Run one scenario in a worker thread; past its time, end its processes and report."""
    timeout = min(scenario.timeout, budget_left)
    result = Result(scenario)
    started = time.monotonic()
    ws = Workspace(f"s{scenario.key}", started + timeout)
    done = threading.Event()

    def work() -> None:
        try:
            result.rows = scenario.run(ws, options)
        except Skipped as e:
            result.skipped = str(e)
        except Exception as e:
            result.error = f"{type(e).__name__}: {e}"
            ws.note("traceback: " + traceback.format_exc(limit=3).replace("\n", " ")[-600:])
        finally:
            done.set()

    thread = threading.Thread(target=work, name=f"scenario-{scenario.key}", daemon=True)
    thread.start()
    if not done.wait(timeout + 15):
        result.error = f"did not finish within {timeout:.0f} s"
        ws.kill_all()
        done.wait(30)
    result.seconds = time.monotonic() - started
    try:
        result.secret_hits = ws.secret_hits()
    finally:
        ws.close(keep=options.keep)
    result.notes = ws.notes
    if options.keep:
        result.notes.append(f"logs kept in {ws.base}")
    return result
