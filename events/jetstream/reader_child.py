"""The bulk reader's child program: ``python -m events.jetstream.reader_child``.

Reads a range of the log over a :class:`~events.jetstream.raw_connection.RawConnection` and
writes it to stdout as framed, pickled pages for the parent's
:func:`events.jetstream.bulk_reader.read_pages`. A module wrapping :func:`run_child` with a page
hook (``projections.people_reader``) is a child program too.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from typing import Any, BinaryIO

from events.jetstream.bulk_reader import URL_VARIABLE, Page
from events.jetstream.raw_connection import ProtocolError, RawConnection


def _send(out: BinaryIO, message: tuple[str, Any]) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(len(body).to_bytes(8, "little"))
    out.write(body)
    out.flush()


def run_child(argv: Sequence[str], annex: Callable[[Page], bytes | None] | None = None) -> None:
    """The reader child's program: ``url stream subjects start stop page``.

    Writes the pages to stdout, framed, then the end. ``annex`` (a module wrapping this one,
    run by ``read_pages(child=…)``) adds what it makes of each page, in this process.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when reading stops
    _child(argv, annex)


def _child(argv: Sequence[str], annex: Callable[[Page], bytes | None] | None) -> None:
    url, stream, subjects = argv[:3]
    if url == "-":  # from the parent's _ChildReader: the URL is in the environment
        url = os.environ.pop(URL_VARIABLE, "")
    start, stop, page = (int(a) for a in argv[3:6])
    out = sys.stdout.buffer
    gc.disable()  # short-lived lists only; a collection would walk each page
    try:
        try:
            connection = RawConnection.open(url)
        except (OSError, ValueError, ProtocolError) as e:
            _send(out, ("refused", f"{type(e).__name__}: {e}"))
            return
        try:
            pages = connection.consume_pages(stream, subjects, start=start, stop=stop, page=page)
            for columns in pages:
                # Plain values: this module is ``__main__`` here, its classes unknown to the parent.
                page_of = Page.of_columns(*columns)
                if annex is not None:
                    page_of = replace(page_of, annex=annex(page_of))
                _send(out, ("page", tuple(getattr(page_of, f.name) for f in fields(Page))))
            _send(out, ("end", None))
        finally:
            connection.close()
    except (BrokenPipeError, ConnectionResetError):  # the parent stopped reading
        pass
    except Exception as e:
        with contextlib.suppress(OSError):
            _send(out, ("error", f"{type(e).__name__}: {e}"))


if __name__ == "__main__":
    run_child(sys.argv[1:])
