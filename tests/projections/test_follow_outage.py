"""A projector that follows the log rides out a log that does not answer: it waits, says why
its views are behind, and follows again from its position; anything else still stops it."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from eventsourcing.persistence import OperationalError

from projections import runner
from projections.runner import Projector
from projections.schema import tracking_position
from tests.support.scenario import Scenario, full_lifecycle


class Outage:
    """The scenario's recorder, not answering its first ``calls`` reads of the head."""

    def __init__(self, recorder: Any, calls: int, error: Exception) -> None:
        self._recorder = recorder
        self.left = calls
        self.error = error

    def max_notification_id(self) -> int | None:
        if self.left > 0:
            self.left -= 1
            raise self.error
        return int(self._recorder.max_notification_id() or 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._recorder, name)


def _follow(projector: Projector, stop: threading.Event) -> list[BaseException]:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            projector.follow(stop, idle=0.05)
        except BaseException as e:
            failures.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return failures


def test_an_unanswering_log_is_waited_out_and_followed_from_the_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "STALL_PAUSE", (0.01, 0.05))
    s = Scenario()
    full_lifecycle(s)
    head = int(s.app.recorder.max_notification_id() or 0)
    con = duckdb.connect(str(tmp_path / "views.duckdb"))
    stalls: list[str | None] = []
    outage = Outage(s.app.recorder, calls=3, error=OperationalError("nats: no servers"))
    projector = Projector(con, outage, s.app.name, on_stall=stalls.append)  # type: ignore[arg-type]
    stop = threading.Event()
    failures = _follow(projector, stop)
    try:
        deadline = time.monotonic() + 20
        while projector.position < head and time.monotonic() < deadline:
            time.sleep(0.02)
        assert projector.position == head
        assert not failures
        assert outage.left == 0
        assert stalls[0] is not None
        assert "the event log (NATS) does not answer: nats: no servers" in stalls[0]
        assert stalls[-1] is None, "the views say they are current again"
        assert projector.stalled is None
    finally:
        stop.set()
    assert tracking_position(con, s.app.name) == head


def test_any_other_failure_still_stops_it(tmp_path: Path) -> None:
    s = Scenario()
    full_lifecycle(s)
    con = duckdb.connect(str(tmp_path / "views.duckdb"))
    outage = Outage(s.app.recorder, calls=1, error=RuntimeError("a bug"))
    projector = Projector(con, outage, s.app.name)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="a bug"):
        projector.follow(threading.Event(), idle=0.05)
    assert projector.position == 0
