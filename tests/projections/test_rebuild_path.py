"""The rebuild's fast path: the log read by a child process, folded in memory, one commit.

Ranges this short are normally read in-process; these tests lower the threshold to 0 so that
the child process and its raw NATS connection are what is tested.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from eventsourcing.persistence import OperationalError

import events.jetstream.bulk_reader as reader
from events.jetstream.bulk_reader import Page, read_pages
from projections import arrow_rows, page_decoding, runner
from projections.batch import Batch
from projections.changes import Insert, Replace, Update
from projections.fold import Fold
from projections.people_reader import person_acts, person_acts_of
from projections.rebuild import rebuild, snapshot
from projections.runner import ProjectionError, Projector
from projections.schema import TABLES, create_schema
from tests.support.jetstream_scenario import JetStreamScenario
from tests.support.scenario import Scenario, full_lifecycle


@pytest.fixture
def scenario(nats_url: str) -> Iterator[Scenario]:
    s = JetStreamScenario(nats_url)
    try:
        full_lifecycle(s)
        yield s
    finally:
        s.app.close()


def flat(pages: Iterator[Page]) -> list[tuple[Any, ...]]:
    return [
        n
        for p in pages
        for n in zip(p.ids, p.originator_ids, p.versions, p.topics, p.states, strict=True)
    ]


def _child_reader(scenario: Scenario, page: int) -> reader._ChildReader:
    """The reader child over the scenario's whole log, as ``read_pages`` starts it."""
    source = reader._raw_source(scenario.app.recorder)
    assert source is not None
    end = scenario.app.recorder.max_notification_id()
    assert end is not None
    return reader._ChildReader(*source, start=1, stop=end, page=page)


def _read_to_the_end(child: reader._ChildReader) -> None:
    while child.next_page() is not None:  # pages it wrote before, if any
        pass


def expected(s: Scenario, start: int, stop: int) -> list[tuple[Any, ...]]:
    got = s.app.recorder.select_notifications(start=start, limit=10_000, stop=stop)
    return [(n.id, str(n.originator_id), n.originator_version, n.topic, n.state) for n in got]


