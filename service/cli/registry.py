"""What an ``hsl`` command is: the record each command module lists, and the error it raises.

A leaf: it imports no command module. Each module of ``service.cli`` lists its commands in a
``COMMANDS`` tuple (and the help of its command groups in ``GROUPS``); ``service.cli.main``
names those modules one by one and builds the parser from them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from service.settings import NatsUser, Settings

Handler = Callable[[argparse.Namespace, Settings], int]
"""Runs a command with its parsed arguments and the settings; returns the exit code."""


class SubcommandError(RuntimeError):
    """A failure the user can act on; its message is printed as one line."""


@dataclass(frozen=True)
class Subcommand:
    """One subcommand: where it sits, its arguments, the function that runs it, and the NATS
    user it connects to the embedded server as.

    ``nats_user`` is ``service`` unless the command only reads (docs/operations.md): the
    projector's (``project``, ``projections rebuild``) and the auditor's (``replay``, ``audit
    verify``). ``service`` writes the log, checkpoints or the feed (``serve``, ``demo``,
    ``feed``, ``audit checkpoint|export``), lists every stream (``log status``), or does not
    connect at all; ``subscribe --as NAME`` connects as that downstream system's own user
    instead (``Settings.nats_subscriber``). Only the embedded server uses it: with
    ``NATS_URL`` set, the URL's credentials decide.
    """

    path: tuple[str, ...]
    """``("serve",)``, or a group first: ``("log", "status")``."""
    help: str
    handler: Handler
    arguments: Callable[[argparse.ArgumentParser], None] | None = None
    nats_user: NatsUser = "service"
