"""``hsl subscribers add|list|remove``: the embedded server's downstream systems of the public
feed, one NATS user each (``service.nats.subscribers``).

- ``hsl subscribers add NAME [--durable D …] [--credentials FILE]`` makes (or widens) one;
- ``hsl subscribers list`` names them, ``hsl subscribers remove NAME`` removes one.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Final

from service.cli.registry import Subcommand, SubcommandError
from service.nats.embedded import embedded_subscribers, update_subscribers
from service.nats.passwords import NatsUsersError
from service.nats.subscribers import Subscriber
from service.settings import Settings

GROUPS: Final = {
    "subscribers": "the downstream systems of the public feed: one NATS user each",
}


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


def subscribers_add(args: argparse.Namespace, settings: Settings) -> int:
    try:
        wanted = Subscriber.of(args.name, args.durable)
    except NatsUsersError as e:
        raise SubcommandError(str(e)) from e
    if args.credentials is not None and args.credentials.exists():
        raise SubcommandError(f"{args.credentials} exists: give a new file for the credentials")

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
        raise SubcommandError(f"cannot write {path}: {e.strerror or e}") from e
    print(f"its credentials are in {path} (owner-only): hand them over, then delete the file")


def subscribers_list(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.embedded:
        raise SubcommandError(
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


def subscribers_remove(args: argparse.Namespace, settings: Settings) -> int:
    def remove(current: tuple[Subscriber, ...]) -> tuple[Subscriber, ...]:
        return tuple(s for s in current if s.name != args.name)

    if settings.embedded and args.name not in {s.name for s in embedded_subscribers(settings)}:
        raise SubcommandError(f"no downstream system {args.name!r}")
    update_subscribers(settings, remove)  # refused with NATS_URL set
    print(f"removed the NATS user of {args.name}; its durable consumers stay on the stream")
    return 0


COMMANDS: Final = (
    Subcommand(
        ("subscribers", "add"),
        help="make (or widen) a downstream system's own NATS user on the embedded server",
        handler=subscribers_add,
        arguments=_add_arguments,
    ),
    Subcommand(
        ("subscribers", "list"),
        help="the embedded server's downstream systems and their durables",
        handler=subscribers_list,
    ),
    Subcommand(
        ("subscribers", "remove"),
        help="remove a downstream system's NATS user (its consumers stay on the stream)",
        handler=subscribers_remove,
        arguments=_remove_arguments,
    ),
)
