"""``hsl replay``: an auditor's timelines, and an aggregate's state as of a past moment.

``hsl replay outcome|topic|consultation|room ID`` prints the ordered timeline (stream
sequence, recorded and occurred times, actor and role, event, key fields) as a table or JSON.
With ``--as-of TIME|SEQUENCE`` (or ``--version N``) it shows the timeline up to that point and
the aggregate's state as it then stood, rebuilt by eventsourcing from its events.
``hsl replay --as-of X`` (no KIND) builds every view as it stood at X into a DuckDB file of
its own (``replay.views_as_of``), for ``hsl query --db``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import duckdb
from eventsourcing.persistence import PersistenceError

from events.common import FAMILIES
from events.jetstream.commits import JetStreamRecorder
from projections.runner import ProjectionError
from replay.as_of import AsOf, AsOfError, aggregate_state, version_as_of
from replay.history import Entry, HistoryError, HistoryReader, Timeline
from replay.views_as_of import ViewsAsOfError, build_views_as_of
from service.cli.log_access import opened_application
from service.cli.output import write_rows
from service.cli.registry import Subcommand, SubcommandError
from service.data_dir import views_path
from service.settings import Settings

FIELDS_WIDTH = 80
"""Characters of key fields shown per row in the table; JSON output has them all."""


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "kind",
        nargs="?",
        choices=(*FAMILIES, "person"),
        help="what to replay (omit with --as-of: the views)",
    )
    parser.add_argument(
        "id", nargs="?", help="its id (a UUID; a person's id as the events hold it)"
    )
    parser.add_argument(
        "--db",
        type=Path,
        metavar="FILE",
        help="person: the views file whose person_acts index to use (default: the live views)",
    )
    parser.add_argument(
        "--as-of",
        metavar="TIME|SEQUENCE",
        help="stop at this point: a date (end of day, UTC), a time with offset, or a sequence",
    )
    parser.add_argument(
        "--version", type=int, metavar="N", help="the aggregate's state at its version N"
    )
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="with --as-of and no KIND: the DuckDB file to write "
        "(default <HSL_DATA_DIR>/views-as-of-<point>.duckdb)",
    )


def replay(args: argparse.Namespace, settings: Settings) -> int:
    """Read only the subjects concerned and print the timeline (and state, when asked)."""
    if args.kind is None:
        return _views_as_of(args, settings)
    if args.id is None:
        raise SubcommandError(f"give the {args.kind}'s id: hsl replay {args.kind} ID")
    if args.output is not None:
        raise SubcommandError("--output is for the views as of a point (hsl replay --as-of X)")
    if args.as_of is not None and args.version is not None:
        raise SubcommandError("give --as-of or --version, not both")
    try:
        as_of = AsOf.parse(args.as_of) if args.as_of is not None else None
    except AsOfError as e:
        raise SubcommandError(str(e)) from e
    if args.kind == "person":
        return _replay_person(args, settings, as_of)
    with opened_application(settings) as opened:
        app = opened.app
        try:
            timeline = HistoryReader(_recorder(app)).timeline(args.kind, args.id)
        except HistoryError as e:
            raise SubcommandError(str(e)) from e
        state: dict[str, Any] | None = None
        version: int | None = args.version
        if as_of is not None:
            version = version_as_of(timeline.entries, timeline.id, as_of)
            if version is None:
                msg = f"{args.kind} {timeline.id} did not exist yet at {as_of.describe()}"
                raise SubcommandError(msg)
            timeline = _cut(timeline, as_of)
        if version is not None:
            state = _state_at(app, timeline, version)
            if as_of is None:
                timeline = _cut_at_version(timeline, version)
    _print(timeline, state, args.format)
    return 0


def _replay_person(args: argparse.Namespace, settings: Settings, as_of: AsOf | None) -> int:
    """A person's events, found through the views' ``person_acts`` index, read from the log."""
    if args.version is not None:
        raise SubcommandError("--version is an aggregate's; a person has none")
    acts = _person_acts(args.db or views_path(settings), args.id)
    with opened_application(settings) as opened:
        app = opened.app
        try:
            timeline = HistoryReader(_recorder(app)).person_timeline(args.id, acts)
        except HistoryError as e:
            raise SubcommandError(str(e)) from e
    _print(_cut(timeline, as_of) if as_of else timeline, None, args.format)
    return 0


def _recorder(app: Any) -> JetStreamRecorder:
    recorder = app.recorder
    if not isinstance(recorder, JetStreamRecorder):  # pragma: no cover - configuration
        raise SubcommandError("hsl replay needs the JetStream log (PERSISTENCE_MODULE)")
    return recorder


def _person_acts(views: Path, person_id: str) -> list[tuple[str, int]]:
    """(aggregate id, sequence) of every event concerning the person, from the views' index."""
    if not views.exists():
        raise SubcommandError(f"no views at {views}: run `hsl projections rebuild` first")
    try:
        with duckdb.connect(str(views), read_only=True) as con:
            rows = con.execute(
                "SELECT DISTINCT aggregate_id, seq FROM person_acts WHERE person_id = ? "
                "ORDER BY seq",
                [person_id],
            ).fetchall()
    except duckdb.Error as e:
        raise SubcommandError(f"cannot read the person index in {views}: {e}") from e
    return [(str(a), int(seq)) for a, seq in rows]


