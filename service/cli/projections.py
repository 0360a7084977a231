"""``hsl project``, ``hsl projections rebuild``, ``hsl query`` and ``hsl export``: the
commands of the DuckDB views.

All use ``<HSL_DATA_DIR>/projections.duckdb`` (``service.data_dir.views_path``); ``project``
and ``projections rebuild`` read the log behind ``NATS_URL`` (or the embedded server) through
the application's own recorder.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Final

import duckdb
import structlog

from projections.export import FORMATS, ExportError, export
from projections.query_service import QueryService, QueryServiceError
from projections.rebuild import ViewsBusyError, rebuild, remove_stale_rebuilds
from projections.runner import DEFAULT_BATCH, ProjectionError, Projector
from projections.schema import SchemaMismatchError, quarantined
from projections.sql_sandbox import (
    EXPLAIN,
    SELECT,
    SandboxError,
    check_read_only,
    described,
    open_sandboxed,
)
from service.cli.log_access import opened_application
from service.cli.output import write_rows
from service.cli.registry import Subcommand, SubcommandError
from service.data_dir import views_path
from service.settings import Settings

log = structlog.get_logger(__name__)

GROUPS: Final = {"projections": "the DuckDB views: rebuild them from the log"}


def _batch_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--batch",
        type=int,
        default=DEFAULT_BATCH,
        help=f"events per transaction (default {DEFAULT_BATCH})",
    )


# --- hsl project -----------------------------------------------------------------------------


def _project_arguments(parser: argparse.ArgumentParser) -> None:
    _batch_argument(parser)
    parser.add_argument(
        "--no-queries",
        action="store_true",
        help="do not answer the API's view reads over NATS (hsl-views.<stream>.query)",
    )


def project(args: argparse.Namespace, settings: Settings) -> int:
    """Catch up from the tracking position, then apply events as they are stored.

    Meanwhile it answers the views' named reads on ``hsl-views.<stream>.query``
    (``projections.query_service``): no other process can open the file while this one holds
    it, so an API in another process (``hsl serve --no-projector``) asks here.
    """
    path = views_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_rebuilds(path)  # what killed rebuilds left: as large as the views
    stop = threading.Event()
    with _stop_on_signals(stop), opened_application(settings) as opened:
        app = opened.app
        try:
            con = duckdb.connect(str(path))
        except duckdb.Error as e:
            raise SubcommandError(f"cannot open {path}: {e}") from e
        projector: Projector | None = None
        service: QueryService | None = None
        try:
            projector = Projector(con, app.recorder, app.name)
            print(f"projecting into {path} from event {projector.position + 1}", flush=True)
            if not args.no_queries:
                service = QueryService(
                    con,
                    opened.url,
                    opened.stream,
                    name="hsl-project",
                    server_file=opened.handle.state_file,
                )
                service.start()
                print(f"answering view reads on {service.subject}", flush=True)
            log.info("following the log", views=str(path), sequence=projector.position)
            projector.follow(
                stop, args.batch, on_batch=lambda at: log.debug("views updated", sequence=at)
            )
        except (ProjectionError, SchemaMismatchError, QueryServiceError) as e:
            raise SubcommandError(str(e)) from e
        finally:
            if service is not None:
                service.stop()
            con.close()
    print(f"stopped at event {projector.position}" if projector else "stopped", flush=True)
    return 0


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop``; the current batch finishes, then the command ends."""

    def received(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, received) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- hsl projections rebuild -----------------------------------------------------------------


def projections_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """Replay the whole log into a fresh DuckDB file; the old one serves until the swap."""
    path = views_path(settings)
    with opened_application(settings) as opened:
        app = opened.app
        try:
            position = rebuild(
                app.recorder, app.name, path, batch_size=args.batch, progress=_progress_bar
            )
        except (ProjectionError, ViewsBusyError) as e:
            raise SubcommandError(str(e)) from e
    print(f"\nrebuilt {path} up to event {position}", file=sys.stderr)
    with duckdb.connect(str(path), read_only=True) as con:
        skipped = quarantined(con)
    if skipped:
        print(f"skipped {len(skipped)} stored messages that are not events:", file=sys.stderr)
        for found in skipped[:QUARANTINE_SHOWN]:
            print(f"  {found.describe()}", file=sys.stderr)
        if len(skipped) > QUARANTINE_SHOWN:
            print("  … (SELECT * FROM quarantine in `hsl query`)", file=sys.stderr)
    return 0


