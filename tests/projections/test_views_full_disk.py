"""The views file on a full disk: the follower rides it out, writes nothing partial, and
catches up by itself once space returns (no restart); ``/readyz`` names the views file."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from projections.rebuild import snapshot
from projections.runner import Projector
from service.http.views_reader import LocalViews, ViewsReader
from tests.support.rebuilt_views import fresh_rebuild
from tests.support.scenario import Scenario, full_lifecycle
from tests.support.small_disk import fill_disk, small_disk


def _wait_for(condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_a_full_views_disk_stalls_the_follower_then_it_catches_up(tmp_path: Path) -> None:
    s = Scenario()
    s.town_room()
    with small_disk(tmp_path, "8m") as disk:
        path = disk / "projections.duckdb"
        con = duckdb.connect(str(path))
        stalls: list[str | None] = []
        local = LocalViews()  # what `hsl serve` gives its projector and its API's reader
        views = ViewsReader(path, local=local)

        def on_stall(why: str | None) -> None:
            stalls.append(why)
            local.stall(why)

        projector = Projector(con, s.app.recorder, s.app.name, on_stall=on_stall)
        projector.catch_up()
        before = projector.position
        con.execute("CHECKPOINT")
        filler = fill_disk(disk)
        full_lifecycle(s)  # the log goes on; the views file cannot take it
        end = s.app.recorder.max_notification_id()
        stop = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                projector.follow(stop, batch_size=16, idle=0.05)
            except BaseException as e:
                errors.append(e)

        follower = threading.Thread(target=run)
        follower.start()
        try:
            _wait_for(lambda: projector.stalled is not None or errors)
            assert not errors, errors
            assert projector.position == before  # nothing of the refused batch
            readiness = views.readable()
            assert readiness is not None
            assert str(path) in readiness
            filler.unlink()
            _wait_for(lambda: projector.position == end or errors)
        finally:
            stop.set()
            follower.join(timeout=10)
        assert not errors, errors
        assert not follower.is_alive()
        assert projector.stalled is None
        assert stalls[0] is not None
        assert stalls[-1] is None
        after = views.readable()
        assert after is None or "not updated" not in after
        live = snapshot(con)
        con.close()
    assert live == fresh_rebuild(s.app, tmp_path / "fresh.duckdb")
