"""``hsl feed`` (the publisher) and ``hsl subscribe`` (the example subscriber).

- ``hsl feed [--once] [--poll S]`` publishes the outcome status changes of the log to the public
  stream, until SIGINT/SIGTERM (``--once``: catch up, then exit).
- ``hsl subscribe SUBJECT [--durable NAME] [--count N]`` prints the integration events on
  ``SUBJECT`` (e.g. ``hsl.public.outcome.>``) as JSON lines from a durable consumer, acking each
  after printing, until SIGINT/SIGTERM (``--count``: after N).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import nats
import nats.errors

from events.stream_layout import StreamLayout
from service import bootstrap
from service.application import HaoshangliangApplication
from service.cli import CommandError, command
from service.embedded import connect_url
from service.feed.integration import SubjectError, check_filter
from service.feed.publisher import DEFAULT_POLL, FeedPublisher
from service.feed.stream import FeedError, public_stream
from service.feed.subscriber import check_durable, default_durable, subscribe
from service.nats_permissions import SUBSCRIBER_INBOX_PREFIX
from service.settings import Settings


def _stream() -> str:
    return StreamLayout.for_application(HaoshangliangApplication.name).stream


def _url(settings: Settings) -> str:
    url = connect_url(settings).url
    try:
        bootstrap.probe(url)
    except bootstrap.BootstrapError as e:
        raise CommandError(str(e)) from e
    return url


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


# --- hsl feed -----------------------------------------------------------------------------------


def _feed_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--once", action="store_true", help="publish what the log holds so far, then exit"
    )
    parser.add_argument(
        "--poll",
        type=float,
        default=DEFAULT_POLL,
        metavar="S",
        help=f"seconds between reads of the log's end (default {DEFAULT_POLL:g})",
    )


@command(
    "feed",
    help="publish outcome status changes to hsl.public.outcome.<status>.<room> (until a signal)",
    arguments=_feed_arguments,
)
def feed(args: argparse.Namespace, settings: Settings) -> int:
    if args.poll <= 0:
        raise CommandError("--poll must be more than 0 seconds")
    url = _url(settings)
    try:
        published, position = asyncio.run(_run_feed(url, args.once, args.poll))
    except FeedError as e:
        raise CommandError(f"the feed stopped: {e}") from e
    print(
        f"published {published} outcome status changes to {public_stream(_stream())}; "
        f"the log is read up to event {position}",
        flush=True,
    )
    return 0


async def _run_feed(url: str, once: bool, poll: float) -> tuple[int, int]:
    nc = await nats.connect(url.split(","), name="hsl-feed")
    try:
        publisher = FeedPublisher(nc, _stream())
        if once:
            await publisher.resume()
            await publisher.step()
        else:
            stop = _stop_on_signals()
            print(f"publishing to {publisher.public}; stop with Ctrl-C or SIGTERM", flush=True)
            await publisher.run(stop, poll)
        return publisher.published, publisher.position
    finally:
        await nc.close()


# --- hsl subscribe ------------------------------------------------------------------------------


def _subscribe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "subject",
        metavar="SUBJECT",
        help="hsl.public.outcome.<status|*>.<room|*>, or hsl.public.outcome.> for everything",
    )
    parser.add_argument(
        "--durable",
        metavar="NAME",
        help="the durable consumer's name (default: one derived from SUBJECT); "
        "the server remembers what NAME has acknowledged",
    )
    parser.add_argument(
        "--count", type=int, metavar="N", help="exit after printing N events (default: run on)"
    )


@command(
    "subscribe",
    help="print the public feed's events on SUBJECT as JSON lines (durable; acks each after it)",
    arguments=_subscribe_arguments,
)
def subscribe_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        subject = check_filter(args.subject)
        durable = check_durable(args.durable or default_durable(subject))
    except (SubjectError, FeedError) as e:
        raise CommandError(str(e)) from e
    if args.count is not None and args.count < 1:
        raise CommandError("--count must be 1 or more")
    url = _url(settings)
    try:
        asyncio.run(_run_subscriber(url, subject, durable, args.count))
    except FeedError as e:
        raise CommandError(str(e)) from e
    return 0


async def _run_subscriber(url: str, subject: str, durable: str, count: int | None) -> int:
    # The subscriber user may only receive on its own inbox prefix (docs/operations.md).
    nc = await nats.connect(
        url.split(","), name=f"hsl-subscribe-{durable}", inbox_prefix=SUBSCRIBER_INBOX_PREFIX
    )
    try:
        stop = _stop_on_signals()

        def out(line: str) -> None:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

        return await subscribe(nc, _stream(), subject, durable, stop, out=out, count=count)
    finally:
        await nc.close()
