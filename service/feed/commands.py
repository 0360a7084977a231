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

from nats.aio.client import Client

from events.nats_connection import LONG_RUNNING, ONE_SHOT, connect
from events.stream_layout import StreamLayout
from service import bootstrap
from service.application import HaoshangliangApplication
from service.cli import CommandError, command
from service.embedded import ServerHandle, connect_url
from service.feed.integration import SubjectError, check_filter
from service.feed.publisher import DEFAULT_POLL, FeedPublisher
from service.feed.stream import FeedError, public_stream
from service.feed.subscriber import check_durable, default_durable, subscribe
from service.nats_permissions import SUBSCRIBER_INBOX_PREFIX
from service.settings import Settings


def _stream() -> str:
    return StreamLayout.for_application(HaoshangliangApplication.name).stream


def _server(settings: Settings) -> ServerHandle:
    handle = connect_url(settings)
    try:
        bootstrap.probe(handle.url)
    except bootstrap.BootstrapError as e:
        raise CommandError(str(e)) from e
    return handle


async def _connect(
    handle: ServerHandle, name: str, *, once: bool = False, inbox_prefix: str | None = None
) -> Client:
    """The command's connection: reconnecting for good unless it runs once
    (``events.nats_connection``); on the embedded server it follows ``server.json``."""
    policy = ONE_SHOT if once else LONG_RUNNING
    return await connect(
        handle.url,
        name=name,
        policy=policy,
        server_file=handle.state_file,
        inbox_prefix=inbox_prefix,
    )


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
    handle = _server(settings)
    replicas = settings.jetstream_replicas
    try:
        published, position = asyncio.run(_run_feed(handle, args.once, args.poll, replicas))
    except FeedError as e:
        raise CommandError(f"the feed stopped: {e}") from e
    print(
        f"published {published} outcome status changes to {public_stream(_stream())}; "
        f"the log is read up to event {position}",
        flush=True,
    )
    return 0


async def _run_feed(
    handle: ServerHandle, once: bool, poll: float, replicas: int
) -> tuple[int, int]:
    nc = await _connect(handle, "hsl-feed", once=once)
    try:
        publisher = FeedPublisher(nc, _stream(), replicas=replicas)
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
    handle = _server(settings)
    try:
        asyncio.run(_run_subscriber(handle, subject, durable, args.count))
    except FeedError as e:
        raise CommandError(str(e)) from e
    return 0


async def _run_subscriber(
    handle: ServerHandle, subject: str, durable: str, count: int | None
) -> int:
    # The subscriber user may only receive on its own inbox prefix (docs/operations.md).
    nc = await _connect(handle, f"hsl-subscribe-{durable}", inbox_prefix=SUBSCRIBER_INBOX_PREFIX)
    try:
        stop = _stop_on_signals()

        def out(line: str) -> None:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

        return await subscribe(nc, _stream(), subject, durable, stop, out=out, count=count)
    finally:
        await nc.close()
