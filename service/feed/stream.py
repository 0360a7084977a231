"""The public stream: where the integration events are kept for downstream subscribers.

One stream per event log, ``<stream>-public`` (``hsl-public`` for the service's log ``hsl``),
holding the subjects ``hsl.public.outcome.*.*``. Like the log it is immutable (delete and purge
denied, no limits): a subscriber that comes back after a month still finds every change, and
the publisher finds where it stopped. Each message carries the header ``Hsl-Source-Sequence``
(the log position it was derived from) and ``Nats-Msg-Id`` (see ``service.feed.publisher``).
"""

from __future__ import annotations

from typing import Final

from nats.aio.client import Client
from nats.js.api import StreamConfig

from events.jetstream_ops import ensure_immutable_stream
from events.stream_layout import immutable_stream_config
from service.feed.integration import ALL_SUBJECTS

SOURCE_SEQUENCE: Final = "Hsl-Source-Sequence"
"""Header: the event log's stream sequence the message was derived from."""
SOURCE_STREAM: Final = "Hsl-Source-Stream"
"""Header: the event log's stream name."""


class FeedError(RuntimeError):
    """The feed cannot go on; the message says why."""


def public_stream(stream: str) -> str:
    """The public stream of the event log ``stream``."""
    return f"{stream}-public"


def public_stream_config(stream: str, replicas: int = 1) -> StreamConfig:
    """Immutable like the log: what subscribers were told stays as it was told."""
    return immutable_stream_config(
        public_stream(stream),
        [ALL_SUBJECTS],
        f"public outcome status changes derived from the log {stream!r} (immutable)",
        replicas,
    )


async def ensure_public_stream(nc: Client, stream: str, replicas: int = 1) -> None:
    """Create the public stream, or check that the existing one is immutable.

    ``replicas`` is the configured count (``JETSTREAM_REPLICAS``, as every stream gets it), not
    copied from the log: the feed may well start before the log's stream exists.
    """
    faults = await ensure_immutable_stream(nc, public_stream_config(stream, replicas))
    if faults:
        msg = f"stream {public_stream(stream)!r} exists but is not immutable: " + "; ".join(faults)
        raise FeedError(msg)
