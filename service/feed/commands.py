"""``hsl feed`` (the publisher), ``hsl subscribe`` (the example subscriber) and the downstream
systems' users (``hsl subscribers``).

- ``hsl feed [--once] [--poll S]`` publishes the outcome status changes of the log to the public
  stream, until SIGINT/SIGTERM (``--once``: catch up, then exit).
- ``hsl subscribe SUBJECT --as NAME [--durable D] [--count N]`` prints the integration events
  on ``SUBJECT`` (e.g. ``hsl.public.outcome.>``) as JSON lines from the durable consumer of
  the downstream system ``NAME``, acking each after printing, until SIGINT/SIGTERM
  (``--count``: after N).
- ``hsl subscribers add NAME [--durable D …] [--credentials FILE]``, ``list``, ``remove NAME``:
  the embedded server's downstream systems, one NATS user each (``service.subscribers``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

from nats.aio.client import Client

from events.jetstream.connection import LONG_RUNNING, ONE_SHOT, connect
from events.jetstream.stream_layout import StreamLayout
from service import bootstrap
from service.application import HaoshangliangApplication
from service.cli import CommandError, command
from service.embedded import ServerHandle, connect_url, embedded_subscribers, update_subscribers
from service.feed.integration import SubjectError, check_filter
from service.feed.publisher import DEFAULT_POLL, FeedPublisher
from service.feed.stream import FeedError, public_stream
from service.feed.subscriber import check_durable, subscribe
from service.nats_permissions import NatsUsersError
from service.settings import Settings
from service.subscribers import Subscriber


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


@command(
    "subscribe",
    help="print the public feed's events on SUBJECT as JSON lines (durable; acks each after it)",
    arguments=_subscribe_arguments,
)
def subscribe_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        subject = check_filter(args.subject)
        subscriber = Subscriber.of(args.name)
        durable = check_durable(args.durable or subscriber.name)
    except (SubjectError, FeedError, NatsUsersError) as e:
        raise CommandError(str(e)) from e
    if args.count is not None and args.count < 1:
        raise CommandError("--count must be 1 or more")
    if settings.embedded:
        _check_granted(settings, subscriber.name, durable)
    handle = _server(replace(settings, nats_subscriber=subscriber.name))
    try:
        asyncio.run(_run_subscriber(handle, subscriber, subject, durable, args.count))
    except FeedError as e:
        raise CommandError(str(e)) from e
    return 0


def _check_granted(settings: Settings, name: str, durable: str) -> None:
    """On the embedded server: say at once that NAME is unknown or may not keep ``durable``."""
    found = next((s for s in embedded_subscribers(settings) if s.name == name), None)
    if found is None:
        msg = f"no downstream system {name!r}: `hsl subscribers add {name}` makes its NATS user"
        raise CommandError(msg)
    if durable not in found.durables:
        msg = (
            f"{name!r} may keep the durables {', '.join(found.durables)}, not {durable!r}: "
            f"`hsl subscribers add {name} --durable {durable}` grants it"
        )
        raise CommandError(msg)


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

        return await subscribe(nc, _stream(), subject, durable, stop, out=out, count=count)
    finally:
        await nc.close()


# --- hsl subscribers ----------------------------------------------------------------------------


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the downstream system, e.g. dashboard")
    parser.add_argument(
        "--durable",
        action="append",
        default=[],
        metavar="D",
        help="another durable consumer it may keep besides NAME (repeatable), e.g. the one a "
        "shared subscriber kept before, to carry on from its place",
    )
    parser.add_argument(
        "--credentials",
        type=Path,
        metavar="FILE",
        help="also write its user, password and inbox prefix to FILE (JSON, owner-only; "
        "FILE must not exist) for its own client",
    )


@command(
    "subscribers",
    "add",
    help="make (or widen) a downstream system's own NATS user on the embedded server",
    arguments=_add_arguments,
)
def subscribers_add(args: argparse.Namespace, settings: Settings) -> int:
    try:
        wanted = Subscriber.of(args.name, args.durable)
    except NatsUsersError as e:
        raise CommandError(str(e)) from e
    if args.credentials is not None and args.credentials.exists():
        raise CommandError(f"{args.credentials} exists: give a new file for the credentials")

    def add(current: tuple[Subscriber, ...]) -> tuple[Subscriber, ...]:
        known = next((s for s in current if s.name == wanted.name), None)
        made = (
            Subscriber.generate(wanted.name, wanted.durables[1:])
            if known is None
            else Subscriber.of(known.name, (*known.durables, *wanted.durables), known.password)
        )
        return (*(s for s in current if s.name != made.name), made)

    added = next(s for s in update_subscribers(settings, add) if s.name == wanted.name)
    if args.credentials is not None:
        _write_credentials(args.credentials, added)
    print(
        f"downstream system {added.name}: NATS user {added.user}, inbox {added.inbox_prefix}, "
        f"durables {', '.join(added.durables)}"
    )
    return 0


def _write_credentials(path: Path, subscriber: Subscriber) -> None:
    document = {
        "user": subscriber.user,
        "password": subscriber.password,
        "inbox_prefix": subscriber.inbox_prefix,
        "durables": list(subscriber.durables),
    }
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(json.dumps(document, indent=2) + "\n")
    except OSError as e:
        raise CommandError(f"cannot write {path}: {e.strerror or e}") from e
    print(f"its credentials are in {path} (owner-only): hand them over, then delete the file")


@command("subscribers", "list", help="the embedded server's downstream systems and their durables")
def subscribers_list(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.embedded:
        raise CommandError(
            "NATS_URL is set: that server's downstream systems are in its own configuration "
            "(compose: deploy/nats/subscribers.txt)"
        )
    found = embedded_subscribers(settings)
    if not found:
        print("no downstream systems yet: `hsl subscribers add NAME` makes one")
    for s in found:
        print(f"{s.name}  user {s.user}  inbox {s.inbox_prefix}  durables {', '.join(s.durables)}")
    return 0


def _remove_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the downstream system")


@command(
    "subscribers",
    "remove",
    help="remove a downstream system's NATS user (its consumers stay on the stream)",
    arguments=_remove_arguments,
)
def subscribers_remove(args: argparse.Namespace, settings: Settings) -> int:
    def remove(current: tuple[Subscriber, ...]) -> tuple[Subscriber, ...]:
        return tuple(s for s in current if s.name != args.name)

    if settings.embedded and args.name not in {s.name for s in embedded_subscribers(settings)}:
        raise CommandError(f"no downstream system {args.name!r}")
    update_subscribers(settings, remove)  # refused with NATS_URL set
    print(f"removed the NATS user of {args.name}; its durable consumers stay on the stream")
    return 0