QUARANTINE_SHOWN: Final = 20
"""Quarantined messages a rebuild names; the views' ``quarantine`` table holds them all."""


def _progress_bar(position: int, end: int) -> None:
    width = 30
    done = width if end == 0 else width * position // end
    percent = 100 if end == 0 else 100 * position // end
    bar = "#" * done + "." * (width - done)
    print(f"\rrebuilding [{bar}] {position}/{end} events ({percent}%)", end="", file=sys.stderr)
    sys.stderr.flush()


# --- hsl query -------------------------------------------------------------------------------


def _query_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sql", help="the SQL to run (read-only)")
    parser.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="output format"
    )
    parser.add_argument(
        "--db",
        type=Path,
        metavar="FILE",
        help="another views file, e.g. one `hsl replay --as-of` wrote (default: the live views)",
    )


def query(args: argparse.Namespace, settings: Settings) -> int:
    """One SELECT or EXPLAIN in DuckDB's sandbox (``projections.sql_sandbox``): it reads the
    views and nothing else, so a mistyped DELETE changes nothing and no file is reached."""
    path: Path = args.db or views_path(settings)
    if not path.exists():
        hint = "" if args.db else ": run `hsl projections rebuild` first"
        raise SubcommandError(f"no views at {path}{hint}")
    try:
        con = open_sandboxed(path)
    except SandboxError as e:
        raise SubcommandError(str(e)) from e
    try:
        check_read_only(con, args.sql, (SELECT, EXPLAIN))
        cursor = con.execute(args.sql)
        columns = [d[0] for d in cursor.description or ()]
        rows = cursor.fetchall()
    except SandboxError as e:
        raise SubcommandError(f"query refused: {e}") from e
    except duckdb.Error as e:
        raise SubcommandError(f"query refused: {described(e)}") from e
    finally:
        con.close()
    write_rows(columns, rows, args.format)
    return 0


# --- hsl export ------------------------------------------------------------------------------


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "relation",
        nargs="?",
        metavar="NAME",
        help="the table or view to export, e.g. outcomes or outcome_status",
    )
    parser.add_argument(
        "--sql", metavar="SELECT", help="export the result of this read-only SELECT instead"
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="FILE",
        help="the file to write (replaced if it exists)",
    )
    parser.add_argument(
        "--format",
        metavar="FORMAT",
        help=f"{' | '.join(FORMATS)} (default: from the output's suffix)",
    )
    parser.add_argument(
        "--as-of",
        metavar="DATE",
        help="with a view that has an as-of form (outcome_status): its status on DATE",
    )
    parser.add_argument(
        "--db",
        type=Path,
        metavar="FILE",
        help="another views file, e.g. one `hsl replay --as-of` wrote (default: the live views)",
    )


def export_command(args: argparse.Namespace, settings: Settings) -> int:
    """Export from the views file, opened read-only; no file is left by a failed export."""
    try:
        as_of = None if args.as_of is None else date.fromisoformat(args.as_of)
    except ValueError as e:
        raise SubcommandError(f"--as-of: not a date (YYYY-MM-DD): {args.as_of!r}") from e
    if args.db is not None and not args.db.exists():
        raise SubcommandError(f"no views at {args.db}")
    try:
        result = export(
            args.db or views_path(settings),
            args.output,
            relation=args.relation,
            sql=args.sql,
            fmt=args.format,
            as_of=as_of,
        )
    except ExportError as e:
        raise SubcommandError(str(e)) from e
    plural = "" if result.rows == 1 else "s"
    print(
        f"exported {result.rows} row{plural} of {result.label} to {result.path} ({result.format})"
    )
    return 0


COMMANDS: Final = (
    Subcommand(
        ("project",),
        help="follow the log live and keep the DuckDB views current until SIGINT/SIGTERM; "
        "answer the API's view reads over NATS meanwhile",
        handler=project,
        arguments=_project_arguments,
        nats_user="projector",
    ),
    Subcommand(
        ("projections", "rebuild"),
        help="rebuild every view from zero into a new file, then swap it in",
        handler=projections_rebuild,
        arguments=_batch_argument,
        nats_user="projector",
    ),
    Subcommand(
        ("query",),
        help="run read-only SQL against the views",
        handler=query,
        arguments=_query_arguments,
    ),
    Subcommand(
        ("export",),
        help="write a table, a view or a read-only query to CSV, Parquet or XLSX (Chinese headers)",
        handler=export_command,
        arguments=_export_arguments,
    ),
)
