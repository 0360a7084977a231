"""``hsl``: the parser built from an explicit list of command modules, and ``main()``.

Each command module lists its commands (:class:`~service.cli.registry.Subcommand`) in
``COMMANDS`` and the help of its groups in ``GROUPS``; :data:`COMMANDS` below names the
modules in the order ``hsl --help`` shows them. Errors the user can act on reach stderr as one
``hsl: error: …`` line with exit code 1; nothing prints a traceback unless
``HSL_LOG_LEVEL=debug``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Final

import structlog

from events.redact import SECRETS, redact_text
from service.cli import (
    audit,
    demo,
    feed,
    log,
    projections,
    replay,
    serve,
    subscribers,
    users,
)
from service.cli.registry import Handler, Subcommand, SubcommandError
from service.data_dir import owner_only
from service.logging import configure_logging
from service.nats.bundled_server import NatsServerError
from service.nats.embedded_files import EmbeddedServerError
from service.settings import Settings, SettingsError

logger = structlog.get_logger(__name__)

COMMANDS: Final[tuple[Subcommand, ...]] = (
    *log.COMMANDS,
    *serve.COMMANDS,
    *projections.COMMANDS,
    *audit.COMMANDS,
    *replay.COMMANDS,
    *users.COMMANDS,
    *demo.COMMANDS,
    *feed.COMMANDS,
    *subscribers.COMMANDS,
)
"""Every ``hsl`` command, in the order of ``hsl --help``."""

GROUPS: Final[dict[str, str]] = {
    **log.GROUPS,
    **projections.GROUPS,
    **audit.GROUPS,
    **users.GROUPS,
    **subscribers.GROUPS,
}
"""Help for command groups (the first word of a nested command)."""

USER_ERRORS: Final[tuple[type[Exception], ...]] = (
    SubcommandError,
    EmbeddedServerError,
    NatsServerError,
    SettingsError,
)
"""Exceptions printed as ``hsl: error: <message>`` (exit 1) rather than as a crash."""


def build_parser() -> argparse.ArgumentParser:
    """An argparse parser with one subparser per command (groups made on demand)."""
    parser = argparse.ArgumentParser(
        prog="hsl",
        description="haoshangliang: the 有事好商量 consultation audit trail.",
        epilog="Settings come from NATS_URL, HSL_DATA_DIR and HSL_LOG_LEVEL (see README).",
    )
    subparsers: dict[tuple[str, ...], argparse._SubParsersAction[argparse.ArgumentParser]] = {
        (): parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    }
    for cmd in COMMANDS:
        for depth in range(1, len(cmd.path)):
            group = cmd.path[:depth]
            if group not in subparsers:
                group_parser = subparsers[group[:-1]].add_parser(
                    group[-1], help=GROUPS.get(group[-1], ""), description=GROUPS.get(group[-1])
                )
                subparsers[group] = group_parser.add_subparsers(
                    dest="_".join(group), metavar="COMMAND", required=True
                )
        sub = subparsers[cmd.path[:-1]].add_parser(
            cmd.path[-1], help=cmd.help, description=cmd.help
        )
        if cmd.arguments is not None:
            cmd.arguments(sub)
        sub.set_defaults(handler=cmd.handler, nats_user=cmd.nats_user)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``hsl``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as e:
        return _fail(str(e))
    configure_logging(settings.log_level)
    SECRETS.remember_url(settings.nats_url)
    settings = replace(settings, nats_user=args.nats_user)
    handler: Handler = args.handler
    try:
        with owner_only(settings.data_dir):  # people's names and secrets: service/data_dir.py
            return handler(args, settings)
    except USER_ERRORS as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        logger.debug("unexpected error", exc_info=True)
        return _fail(f"unexpected {type(e).__name__}: {e} (HSL_LOG_LEVEL=debug shows where)")


def _fail(message: str) -> int:
    one_line = " | ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"hsl: error: {redact_text(one_line)}", file=sys.stderr)
    return 1