class TestReaderProcess:
    def test_pages_equal_select_notifications(self, scenario: Scenario) -> None:
        """Every event, once, in order, with the recorder's ids, topics and payloads."""
        end = scenario.app.recorder.max_notification_id()
        assert end is not None
        for start, stop, page in ((1, end, 7), (5, 20, 4), (end, end, 10), (end + 1, end + 5, 3)):
            pages = read_pages(scenario.app.recorder, start, stop, page=page, process_threshold=0)
            assert flat(pages) == expected(scenario, start, stop), (start, stop, page)

    def test_a_server_the_child_cannot_reach_falls_back_to_the_recorder(
        self, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        layout = scenario.app.recorder.layout  # type: ignore[attr-defined]
        unreachable = ("nats://127.0.0.1:1", layout.stream, layout.events_filter)
        monkeypatch.setattr(reader, "_raw_source", lambda recorder: unreachable)
        end = scenario.app.recorder.max_notification_id()
        assert end is not None
        pages = read_pages(scenario.app.recorder, 1, end, page=5, process_threshold=0)
        assert flat(pages) == expected(scenario, 1, end)

    def test_closing_after_one_page_stops_the_child_and_its_pages_thread(
        self, scenario: Scenario
    ) -> None:
        """The parent's thread takes pages ahead of the fold; closing early ends both sides
        (the thread may be waiting on a full queue of pages nobody will take)."""
        child = _child_reader(scenario, page=1)
        try:
            first = child.next_page()
            assert first is not None
            assert first.ids == [1]
        finally:
            child.close()
        assert child._process.poll() is not None
        assert not child._prefetch.is_alive()

    def test_a_child_that_dies_is_an_error_not_an_end(self, scenario: Scenario) -> None:
        """A child gone before its last page: the fold is told, never handed a short log."""
        child = _child_reader(scenario, page=5)
        try:
            child._process.kill()
            with pytest.raises(OperationalError, match="ended without finishing"):
                _read_to_the_end(child)
        finally:
            child.close()


class TestFoldAll:
    def test_rebuild_through_the_child_equals_batch_by_batch(
        self, scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Table by table: the one-transaction fold gives what small batches give."""
        con = duckdb.connect(str(tmp_path / "batches.duckdb"))
        Projector(con, scenario.app.recorder, scenario.app.name).catch_up(batch_size=3)
        by_batches = snapshot(con)
        con.close()
        monkeypatch.setattr(runner, "PROCESS_THRESHOLD", 0)
        target = tmp_path / "rebuilt.duckdb"
        rebuild(scenario.app.recorder, scenario.app.name, target, batch_size=5)
        with duckdb.connect(str(target), read_only=True) as rebuilt:
            assert snapshot(rebuilt) == by_batches
        # The catch-up reads through the child as well.
        con = duckdb.connect(str(tmp_path / "caught-up.duckdb"))
        Projector(con, scenario.app.recorder, scenario.app.name).catch_up(batch_size=4)
        assert snapshot(con) == by_batches
        con.close()

    def test_a_failure_leaves_nothing(self, scenario: Scenario, tmp_path: Path) -> None:
        """An event that cannot be applied rolls back the whole fold: no rows, no position."""
        con = duckdb.connect(str(tmp_path / "v.duckdb"))

        def crash(seq: int) -> None:
            if seq == 10:
                raise RuntimeError("crash")

        projector = Projector(con, scenario.app.recorder, scenario.app.name, after_change=crash)
        end = scenario.app.recorder.max_notification_id()
        assert end is not None
        with pytest.raises(RuntimeError, match="crash"):
            projector.fold_all(end)
        assert projector.position == 0
        for table in TABLES:
            assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
        con.close()

    def test_fold_all_refuses_views_that_are_not_empty(
        self, scenario: Scenario, tmp_path: Path
    ) -> None:
        con = duckdb.connect(str(tmp_path / "v.duckdb"))
        projector = Projector(con, scenario.app.recorder, scenario.app.name)
        projector.catch_up(until=3)
        with pytest.raises(ProjectionError, match="empty views"):
            projector.fold_all(10)
        con.close()


def _schema() -> tuple[duckdb.DuckDBPyConnection, dict[str, list[str]], dict[str, list[str]]]:
    con = duckdb.connect(":memory:")
    create_schema(con)
    described = {t: con.execute(f"DESCRIBE {t}").fetchall() for t in TABLES}
    columns = {t: [str(r[0]) for r in rows] for t, rows in described.items()}
    types = {t: [str(r[1]) for r in rows] for t, rows in described.items()}
    return con, columns, types


class TestFold:
    def test_replace_across_flushes_equals_the_batch(self) -> None:
        """A list replaced after part of it was written: the written rows go too."""
        changes: list[tuple[int, Any]] = []
        for seq, people in enumerate((["a", "b", "c"], ["d"], ["e", "f"]), start=1):
            changes.append((seq, Replace("participants", "consultation_id", "c1")))
            for person in people:
                row = {"consultation_id": "c1", "person_id": person, "name": person,
                       "role": "resident_rep", "confirmed_at": datetime(2024, 1, 1)}  # fmt: skip
                changes.append((seq, Insert("participants", row)))
            other = {"consultation_id": f"c{seq + 1}", "person_id": "x", "name": "x",
                     "role": "official", "confirmed_at": datetime(2024, 1, 2)}  # fmt: skip
            changes.append((seq, Insert("participants", other)))
        sql = "SELECT * FROM participants ORDER BY consultation_id, person_id"

        con, columns, types = _schema()
        fold = Fold(con, columns, types, flush_rows=2)
        for seq, change in changes:
            fold.apply(change, seq)
            fold.flush_if_full()  # as fold_all does between pages
        fold.finish()
        folded = con.execute(sql).fetchall()

        con, columns, _ = _schema()
        for seq, change in changes:
            batch = Batch(con, columns)
            batch.apply(change, seq)
            batch.write()
        assert folded == con.execute(sql).fetchall()
        assert [r[1] for r in folded] == ["e", "f", "x", "x", "x"]

    def test_attendee_roles_come_from_the_latest_list_across_flushes(self) -> None:
        """``attendees.role``: the fold's lookup gives what the live path's join gives."""
        changes: list[tuple[int, Any]] = []
        at = datetime(2024, 1, 1)
        lists = [[("a", "official"), ("b", "expert")], [("a", "cppcc_member"), ("c", "notable")]]
        for seq, people in enumerate(lists, start=1):
            changes.append((seq, Replace("participants", "consultation_id", "c1")))
            for person, role in people:
                row = {"consultation_id": "c1", "person_id": person, "name": person,
                       "role": role, "confirmed_at": at}  # fmt: skip
                changes.append((seq, Insert("participants", row)))
        for person in ("a", "c", "z"):  # z: not on the list (the domain refuses it)
            row = {"consultation_id": "c1", "person_id": person, "held_at": at}
            changes.append((3, Insert("attendees", row)))
        sql = "SELECT person_id, role, seq FROM attendees ORDER BY person_id"

        con, columns, types = _schema()
        fold = Fold(con, columns, types, flush_rows=1)
        for seq, change in changes:
            fold.apply(change, seq)
            fold.flush_if_full()
        fold.finish()
        folded = con.execute(sql).fetchall()

        con, columns, _ = _schema()
        for seq, change in changes:
            batch = Batch(con, columns)
            batch.apply(change, seq)
            batch.write()
        assert folded == con.execute(sql).fetchall()
        assert folded == [("a", "cppcc_member", 3), ("c", "notable", 3), ("z", None, 3)]

    def test_an_update_of_a_missing_row_is_refused(self) -> None:
        con, columns, types = _schema()
        fold = Fold(con, columns, types)
        with pytest.raises(LookupError, match="event 7 updates rooms row r1"):
            fold.apply(Update("rooms", "r1", {"name": "x"}), 7)


class TestPeopleReader:
    """``projections.people_reader``: the rebuild's reader child makes ``person_acts``."""

    def test_each_page_comes_with_the_live_paths_person_acts(
        self, scenario: Scenario, tmp_path: Path
    ) -> None:
        con = duckdb.connect(str(tmp_path / "live.duckdb"))
        Projector(con, scenario.app.recorder, scenario.app.name).catch_up(batch_size=3)
        live = sorted(con.execute("SELECT * FROM person_acts").fetchall())
        con.close()
        end = scenario.app.recorder.max_notification_id()
        assert end is not None
        made: list[tuple[Any, ...]] = []
        pages = read_pages(
            scenario.app.recorder, 1, end, page=4, process_threshold=0, child=runner.PEOPLE_READER
        )
        for page in pages:
            assert page.annex is not None, page.ids
            rows = person_acts(page.annex).to_pylist()
            made += [(r["person_id"], r["relation"], r["event_type"], r["aggregate_id"], r["seq"])
                     for r in rows]  # fmt: skip
        assert sorted(made) == live

    def test_a_page_it_cannot_decode_comes_without(self) -> None:
        page = Page.of_columns([1], ["a"], [1], ["room.established"], [b'{"type":"nope"}'])
        assert person_acts_of(page) is None

    def test_a_page_to_upcast_is_indexed_by_the_fold_itself(
        self, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An older payload may name people under other keys: the child's rows for its page
        are not taken; the fold indexes the upcast events."""
        end = scenario.app.recorder.max_notification_id()
        assert end is not None
        stored = scenario.app.recorder.select_notifications(start=1, limit=end)
        first = next(n for n in stored if n.topic.endswith("topic.proposed"))
        older = json.loads(first.state)
        older |= {"schema_version": 1, "source": "点题"}  # v1 stored the Chinese label
        columns = (
            [first.id], [str(first.originator_id)], [first.originator_version], [first.topic],
            [json.dumps(older, ensure_ascii=False).encode()],
        )  # fmt: skip
        page = Page.of_columns(*columns)
        page = dataclasses.replace(page, annex=person_acts_of(page))
        assert page.annex is not None  # the light decoder does not look at the version
        assert page_decoding.decode_page(page) is None  # the fold's does

        def taken(self: Fold, rows: Any) -> None:
            raise AssertionError("the child's rows were taken for a page to upcast")

        monkeypatch.setattr(Fold, "add_person_acts", taken)
        con, columns_of, types = _schema()
        fold = Fold(con, columns_of, types)
        Projector(con, scenario.app.recorder, scenario.app.name)._fold_page(fold, page)
        assert fold.pending() >= 1  # the actor's row, indexed here


class TestKeyedArrowTable:
    def test_transposed_rows_equal_the_column_by_column_table(self) -> None:
        columns, types = ["k", "n", "at"], ["VARCHAR", "INTEGER", "TIMESTAMP"]
        at = datetime(2024, 1, 1)
        rows: list[dict[str, Any]] = [
            {"k": "a", "n": 1, "at": at},
            {"k": "b", "n": None, "at": None},
        ]
        assert arrow_rows.keyed_arrow_table(columns, types, rows) == arrow_rows.arrow_table(
            columns, types, rows
        )

    def test_rows_of_other_columns_are_picked_by_name(self) -> None:
        """Not in the table's order, or with a column more: values by name, never shifted."""
        columns, types = ["k", "n"], ["VARCHAR", "INTEGER"]
        for rows in (
            [{"n": 1, "k": "a"}],
            [{"k": "a", "n": 1}, {"n": 2, "k": "b"}],
            [{"k": "a", "n": 1}, {"k": "b", "n": 2, "extra": 3}],
        ):
            table = arrow_rows.keyed_arrow_table(columns, types, rows)
            assert table.to_pylist() == [{"k": r["k"], "n": r["n"]} for r in rows], rows
