"""service.logging: tracebacks stay useful but show no locals, and no line carries a secret."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest
import structlog

from events.redact import SECRETS
from service.logging import configure_logging

PASSWORD = "Lg" + "p4" * 10
URL = f"nats://service:{PASSWORD}@127.0.0.1:4222"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, hook = root.handlers[:], root.level, threading.excepthook
    try:
        yield
    finally:
        root.handlers, root.level, threading.excepthook = handlers, level, hook
        structlog.reset_defaults()


def _fail_connecting() -> None:
    url = URL  # a local holding the password, as nats-py's frames have
    raise ConnectionRefusedError(f"cannot reach {url}")


def _log_a_failure(logger_name: str, *, stdlib: bool) -> None:
    try:
        _fail_connecting()
    except ConnectionRefusedError:
        if stdlib:
            logging.getLogger(logger_name).error("encountered error", exc_info=True)
        else:
            structlog.get_logger(logger_name).exception("encountered error")


class TestTracebacks:
    @pytest.mark.parametrize("stdlib", [False, True], ids=["structlog", "stdlib"])
    def test_json_tracebacks_name_frames_but_show_no_locals(self, stdlib: bool) -> None:
        """A JSON traceback keeps file, line, function and message; no locals, no password."""
        stream = io.StringIO()
        configure_logging("info", stream=stream)

        _log_a_failure("nats.aio.client", stdlib=stdlib)

        text = stream.getvalue()
        assert PASSWORD not in text
        (exception,) = json.loads(text)["exception"]
        assert exception["exc_type"] == "ConnectionRefusedError"
        assert exception["exc_value"].startswith("cannot reach nats://service:***@127.0.0.1:4222")
        frame = exception["frames"][-1]
        assert frame["name"] == "_fail_connecting"
        assert frame["filename"].endswith("test_logging.py")
        assert frame["lineno"] > 0
        assert all("locals" not in f for f in exception["frames"])

    @pytest.mark.parametrize("stdlib", [False, True], ids=["structlog", "stdlib"])
    def test_console_tracebacks_show_no_locals(self, stdlib: bool) -> None:
        """On a terminal: a plain traceback naming the function, without the password."""
        stream = Terminal()
        configure_logging("info", stream=stream)

        _log_a_failure("nats.aio.client", stdlib=stdlib)

        text = stream.getvalue()
        assert "in _fail_connecting" in text
        assert "ConnectionRefusedError: cannot reach nats://service:***@" in text
        assert PASSWORD not in text
        assert "url = " not in text  # how a local would be shown


class TestRedaction:
    def test_every_line_is_scrubbed_of_known_secrets(self) -> None:
        """A remembered secret is masked in an event, a field, a stdlib message and its args."""
        secret = "Known" + "s3cr3t" * 3
        SECRETS.remember(secret)
        stream = io.StringIO()
        configure_logging("info", stream=stream)

        structlog.get_logger("x").info(f"saw {secret}", value=secret, nested={"k": [secret]})
        logging.getLogger("uvicorn.error").warning("got %s", secret)

        assert secret not in stream.getvalue()
        assert stream.getvalue().count("***") == 4

    def test_an_uncaught_thread_exception_is_logged_redacted(self) -> None:
        """A thread dying with a URL in its message: one log line, password masked."""
        stream = io.StringIO()
        configure_logging("info", stream=stream)

        thread = threading.Thread(target=_fail_connecting, name="nats-loop")
        thread.start()
        thread.join()

        line = json.loads(stream.getvalue())
        assert line["event"] == "uncaught exception in thread nats-loop"
        assert PASSWORD not in stream.getvalue()
