"""Rows that cannot be misspelt: columns declared once, every applier's writes checked.

``projections.tables`` declares each view table's columns; the DDL is made from it, and
``projections.write_check`` runs every applier on sample events when ``projections.appliers``
loads. A misspelt column used to be dropped without a word while the position advanced.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from events import topic as t
from events.codec import tag_of
from projections import appliers, write_check
from projections.batch import Batch
from projections.changes import Change, Insert, UndeclaredColumnError, Update
from projections.fold import Fold
from projections.runner import Projector
from projections.schema import SCHEMA_VERSION, TABLES, create_schema, tracking_position
from projections.tables import COLUMN_NAMES, COLUMN_TYPES, COLUMNS, DDL
from projections.updater import Updater
from tests.support.scenario import Scenario, full_lifecycle

APPROVED = tag_of(t.TopicApproved)
PROPOSED = tag_of(t.TopicProposed)

DDL_OF_VERSION = {5: "4ca3e32c1f071c9c"}
"""The generated DDL's digest per schema version: a change to a table or column changes the
digest, and must raise ``SCHEMA_VERSION`` too (a file of the old layout is then rebuilt)."""


class TestDeclaration:
    def test_the_schema_version_names_this_ddl(self) -> None:
        digest = hashlib.sha256(DDL.encode()).hexdigest()[:16]
        assert DDL_OF_VERSION.get(SCHEMA_VERSION) == digest, (SCHEMA_VERSION, digest)

    def test_the_tables_duckdb_creates_are_the_declared_ones(self) -> None:
        """Names, types, nullability and defaults, in order, as DuckDB reports them."""
        con = duckdb.connect(":memory:")
        create_schema(con)
        for table, columns in COLUMNS.items():
            stored = con.execute(
                "SELECT column_name, data_type, is_nullable, column_default "
                "FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index",
                [table],
            ).fetchall()
            declared = [
                (c.name, c.type, c.nullable, None if c.default is None else str(c.default).lower())
                for c in columns
            ]
            assert [(n, k, nullable, d and d.lower()) for n, k, nullable, d in stored] == declared

    def test_every_table_is_compared(self) -> None:
        assert sorted(TABLES) == sorted(COLUMNS)


class TestCheckAtImport:
    def test_the_appliers_as_they_are_pass(self) -> None:
        write_check.check_appliers(appliers.APPLIERS)
        write_check.check_appliers(appliers.TABLE_APPLIERS)

    def test_a_misspelt_update_names_table_column_and_applier(self) -> None:
        misspelt = Updater("topics", {"statsu": "approved"})
        with pytest.raises(write_check.WriteCheckError) as caught:
            write_check.check_appliers({APPROVED: misspelt})
        message = str(caught.value)
        assert "topics.statsu is not a declared column" in message
        assert f"written for {APPROVED} by Updater('topics'" in message

    def test_a_misspelt_insert_names_the_function(self) -> None:
        def proposed(oid: str, e: Any) -> list[Change]:
            return [Insert("topics", {"topic_id": oid, "titel": e.title})]

        found = r"topics\.titel .*<locals>\.proposed"
        with pytest.raises(write_check.WriteCheckError, match=found):
            write_check.check_appliers({PROPOSED: proposed})

    @pytest.mark.parametrize(
        ("sets", "add", "found"),
        [
            ({"approved_at": lambda e: e.occurred_at}, {}, "topics.approved_at is TIMESTAMP but"),
            ({"status": lambda e: None}, {}, "topics.status is NOT NULL but is given None"),
            ({"approving_org": 3}, {}, "topics.approving_org is VARCHAR but is given int"),
            ({}, {"status": 1}, "topics.status is no counter"),
            ({"seq": 1}, {}, "topics.seq is written by the projection"),
        ],
    )
    def test_wrong_values_are_found(
        self, sets: dict[str, Any], add: dict[str, int], found: str
    ) -> None:
        with pytest.raises(write_check.WriteCheckError, match=found):
            write_check.check_appliers({APPROVED: Updater("topics", sets, add)})

    def test_a_new_row_must_give_every_required_column(self) -> None:
        def proposed(oid: str, e: Any) -> list[Change]:
            return [Insert("topics", {"topic_id": oid})]

        with pytest.raises(write_check.WriteCheckError, match=r"topics\.room_id is NOT NULL"):
            write_check.check_appliers({PROPOSED: proposed})

    def test_samples_reach_every_literal_value(self) -> None:
        """The actor's role takes every value, so ``member_acts`` rows are checked too."""
        roles = {e.actor.role for e in write_check.sample_events(t.TopicApproved)}
        assert "cppcc_member" in roles
        assert {e.backdated for e in write_check.sample_events(t.TopicApproved)} == {False, True}

    def test_a_module_of_misspelt_appliers_fails_to_import(self, tmp_path: Path) -> None:
        source = tmp_path / "misspelt_appliers.py"
        source.write_text(
            "from projections.updater import Updater\n"
            "from projections.write_check import check_appliers\n"
            f"APPLIERS = {{{APPROVED!r}: Updater('topics', {{'statsu': 'approved'}})}}\n"
            "check_appliers(APPLIERS)\n"
        )
        spec = importlib.util.spec_from_file_location("misspelt_appliers", source)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        with pytest.raises(write_check.WriteCheckError, match=r"topics\.statsu"):
            spec.loader.exec_module(module)
        assert "misspelt_appliers" not in sys.modules


