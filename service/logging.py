"""Logging: structlog, JSON lines for machines, readable text for people.

Logs go to stderr so that a command's stdout (``hsl log status --json``) stays parseable.
Context bound with ``structlog.contextvars.bind_contextvars`` (request id, aggregate id,
stream sequence) is merged into every line. Records from the standard library's ``logging``
(nats-py logs there) are rendered the same way, so one stream carries one format.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog
from structlog.typing import Processor


def configure_logging(level: str = "info", *, stream: TextIO | None = None) -> None:
    """Send structlog and stdlib logs at ``level`` or above to ``stream`` (default stderr).

    JSON lines when the stream is not a terminal (services, CI, pipes); coloured console
    output when it is. Safe to call again: the latest call wins.
    """
    out = sys.stderr if stream is None else stream
    numeric = logging.getLevelNamesMapping()[level.upper()]
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor
    if _is_terminal(out):
        renderer = structlog.dev.ConsoleRenderer()
    else:
        renderer = structlog.processors.JSONRenderer()
        shared = [*shared, structlog.processors.dict_tracebacks]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached, so a later configure_logging (tests, a second main()) reaches
        # loggers that module imports already created.
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
