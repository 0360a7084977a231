"""Logging: structlog, JSON lines for machines, readable text for people.

Logs go to stderr so that a command's stdout (``hsl log status --json``) stays parseable.
Context bound with ``structlog.contextvars.bind_contextvars`` (request id, aggregate id,
stream sequence) is merged into every line. Records from the standard library's ``logging``
(nats-py logs there) are rendered the same way, so one stream carries one format.

No secret reaches a line: tracebacks show file, line, function and the exception's message but
never local variables (a connection's locals hold its URL with the password, a request's its
bearer token), and every rendered line, stdlib records and exception text included, passes
through :func:`events.redact.redact_text` before it is written. Uncaught exceptions in
threads are logged the same way instead of being printed raw.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from events.redact import redact_text


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
        renderer = structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
        shared = [*shared, structlog.processors.format_exc_info]
    else:
        renderer = structlog.processors.JSONRenderer()
        shared = [*shared, _dict_tracebacks]
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
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                Redacted(renderer),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric)
    threading.excepthook = _log_thread_exception


_dict_tracebacks = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)
"""structlog's ``dict_tracebacks`` without local variables (it shows them by default)."""


class Redacted:
    """A renderer whose output is scrubbed of secrets (:func:`events.redact.redact_text`)."""

    def __init__(self, renderer: Processor) -> None:
        self.renderer = renderer

    def __call__(self, logger: WrappedLogger, name: str, event_dict: EventDict) -> str:
        rendered: Any = self.renderer(logger, name, event_dict)
        return redact_text(rendered if isinstance(rendered, str) else str(rendered))


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    """An uncaught exception in a thread: one redacted log line (the default prints it raw)."""
    if args.exc_type is SystemExit:
        return
    thread = args.thread.name if args.thread is not None else "?"
    logging.getLogger("threading").error(
        "uncaught exception in thread %s", thread, exc_info=args.exc_value
    )


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
