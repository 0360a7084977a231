r"""Read-only queries on the DuckDB views file (``$HSL_DATA_DIR/projections.duckdb``).

Each request opens the file read-only and closes it: a query can never change a view, and
a rebuild that swaps the file in is seen by the next request. When the file is missing
(no projector has run yet) or held by a writer in another process, the answer is a 503
problem saying so, not a 500.

When ``hsl serve`` runs the projector itself, that process holds the file for writing and
DuckDB would refuse a second, read-only opening; the projector then :func:`share`\ s its
connection and each query runs on a cursor of it (its own transaction, never the projector's).
The API's SQL is fixed text of its own, never a caller's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from service.http.problems import Unavailable

Row = dict[str, Any]

_SHARED: dict[Path, duckdb.DuckDBPyConnection] = {}
"""Views files this process writes (the projector in ``hsl serve``), by path."""


def share(path: Path, con: duckdb.DuckDBPyConnection) -> None:
    """Serve queries on ``path`` from ``con`` (the projector's) while it holds the file."""
    _SHARED[path.resolve()] = con


def unshare(path: Path) -> None:
    _SHARED.pop(path.resolve(), None)


def query(path: Path, sql: str, params: Sequence[object] = ()) -> list[Row]:
    """Rows of ``sql`` as dicts (column → value)."""
    shared = _SHARED.get(path.resolve())
    if shared is not None:
        with shared.cursor() as cursor:
            cursor.execute(sql, list(params))
            columns = [d[0] for d in cursor.description or ()]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    if not path.exists():
        raise Unavailable(
            "统计视图尚未生成，请先运行 hsl project 或 hsl projections rebuild",
            f"no views at {path}: run `hsl project` or `hsl projections rebuild`",
        )
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as e:
        raise Unavailable(
            "统计视图文件暂时无法打开，请稍后重试", f"cannot open {path} read-only: {e}"
        ) from e
    try:
        cursor = con.execute(sql, list(params))
        columns = [d[0] for d in cursor.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def readable(path: Path) -> str | None:
    """None when the views file answers a query, else why not (for ``/readyz``)."""
    try:
        query(path, "SELECT 1")
    except Unavailable as e:
        return e.message_en
    except duckdb.Error as e:
        return f"views file {path}: {e}"
    return None


def position(path: Path) -> int | None:
    """The log position the views have reached (their tracking record), if readable."""
    try:
        rows = query(path, "SELECT max(notification_id) AS n FROM tracking")
    except (Unavailable, duckdb.Error):
        return None
    value = rows[0]["n"] if rows else None
    return int(value) if value is not None else 0