def _topic_row(topic_id: str) -> dict[str, Any]:
    return {
        "topic_id": topic_id, "room_id": "r", "room_level": "town", "title": "x",
        "source": "resident", "status": "proposed", "proposed_at": datetime(2024, 1, 1),
    }  # fmt: skip


class TestCheckWhenWritten:
    """What the samples cannot reach is refused when written, not dropped."""

    def test_the_live_batch_refuses_a_misspelt_update(self) -> None:
        con = duckdb.connect(":memory:")
        create_schema(con)
        batch = Batch(con, COLUMN_NAMES)
        batch.apply(Insert("topics", _topic_row("t1")), 1)
        batch.apply(Update("topics", "t1", {"statsu": "approved"}), 2)
        with pytest.raises(UndeclaredColumnError, match=r"event 2 writes topics\.statsu"):
            batch.write()

    def test_the_fold_refuses_a_misspelt_update(self) -> None:
        con = duckdb.connect(":memory:")
        create_schema(con)
        fold = Fold(con, COLUMN_NAMES, COLUMN_TYPES)
        fold.apply(Insert("topics", _topic_row("t1")), 1)
        fold.apply(Update("topics", "t1", {"statsu": "approved"}), 2)
        with pytest.raises(UndeclaredColumnError, match=r"event 2 writes topics\.statsu"):
            fold.finish()

    def test_the_fold_refuses_a_misspelt_appended_row(self) -> None:
        con = duckdb.connect(":memory:")
        create_schema(con)
        fold = Fold(con, COLUMN_NAMES, COLUMN_TYPES)
        row = {"consultation_id": "c", "speaker_id": "p", "speaker_role": "resident",
               "stance": "for", "recorded_at": datetime(2024, 1, 1), "stanse": "x"}  # fmt: skip
        fold.apply(Insert("opinions", row), 3)
        with pytest.raises(UndeclaredColumnError, match=r"event 3 writes opinions\.stanse"):
            fold.finish()

    @pytest.mark.parametrize("path", ["catch_up", "fold_all"])
    def test_the_position_does_not_move_past_a_misspelt_write(
        self, path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The issue's example: ``Update("topics", id, {"statsu": …})`` once wrote nothing
        and advanced the position; now the batch (or the whole fold) rolls back."""
        s = Scenario()
        full_lifecycle(s)
        misspelt = Updater("topics", {"statsu": "approved", "approved_at": _naive})
        monkeypatch.setitem(appliers.APPLIERS, APPROVED, misspelt)
        monkeypatch.setitem(appliers.UPDATERS, APPROVED, misspelt)
        con = duckdb.connect(str(tmp_path / "v.duckdb"))
        projector = Projector(con, s.app.recorder, s.app.name)
        end = s.app.recorder.max_notification_id()
        assert end is not None
        run = projector.catch_up if path == "catch_up" else projector.fold_all
        with pytest.raises(UndeclaredColumnError, match=r"topics\.statsu"):
            run(end)
        assert tracking_position(con, s.app.name) == 0
        assert con.execute("SELECT count(*) FROM topics").fetchone() == (0,)


def _naive(e: Any) -> datetime:
    moment: datetime = e.occurred_at
    return moment.astimezone(UTC).replace(tzinfo=None)
