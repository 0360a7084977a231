"""What the views quarantined, for ``hsl log status``: asked of the projector, or the file.

The projector (``hsl project`` or ``hsl serve``) holds the views file while it runs, so the
question goes to it over NATS first (``projections.query_service``); when none answers, the
file is opened read-only. Either way the answer is the ``quarantine`` table's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from projections.remote_views import RemoteViews, ViewsUnavailableError
from projections.view_reads import Quarantine, run_read
from projections.views_wire import ViewsQueryError

ASK_TIMEOUT = 2.0
"""Seconds to wait for a running projector's answer."""


def quarantine_report(path: Path, url: str, stream: str, limit: int = 5) -> dict[str, Any] | str:
    """``{"count": n, "rows": [...]}`` (the first ``limit`` rows), or why it is not known."""
    read = Quarantine(limit=limit)
    remote = RemoteViews(url, stream, timeout=ASK_TIMEOUT, name="hsl-log-status")
    try:
        answer: dict[str, Any] = remote.read(read)
        return answer
    except ViewsQueryError as e:
        return f"the projector could not say ({e.name})"
    except ViewsUnavailableError:
        pass  # nobody holds the file: read it
    finally:
        remote.close()
    if not path.exists():
        return "no views yet (`hsl project` or `hsl projections rebuild` makes them)"
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return f"the views file {path} is busy"
    try:
        file_answer: dict[str, Any] = run_read(con, read)
        return file_answer
    except duckdb.Error as e:
        return f"the views file {path} cannot say: {type(e).__name__}"
    finally:
        con.close()


def summary_line(count: int | None, rows: list[dict[str, Any]]) -> str:
    """``hsl log status``'s line: how many messages the views skipped as not events, the first
    of them, or why that is not known (``rows`` then holds ``{"unknown": why}``)."""
    if count is None:
        why = rows[0].get("unknown", "unknown") if rows else "unknown"
        return f"quarantined  unknown: {why}"
    shown = ", ".join(f"{q['stream']} {q['seq']} {q['kind']}" for q in rows)
    more = " …" if count > len(rows) else ""
    detail = f" ({shown}{more}; `SELECT * FROM quarantine` in `hsl query`)" if shown else ""
    return f"quarantined  {count} messages that are not events{detail}"
