"""The API's reads of the DuckDB views (``$HSL_DATA_DIR/projections.duckdb``), wherever they are.

DuckDB lets one process hold the file for writing and no other process open it meanwhile, so
who answers a read depends on who holds the file. Each read is one of the named reads of
``projections.view_reads`` (:data:`~projections.view_reads.Read`), answered in one
DuckDB transaction by the same code on every path, so every path gives the same answer:

1. **in-process**: ``hsl serve`` runs the projector itself, which shares its connection
   through the :class:`LocalViews` both are given; the read runs on a cursor of it (its own
   transaction, never the projector's);
2. **over NATS**: ``hsl serve --no-projector`` (compose's ``api``) gives its
   :class:`ViewsReader` a :class:`~projections.remote_views.RemoteViews`, which sends the
   read to the projector that holds the file (``hsl project``), which answers it;
3. **the file, read-only**: when nobody holds the file (no projector runs, e.g. after
   ``hsl projections rebuild``), or no projector answers, the file is opened read-only for
   the read and closed again, so a rebuild that swaps the file in is seen by the next read.

When none of them can answer, the read is a 503 problem saying why (no views yet; no projector
answers and the file is held; the projector did not answer in time), never a 500. The SQL is
the query service's fixed text, never a caller's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from projections.remote_views import RemoteViews, ViewsUnavailableError
from projections.view_reads import Ping, Position, Quarantine, Read, run_read
from projections.views_wire import ViewsQueryError
from service.http.problems import Unavailable


@dataclass
class LocalViews:
    """The views file as the projector in this process holds it (``hsl serve``).

    ``hsl serve`` makes one and hands it to its projector, which shares its connection
    (:meth:`share`) and says when it cannot write (:meth:`stall`), and to its API, whose
    :class:`ViewsReader` reads through it: the two meet in this object, not in a registry.
    """

    connection: duckdb.DuckDBPyConnection | None = None
    """The projector's connection while it holds the file."""
    stalled: str | None = None
    """Why the file takes no batch now (a full disk), or None."""

    def share(self, con: duckdb.DuckDBPyConnection) -> None:
        """Serve reads from ``con`` (the projector's) while it holds the file."""
        self.connection = con

    def stall(self, why: str | None) -> None:
        """The projector's word: the file takes no batch now (``why``), or again (None)."""
        self.stalled = why

    def unshare(self) -> None:
        """The projector lets the file go: reads go elsewhere, and no stall is left behind."""
        self.connection = None
        self.stalled = None


@dataclass
class ViewsReader:
    """The API's reads of the views at ``path``: through ``local`` while this process's
    projector holds the file, else by ``remote`` (the projector in another process), else
    from the file, read-only."""

    path: Path
    local: LocalViews | None = None
    remote: RemoteViews | None = None

    def read(self, request: Read) -> Any:
        """The answer to ``request``; :class:`Unavailable` if none."""
        shared = self.local.connection if self.local is not None else None
        if shared is not None:
            with shared.cursor() as cursor:
                return run_read(cursor, request)
        if self.remote is None:
            return _read_file(self.path, request, None)
        try:
            return self.remote.read(request)
        except ViewsUnavailableError as e:
            if e.reason != "no-projector":
                raise Unavailable(
                    "统计视图服务（hsl project）暂未答复，请稍后重试", f"views: {e}"
                ) from e
            return _read_file(self.path, request, str(e))
        except ViewsQueryError as e:
            raise Unavailable(
                "统计视图服务无法完成查询，请联系运维人员",
                f"the projector answered {request.__struct_config__.tag!r} with {e.name}: "
                f"{e.detail}",
            ) from e

    def readable(self) -> str | None:
        """None when the views answer a read and take the log's new events, else why not
        (for ``/readyz``)."""
        why = self.local.stalled if self.local is not None else None
        if why is not None:
            return f"views file {self.path} is not updated (reads show it as it was): {why}"
        try:
            self.read(Ping())
        except Unavailable as e:
            return e.message_en
        except duckdb.Error as e:
            return f"views file {self.path}: {e}"
        return None

    def position(self) -> int | None:
        """The log position the views have reached (their tracking record), if readable."""
        try:
            value = self.read(Position())
        except (Unavailable, duckdb.Error):
            return None
        return int(value)

    def quarantined(self) -> int | None:
        """How many stored messages the views skipped as not events, if readable."""
        try:
            value = self.read(Quarantine(limit=1))
        except (Unavailable, duckdb.Error):
            return None
        return int(value["count"])

    def close(self) -> None:
        """Close the remote reader's NATS connection, if it opened one (it opens again on a
        later read): the app's lifespan calls this when the API stops."""
        if self.remote is not None:
            self.remote.close()


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
