r"""The API's reads of the DuckDB views (``$HSL_DATA_DIR/projections.duckdb``), wherever they are.

DuckDB lets one process hold the file for writing and no other process open it meanwhile, so
who answers a read depends on who holds the file. Each read is one of the named reads of
``projections.query_service`` (:data:`~projections.query_service.Read`), answered in one
DuckDB transaction by the same code on every path, so every path gives the same answer:

1. **in-process**: ``hsl serve`` runs the projector itself, which :func:`share`\ s its
   connection; the read runs on a cursor of it (its own transaction, never the projector's);
2. **over NATS**: ``hsl serve --no-projector`` (compose's ``api``) gets a
   :class:`~projections.query_service.RemoteViews` at start-up (:func:`ask_remote`) and sends
   the read to the projector that holds the file (``hsl project``), which answers it;
3. **the file, read-only**: when nobody holds the file (no projector runs, e.g. after
   ``hsl projections rebuild``), or no projector answers, the file is opened read-only for
   the read and closed again, so a rebuild that swaps the file in is seen by the next read.

When none of them can answer, the read is a 503 problem saying why (no views yet; no projector
answers and the file is held; the projector did not answer in time), never a 500. The SQL is
the query service's fixed text, never a caller's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from projections.remote_views import RemoteViews, ViewsUnavailableError
from projections.view_reads import Ping, Position, Quarantine, Read, run_read
from projections.views_wire import ViewsQueryError
from service.http.problems import Unavailable

_SHARED: dict[Path, duckdb.DuckDBPyConnection] = {}
"""Views files this process writes (the projector in ``hsl serve``), by path."""
_REMOTE: dict[Path, RemoteViews] = {}
"""Views files a projector in another process holds, and how to ask it, by path."""


def share(path: Path, con: duckdb.DuckDBPyConnection) -> None:
    """Serve reads of ``path`` from ``con`` (the projector's) while it holds the file."""
    _SHARED[path.resolve()] = con


def unshare(path: Path) -> None:
    _SHARED.pop(path.resolve(), None)


def ask_remote(path: Path, client: RemoteViews) -> None:
    """Send reads of ``path`` to the projector behind ``client`` when this process does not
    hold the file itself (``hsl serve --no-projector``)."""
    _REMOTE[path.resolve()] = client


_STALLED: dict[Path, str] = {}
"""Views files whose projector in this process cannot write them now, and why."""


def stalled(path: Path, why: str | None) -> None:
    """The in-process projector's word: the file takes no batch now (a full disk), or again."""
    if why is None:
        _STALLED.pop(path.resolve(), None)
    else:
        _STALLED[path.resolve()] = why


def forget_remote(path: Path) -> None:
    _REMOTE.pop(path.resolve(), None)


def read(path: Path, request: Read) -> Any:
    """The answer to ``request`` from the views at ``path``; :class:`Unavailable` if none."""
    key = path.resolve()
    shared = _SHARED.get(key)
    if shared is not None:
        with shared.cursor() as cursor:
            return run_read(cursor, request)
    remote = _REMOTE.get(key)
    if remote is None:
        return _read_file(path, request, None)
    try:
        return remote.read(request)
    except ViewsUnavailableError as e:
        if e.reason != "no-projector":
            raise Unavailable(
                "统计视图服务（hsl project）暂未答复，请稍后重试", f"views: {e}"
            ) from e
        return _read_file(path, request, str(e))
    except ViewsQueryError as e:
        raise Unavailable(
            "统计视图服务无法完成查询，请联系运维人员",
            f"the projector answered {request.__struct_config__.tag!r} with {e.name}: {e.detail}",
        ) from e


def _read_file(path: Path, request: Read, remote: str | None) -> Any:
    """Open the file read-only for one read: only when no process holds it for writing."""
    before = f"{remote}, and " if remote else ""
    if not path.exists():
        raise Unavailable(
            "统计视图尚未生成，请先运行 hsl project 或 hsl projections rebuild",
            f"{before}no views at {path}: run `hsl project` or `hsl projections rebuild`",
        )
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as e:
        raise Unavailable(
            "统计视图文件暂时无法打开，请稍后重试",
            f"{before}cannot open {path} read-only: {e}",
        ) from e
    try:
        return run_read(con, request)
    finally:
        con.close()


def readable(path: Path) -> str | None:
    """None when the views answer a read and take the log's new events, else why not (for
    ``/readyz``)."""
    why = _STALLED.get(path.resolve())
    if why is not None:
        return f"views file {path} is not updated (reads show it as it was): {why}"
    try:
        read(path, Ping())
    except Unavailable as e:
        return e.message_en
    except duckdb.Error as e:
        return f"views file {path}: {e}"
    return None


def position(path: Path) -> int | None:
    """The log position the views have reached (their tracking record), if readable."""
    try:
        value = read(path, Position())
    except (Unavailable, duckdb.Error):
        return None
    return int(value)


def quarantined(path: Path) -> int | None:
    """How many stored messages the views skipped as not events, if readable."""
    try:
        value = read(path, Quarantine(limit=1))
    except (Unavailable, duckdb.Error):
        return None
    return int(value["count"])
