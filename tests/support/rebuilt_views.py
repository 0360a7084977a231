"""Shared helpers of the projection tests: build views from an application's log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from projections.rebuild import rebuild, snapshot
from projections.runner import Projector
from service.application import HaoshangliangApplication
from tests.support.scenario import Scenario


def fresh_rebuild(app: HaoshangliangApplication, path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Rebuild the views of ``app`` into ``path`` and return every table's rows."""
    rebuild(app.recorder, app.name, path)
    with duckdb.connect(str(path), read_only=True) as con:
        return snapshot(con)


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` on the views file at ``path``, opened read-only."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def project(s: Scenario, path: Path) -> duckdb.DuckDBPyConnection:
    """Project the log of ``s`` into a views file at ``path`` (small batches); the open file."""
    con = duckdb.connect(str(path))
    Projector(con, s.app.recorder, s.app.name).catch_up(batch_size=7)
    return con
