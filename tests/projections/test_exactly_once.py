"""The runner's guarantee: a batch and its tracking position commit together or not at all."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from eventsourcing.persistence import Notification, StoredEvent

from projections.rebuild import rebuild, snapshot
from projections.runner import Projector
from projections.schema import SchemaMismatchError
from tests.support.rebuilt_views import fresh_rebuild
from tests.support.scenario import Scenario, full_lifecycle


class InjectedCrashError(Exception):
    """Injected by a test hook in the middle of a batch."""


def crash_at(sequence: int) -> Callable[[int], None]:
    """A hook that crashes once the batch reaches ``sequence``."""

    def hook(seq: int) -> None:
        if seq >= sequence:
            raise InjectedCrashError(seq)

    return hook


class TestCrashInTheMiddleOfABatch:
    def test_restart_ends_equal_to_a_fresh_rebuild(self, tmp_path: Path) -> None:
        """A projector crashed inside a batch resumes at its last commit; nothing twice."""
        s = Scenario()
        full_lifecycle(s)
        path = tmp_path / "live.duckdb"
        con = duckdb.connect(str(path))
        crashing = Projector(con, s.app.recorder, s.app.name, after_change=crash_at(30))
        with pytest.raises(InjectedCrashError):
            crashing.catch_up(batch_size=8)
        committed = con.execute("SELECT notification_id FROM tracking").fetchall()
        assert committed == [(24,)]
        con.close()  # the process dies; a new one opens the file

        con = duckdb.connect(str(path))
        restarted = Projector(con, s.app.recorder, s.app.name)
        assert restarted.position == 24
        restarted.catch_up(batch_size=8)
        live = snapshot(con)
        con.close()
        assert live == fresh_rebuild(s.app, tmp_path / "fresh.duckdb")

    def test_batch_size_does_not_change_the_views(self, tmp_path: Path) -> None:
        """One event per transaction or all at once: the same rows."""
        s = Scenario()
        full_lifecycle(s)
        con = duckdb.connect(str(tmp_path / "one.duckdb"))
        Projector(con, s.app.recorder, s.app.name).catch_up(batch_size=1)
        assert snapshot(con) == fresh_rebuild(s.app, tmp_path / "all.duckdb")


class TestUnknownEventType:
    def test_is_quarantined_with_the_position_and_the_rest_applied(self, tmp_path: Path) -> None:
        """An event the projection does not know is skipped, listed, and the next applied."""
        s = Scenario()
        s.town_room()
        con = duckdb.connect(str(tmp_path / "v.duckdb"))
        projector = Projector(con, s.app.recorder, s.app.name)
        projector.catch_up()
        s.app.recorder.insert_events(
            [StoredEvent(uuid.uuid4(), 1, "outcome.mystery", b'{"type":"outcome.mystery"}')]
        )
        s.town_room()  # a known event after the unknown one
        projector.catch_up()
        assert projector.position == 3
        assert con.execute("SELECT count(*) FROM rooms").fetchone() == (2,)
        (row,) = con.execute("SELECT stream, seq, kind, reason FROM quarantine").fetchall()
        assert row[:3] == (projector.stream, 2, "undecodable")
        assert "outcome.mystery" in row[3]
        assert projector.quarantine.total == 1
        assert snapshot(con) == fresh_rebuild(s.app, tmp_path / "fresh.duckdb")


class TestRebuild:
    def test_swaps_in_a_new_file_with_progress(self, tmp_path: Path) -> None:
        """The old file serves until the new one is complete, then is replaced by it."""
        s = Scenario()
        s.verified()
        target = tmp_path / "projections.duckdb"
        with duckdb.connect(str(target)) as old:
            old.execute("CREATE TABLE stale (x INTEGER)")
        seen: list[tuple[int, int]] = []
        position = rebuild(
            s.app.recorder,
            s.app.name,
            target,
            batch_size=5,
            progress=lambda at, end: seen.append((at, end)),
        )
        end = s.app.recorder.max_notification_id()
        assert position == end
        assert seen[0] == (0, end)
        assert seen[-1] == (end, end)
        with duckdb.connect(str(target), read_only=True) as con:
            tables = {
                r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            }
        assert "stale" not in tables
        assert "outcomes" in tables
        assert [p.name for p in tmp_path.iterdir()] == ["projections.duckdb"]


class FakeSubscription:
    """Hands over what the test feeds it; ``None`` ends it, as ``stop`` does."""

    def __init__(self) -> None:
        self.feed: queue.Queue[Notification | None] = queue.Queue()

    def __enter__(self) -> FakeSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __iter__(self) -> FakeSubscription:
        return self

    def __next__(self) -> Notification:
        item = self.feed.get()
        if item is None:
            raise StopIteration
        return item

    def stop(self) -> None:
        self.feed.put(None)


class TestFollowNeverSkips:
    def test_a_gap_in_the_subscription_is_read_from_the_log(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If the live feed starts past the position, the missing events are fetched first."""
        s = Scenario()
        s.town_room()
        fake = FakeSubscription()
        subscribed = threading.Event()

        def subscribe(gt: int | None = None, topics: object = ()) -> FakeSubscription:
            subscribed.set()
            return fake

        monkeypatch.setattr(s.app.recorder, "subscribe", subscribe)
        con = duckdb.connect(str(tmp_path / "live.duckdb"))
        projector = Projector(con, s.app.recorder, s.app.name)
        stop = threading.Event()
        follower = threading.Thread(
            target=projector.follow, args=(stop, 100), kwargs={"idle": 0.02}
        )
        follower.start()
        try:
            assert subscribed.wait(5)
            s.verified()
            later = s.app.recorder.select_notifications(start=2, limit=1000)
            for notification in later[3:]:  # the feed lost the first three
                fake.feed.put(notification)
            deadline = time.monotonic() + 5
            while projector.position < later[-1].id and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            stop.set()
            follower.join(5)
        assert projector.position == later[-1].id
        live = snapshot(con)
        con.close()
        assert live == fresh_rebuild(s.app, tmp_path / "fresh.duckdb")


class TestSchemaVersion:
    def test_a_file_of_another_schema_version_is_refused(self, tmp_path: Path) -> None:
        """Views built by another projection version are not extended: rebuild them."""
        s = Scenario()
        s.town_room()
        con = duckdb.connect(str(tmp_path / "v.duckdb"))
        Projector(con, s.app.recorder, s.app.name).catch_up()
        con.execute("UPDATE projection_schema SET version = version + 1")
        with pytest.raises(SchemaMismatchError, match="hsl projections rebuild"):
            Projector(con, s.app.recorder, s.app.name)
