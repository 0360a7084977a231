"""``hsl feed`` (the publisher) and ``hsl subscribe`` (the example subscriber).

- ``hsl feed [--once] [--poll S]`` publishes the outcome status changes of the log to the public
  stream, until SIGINT/SIGTERM (``--once``: catch up, then exit).
- ``hsl subscribe SUBJECT --as NAME [--durable D] [--count N]`` prints the integration events
  on ``SUBJECT`` (e.g. ``hsl.public.outcome.>``) as JSON lines from the durable consumer of
  the downstream system ``NAME``, acking each after printing, until SIGINT/SIGTERM
  (``--count``: after N).

The downstream systems' users are ``hsl subscribers`` (``service.cli.subscribers``).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from dataclasses import replace
from typing import Final

from nats.aio.client import Client

from events.jetstream.connection import LONG_RUNNING, ONE_SHOT, connect
from service.cli.log_access import answering_server, event_stream
from service.cli.registry import Subcommand, SubcommandError
from service.feed.integration import SubjectError, check_filter
from service.feed.publisher import DEFAULT_POLL, FeedPublisher
from service.feed.stream import FeedError, public_stream
from service.feed.subscriber import check_durable, subscribe
from service.nats.embedded import ServerHandle, embedded_subscribers
from service.nats.passwords import NatsUsersError
from service.nats.subscribers import Subscriber
from service.settings import Settings


async def _connect(
    handle: ServerHandle, name: str, *, once: bool = False, inbox_prefix: str | None = None
) -> Client:
    """The command's connection: reconnecting for good unless it runs once
    (``events.jetstream.connection``); on the embedded server it follows ``server.json``."""
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


def feed(args: argparse.Namespace, settings: Settings) -> int:
    if args.poll <= 0:
        raise SubcommandError("--poll must be more than 0 seconds")
    handle = answering_server(settings)
    replicas = settings.jetstream_replicas
    try:
        published, position = asyncio.run(_run_feed(handle, args.once, args.poll, replicas))
    except FeedError as e:
        raise SubcommandError(f"the feed stopped: {e}") from e
    print(
        f"published {published} outcome status changes to {public_stream(event_stream())}; "
        f"the log is read up to event {position}",
        flush=True,
    )
    return 0


async def _run_feed(
    handle: ServerHandle, once: bool, poll: float, replicas: int
) -> tuple[int, int]:
    nc = await _connect(handle, "hsl-feed", once=once)
    try:
        publisher = FeedPublisher(nc, event_stream(), replicas=replicas)
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
        "--as",
        dest="name",
        required=True,
        metavar="NAME",
        help="the downstream system to subscribe as: its own NATS user and inbox "
        "(on the embedded server, one `hsl subscribers add NAME` made)",
    )
    parser.add_argument(
        "--durable",
        metavar="D",
        help="the durable consumer's name (default: NAME; another must be granted to NAME); "
        "the server remembers what it has acknowledged",
    )
    parser.add_argument(
        "--count", type=int, metavar="N", help="exit after printing N events (default: run on)"
    )


def subscribe_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        subject = check_filter(args.subject)
        subscriber = Subscriber.of(args.name)
        durable = check_durable(args.durable or subscriber.name)
    except (SubjectError, FeedError, NatsUsersError) as e:
        raise SubcommandError(str(e)) from e
    if args.count is not None and args.count < 1:
        raise SubcommandError("--count must be 1 or more")
    if settings.embedded:
        _check_granted(settings, subscriber.name, durable)
    handle = answering_server(replace(settings, nats_subscriber=subscriber.name))
    try:
        asyncio.run(_run_subscriber(handle, subscriber, subject, durable, args.count))
    except FeedError as e:
        raise SubcommandError(str(e)) from e
    return 0


def _check_granted(settings: Settings, name: str, durable: str) -> None:
    """On the embedded server: say at once that NAME is unknown or may not keep ``durable``."""
    found = next((s for s in embedded_subscribers(settings) if s.name == name), None)
    if found is None:
        msg = f"no downstream system {name!r}: `hsl subscribers add {name}` makes its NATS user"
        raise SubcommandError(msg)
    if durable not in found.durables:
        msg = (
            f"{name!r} may keep the durables {', '.join(found.durables)}, not {durable!r}: "
            f"`hsl subscribers add {name} --durable {durable}` grants it"
        )
        raise SubcommandError(msg)


async def _run_subscriber(
    handle: ServerHandle, subscriber: Subscriber, subject: str, durable: str, count: int | None
) -> int:
    # A downstream system may only receive on its own inbox prefix (docs/operations.md).
    nc = await _connect(handle, f"hsl-subscribe-{durable}", inbox_prefix=subscriber.inbox_prefix)
    try:
        stop = _stop_on_signals()

        def out(line: str) -> None:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

        return await subscribe(nc, event_stream(), subject, durable, stop, out=out, count=count)
    finally:
        await nc.close()


COMMANDS: Final = (
    Subcommand(
        ("feed",),
        help="publish outcome status changes to hsl.public.outcome.<status>.<room> "
        "(until a signal)",
        handler=feed,
        arguments=_feed_arguments,
    ),
    Subcommand(
        ("subscribe",),
        help="print the public feed's events on SUBJECT as JSON lines "
        "(durable; acks each after it)",
        handler=subscribe_command,
        arguments=_subscribe_arguments,
    ),
)
