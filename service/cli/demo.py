"""``hsl demo [--seed N] [--scale K]``: write a seeded county to the log, then report it.

Mistakes a user can make (a bad ``--seed``, no NATS server, a seed already written to this
log) come out as one ``hsl: error: …`` line and exit code 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Final

from eventsourcing.persistence import PersistenceError

from service.bootstrap import BootstrapError, Opened, open_application
from service.cli.registry import Subcommand, SubcommandError
from service.demo.county import MAX_SCALE, build_county
from service.demo.generator import Demo
from service.demo.plan import County
from service.demo.report import ProgressBar, Summary, count_by_type, format_summary
from service.demo.timeline import DemoClock
from service.nats.embedded import ServerHandle
from service.settings import Settings

DEMO_ENV: Final = {
    # The demo is the only writer of its aggregates, and stops at the first failed command:
    # keep them in memory between commands instead of re-reading each from the log, and
    # skip the defensive deep copy (it took three quarters of the demo's own CPU time).
    "AGGREGATE_CACHE_MAXSIZE": "50000",
    "AGGREGATE_CACHE_FASTFORWARD": "n",
    "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
}
MAX_SEED: Final = 2**63 - 1


def _arguments(parser: argparse.ArgumentParser) -> None:
    # Parsed as text and checked in the handler, so a bad value is one "hsl: error:" line.
    parser.add_argument(
        "--seed", default="1", metavar="N", help="non-negative integer; same seed, same log"
    )
    parser.add_argument(
        "--scale",
        default="1",
        metavar="K",
        help=(
            f"blocks of four towns (1 to {MAX_SCALE:,}), about 2,380 events each; "
            "430 writes over a million"
        ),
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on stderr (default: when stderr is a terminal)",
    )


def _integer(option: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        msg = f"{option} must be an integer, not {text!r}"
        raise SubcommandError(msg) from None
    if not low <= value <= high:
        msg = f"{option} must be between {low:,} and {high:,}, not {value:,}"
        raise SubcommandError(msg)
    return value


def _server(handle: ServerHandle) -> str:
    if handle.origin == "external":
        return "external, from NATS_URL"
    how = "started now" if handle.origin == "started" else "reused"
    return f"embedded, {how}, pid {handle.pid}; stop it with `hsl log stop`"


def demo(args: argparse.Namespace, settings: Settings) -> int:
    """Seed the county through the application's commands and print what the log holds."""
    seed = _integer("--seed", args.seed, 0, MAX_SEED)
    scale = _integer("--scale", args.scale, 1, MAX_SCALE)
    print(format_summary(run_demo(settings, seed, scale, progress=args.progress)))
    return 0


def run_demo(
    settings: Settings, seed: int, scale: int = 1, *, progress: bool | None = False
) -> Summary:
    """Write the county of ``seed`` and ``scale`` to the log the settings name; report it.

    ``progress``: draw the bar on stderr (None: when stderr is a terminal).
    """
    county = build_county(seed, scale)
    clock = DemoClock()
    try:  # the application keeps its real clock: recorded_at is the time of writing
        opened = open_application(settings, env_overrides=DEMO_ENV)
    except BootstrapError as e:
        raise SubcommandError(str(e)) from e
    try:
        return write_demo(opened, county, clock, progress=progress)
    except PersistenceError as e:
        msg = f"writing to the log at {opened.display_url} failed: {e}"
        raise SubcommandError(msg) from e
    finally:
        opened.close()


def write_demo(
    opened: Opened, county: County, clock: DemoClock, *, progress: bool | None = False
) -> Summary:
    """Play ``county`` into the opened application, ``clock`` the story's present; read back."""
    app = opened.app
    recorder = app.recorder
    demo = Demo(app, county, clock)
    if recorder.select_events(demo.first_id(), limit=1):
        msg = (
            f"seed {county.seed} is already in the log at {opened.display_url} "
            f"(stream {opened.stream}); use another --seed, or a fresh log "
            "(another HSL_DATA_DIR or NATS server)"
        )
        raise SubcommandError(msg)
    before = recorder.max_notification_id() or 0
    bar = ProgressBar(enabled=sys.stderr.isatty() if progress is None else progress)

    def written() -> int:
        return (recorder.max_notification_id() or 0) - before

    began = time.monotonic()
    try:
        demo.run(progress=lambda now: bar.update(now, written))
        seconds = time.monotonic() - began
        bar.update(clock.now, written, force=True)
    finally:
        bar.close()
    reading = time.monotonic()
    counts = count_by_type(recorder, after=before)
    return Summary(
        seed=county.seed,
        scale=county.scale,
        county=county.name,
        towns=len(county.towns),
        rooms=county.room_count,
        planned_topics=len(county.plans),
        url=opened.display_url,
        server=_server(opened.handle),
        stream=opened.stream,
        counts=counts,
        before=before,
        seconds=seconds,
        read_seconds=time.monotonic() - reading,
    )


COMMANDS: Final = (
    Subcommand(
        ("demo",),
        help="write a seeded demo county (towns, rooms, topics, a year and more of work) "
        "to the log",
        handler=demo,
        arguments=_arguments,
    ),
)
