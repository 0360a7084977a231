"""Scenario 5: SIGKILL of `hsl feed` and of `hsl subscribe` mid-stream, restart.

On the demo county's log (seed 1), `hsl feed` is SIGKILLed as soon as it has published its
first changes and started again; `hsl subscribe` (a durable consumer) is SIGKILLed after a
third of the feed was printed and started again with the same durable name. The public
stream is compared with what the log implies (the feed tests' reference: the transitions
over the whole log), and what the subscriber printed with the public stream.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from service.feed.integration import OutcomeStatusChanged
from tests.faults.figures import Row, seconds
from tests.faults.log import public_count, service_url
from tests.faults.procs import Proc, Workspace
from tests.faults.scenario import Options, Scenario
from tests.support.feed_stream import public_changes, reference_changes, with_client

SUBJECT = "hsl.public.outcome.>"
DURABLE = "faults"
Key = tuple[int, str, str]


def _key(change: OutcomeStatusChanged) -> Key:
    return (change.source_sequence, change.status, str(change.outcome_id))


def _printed(proc: Proc) -> list[Key]:
    keys = []
    for line in list(proc.lines):
        try:
            d = json.loads(line)
            keys.append((int(d["source_sequence"]), str(d["status"]), str(d["outcome_id"])))
        except (ValueError, KeyError, TypeError):
            continue
    return keys


def _lines(proc: Proc) -> int:
    """How many events ``proc`` printed so far (cheap enough to poll often)."""
    return sum('"outcome_id"' in line for line in list(proc.lines))


def _poll(ws: Workspace, test: Callable[[], bool], timeout: float, pause: float = 0.01) -> bool:
    deadline = time.monotonic() + min(timeout, ws.left())
    while time.monotonic() < deadline:
        if test():
            return True
        time.sleep(pause)
    return False


def run(ws: Workspace, options: Options) -> list[Row]:
    demo = ws.run("demo")
    if demo.returncode != 0:
        raise RuntimeError(f"hsl demo failed: {demo.stderr[-300:]}")
    url = service_url(ws)
    feed = ws.hsl("feed", "feed", "--poll", "0.1")
    _poll(ws, lambda: public_count(ws) > 0, 60.0)
    feed.kill()
    fault = time.monotonic()
    at_kill = public_count(ws)
    again = ws.hsl("feed-again", "feed", "--poll", "0.1")
    _poll(ws, lambda: public_count(ws) > at_kill, 60.0, 0.05)
    feed_recovered = time.monotonic() - fault
    _settle(ws)
    total = public_count(ws)
    added = ws.run("subscribers", "add", DURABLE)
    if added.returncode != 0:
        raise RuntimeError(f"hsl subscribers add failed: {added.stderr[-300:]}")
    subscriber = ws.hsl("subscriber", "subscribe", SUBJECT, "--as", DURABLE)
    _poll(ws, lambda: _lines(subscriber) >= max(1, total // 3), 60.0, 0.002)
    subscriber.kill()
    sub_fault = time.monotonic()
    first_part = _printed(subscriber)
    resumed = ws.hsl("subscriber-again", "subscribe", SUBJECT, "--as", DURABLE)
    _poll(ws, lambda: bool(_printed(resumed)), 30.0)
    sub_recovered = time.monotonic() - sub_fault if _printed(resumed) else None
    _poll(ws, lambda: len(first_part) + len(_printed(resumed)) >= total, 60.0, 0.1)
    time.sleep(0.5)
    feed_code, sub_code = again.stop(), resumed.stop()
    if len(first_part) >= total:
        ws.note("the subscriber had printed everything before the kill: that row tests little")
    published = with_client(url, public_changes)
    last_overdue = max(
        (c.recorded_at for c in published if c.source_type == "clock.deadline_passed"),
        default=datetime.now(UTC),
    )
    expected = [_key(c) for c in with_client(url, lambda nc: reference_changes(nc, last_overdue))]
    stored = Counter(_key(c) for c in published)
    feed_row = Row(
        case=f"hsl feed SIGKILLed after {at_kill} messages, restarted",
        acknowledged=f"{len(expected)} implied by the log",
        stored=len(published),
        lost=len(set(expected) - set(stored)),
        duplicated=sum(n - 1 for n in stored.values()),
        errors="none" if feed_code == 0 else f"exit {feed_code} on SIGTERM",
        recover=seconds(feed_recovered),
    )
    extra = set(stored) - set(expected)
    feed_row.check = (
        "the feed equals the log's transitions"
        if not extra
        else (f"{len(extra)} published changes the log does not imply")
    )
    feed_row.failed = bool(extra) or feed_code != 0
    printed = Counter(first_part + _printed(resumed))
    sub_row = Row(
        case=f"hsl subscribe SIGKILLed after {len(first_part)} lines, restarted",
        acknowledged=f"{len(published)} published",
        stored=f"{sum(printed.values())} printed",
        lost=len(set(stored) - set(printed)),
        duplicated=sum(n - 1 for n in printed.values()),
        errors="none" if sub_code == 0 else f"exit {sub_code} on SIGTERM",
        recover=seconds(sub_recovered),
    )
    sub_row.failed = sub_code != 0
    redelivered = sum('"redelivered":true' in line for line in resumed.lines)
    ws.note(f"the restarted subscriber marked {redelivered} lines redelivered")
    feed_row.verify = sub_row.verify = ws.verify()
    return [feed_row, sub_row]


def _settle(ws: Workspace, quiet: float = 2.0) -> None:
    """Wait until the public stream stops growing for ``quiet`` seconds (the feed caught up)."""
    last, since = -1, time.monotonic()
    while time.monotonic() - since < quiet and ws.left() > 5:
        count = public_count(ws)
        if count != last:
            last, since = count, time.monotonic()
        time.sleep(0.2)


SCENARIO = Scenario(
    key="5",
    title="SIGKILL of feed and of subscriber mid-stream, restart",
    run=run,
    timeout=150,
    what=(
        "The demo county (seed 1) on the embedded server. `hsl feed` is SIGKILLed once it "
        "has published its first changes, then started again; `hsl subscribe "
        "hsl.public.outcome.> --durable faults` is SIGKILLed after a third of the feed was "
        "printed, then started again. For the feed, *acknowledged* is what the log implies "
        "and *stored* what hsl-public holds; for the subscriber, what was published and what "
        "it printed."
    ),
)