def _views_as_of(args: argparse.Namespace, settings: Settings) -> int:
    """``hsl replay --as-of X``: every view as it stood at X, in a DuckDB file of its own."""
    if args.as_of is None:
        raise SubcommandError("give KIND ID (hsl replay outcome ID) or --as-of TIME|SEQUENCE")
    if args.version is not None:
        raise SubcommandError("--version needs KIND ID: it is an aggregate's version")
    try:
        as_of = AsOf.parse(args.as_of)
    except AsOfError as e:
        raise SubcommandError(str(e)) from e
    slug = "".join(c if c.isalnum() else "-" for c in args.as_of.strip())
    target: Path = args.output or settings.data_dir / f"views-as-of-{slug}.duckdb"
    with opened_application(settings) as opened:
        app = opened.app
        try:
            point = build_views_as_of(
                app.recorder, app.name, target, as_of, args.as_of, progress=_progress
            )
        except (ViewsAsOfError, ProjectionError, duckdb.Error, OSError) as e:
            raise SubcommandError(f"cannot build the views as of {args.as_of}: {e}") from e
    through = f"event {point.sequence}" if point.sequence else "no event (before the first)"
    print(f"\nviews as of {args.as_of} ({through}) in {target}", file=sys.stderr)
    print(f'query them with: hsl query --db {target} "SELECT * FROM outcome_status"')
    return 0


def _progress(position: int, end: int) -> None:
    percent = 100 if end == 0 else 100 * position // end
    print(f"\rreplaying {position}/{end} events ({percent}%)", end="", file=sys.stderr)


def _state_at(app: Any, timeline: Timeline, version: int) -> dict[str, Any]:
    own = [e.version for e in timeline.entries if e.aggregate_id == timeline.id]
    if version < 1 or version > max(own):
        msg = f"{timeline.kind} {timeline.id} has versions 1 to {max(own)}, not {version}"
        raise SubcommandError(msg)
    try:
        aggregate = app.repository.get(UUID(timeline.id), version=version)
    except PersistenceError as e:
        raise SubcommandError(f"cannot read {timeline.kind} {timeline.id}: {e}") from e
    return aggregate_state(aggregate)


def _cut(timeline: Timeline, as_of: AsOf) -> Timeline:
    return Timeline(
        kind=timeline.kind,
        id=timeline.id,
        entries=[e for e in timeline.entries if as_of.includes(e)],
        links=timeline.links,
        aggregates_read=timeline.aggregates_read,
    )


def _cut_at_version(timeline: Timeline, version: int) -> Timeline:
    last = next(
        e.seq for e in timeline.entries if e.aggregate_id == timeline.id and e.version == version
    )
    return Timeline(
        kind=timeline.kind,
        id=timeline.id,
        entries=[e for e in timeline.entries if e.seq <= last],
        links=timeline.links,
        aggregates_read=timeline.aggregates_read,
    )


def _print(timeline: Timeline, state: dict[str, Any] | None, fmt: str) -> None:
    if fmt == "json":
        document = timeline.to_json()
        if state is not None:
            document["state"] = state
        json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return
    links = ", ".join(f"{k}: {' '.join(v)}" for k, v in timeline.links.items() if v)
    print(f"{timeline.kind} {timeline.id}" + (f"  ({links})" if links else ""))
    columns = ("seq", "recorded_at", "occurred_at", "actor", "role", "event", "fields")
    write_rows(columns, [_row(entry) for entry in timeline.entries], "table")
    if state is not None:
        print(f"\nstate at version {state.get('version')}:")
        json.dump(state, sys.stdout, ensure_ascii=False, indent=2)
        print()


def _row(entry: Entry) -> tuple[Any, ...]:
    fields = json.dumps(entry.fields, ensure_ascii=False, separators=(",", ":"))
    if len(fields) > FIELDS_WIDTH:
        fields = fields[: FIELDS_WIDTH - 1] + "…"
    late = " (late)" if entry.backdated else ""
    return (
        entry.seq,
        entry.recorded_at.isoformat(timespec="seconds"),
        entry.occurred_at.isoformat(timespec="seconds") + late,
        entry.actor_id,
        entry.actor_role,
        entry.event,
        fields,
    )


COMMANDS: Final = (
    Subcommand(
        ("replay",),
        help="the ordered history of an outcome, topic, consultation, room or person "
        "(optionally as of a time)",
        handler=replay,
        arguments=_arguments,
        nats_user="auditor",
    ),
)
