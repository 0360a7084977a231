"""A direct application writer for the fault suite: ``python -m tests.faults.direct_writer PREFIX``.

It opens the application as any `hsl` command does (``service.bootstrap``, from the
environment's settings) and commits, again and again until SIGTERM, two new rooms each with
its annual plan in one save: four events in one atomic batch, all marked ``<marker>/<a|b>``.
It prints one JSON line when it sends a commit and one when the commit returns or raises
(``t``: ``time.monotonic()``, comparable across processes on Linux). It never retries: a
failed save's result is unknown to it, and a retry would be a second commit.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from datetime import UTC, datetime
from types import FrameType

from events.common import Actor
from events.room import Region
from service.bootstrap import open_application
from service.domain.base import Act
from service.domain.room import Room
from service.logging import configure_logging
from service.settings import Settings

COUNTY, TOWN = "清河县", "柳溪镇"
CLERK = Actor(id="clerk-direct", role="clerk")


def emit(**record: object) -> None:
    print(json.dumps(record, ensure_ascii=False), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.direct_writer")
    parser.add_argument("prefix")
    parser.add_argument("--pause", type=float, default=0.05)
    parser.add_argument("--count", type=int, default=None)
    args = parser.parse_args(argv)
    configure_logging("warning")
    stopping = False

    def stop(_sig: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    try:
        opened = open_application(Settings.from_env())
    except Exception as e:
        emit(fatal=f"{type(e).__name__}: {e}")
        return 1
    app = opened.app
    emit(ready=time.monotonic())
    n = 0
    try:
        while not stopping and (args.count is None or n < args.count):
            marker = f"{args.prefix}-{n}"
            n += 1
            rooms = []
            act = Act.at(CLERK, datetime.now(UTC), app.clock())
            for part in ("a", "b"):
                room = Room.establish(
                    act,
                    name=f"{marker}/{part}",
                    level="town",
                    region=Region(county=COUNTY, town=TOWN),
                    parent_room_id=None,
                )
                room.file_annual_plan(
                    act, year=2025, planned_consultations=1, summary=f"{marker}/{part}"
                )
                rooms.append(room)
            sent = time.monotonic()
            emit(m=marker, send=sent)
            try:
                app.save(*rooms)
            except Exception as e:
                emit(
                    m=marker,
                    ok=False,
                    err=type(e).__name__,
                    detail=str(e)[:200],
                    t=time.monotonic(),
                )
            else:
                emit(m=marker, ok=True, send_t=sent, t=time.monotonic())
            time.sleep(args.pause)
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
