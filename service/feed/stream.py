"""The public stream: where the integration events are kept for downstream subscribers.

One stream per event log, ``<stream>-public`` (``hsl-public`` for the service's log ``hsl``),
holding the subjects ``hsl.public.outcome.*.*``. Like the log it is immutable (delete and purge
denied, no limits): a subscriber that comes back after a month still finds every change, and
the publisher finds where it stopped. Each message carries the header ``Hsl-Source-Sequence``
(the log position it was derived from) and ``Nats-Msg-Id`` (see ``service.feed.publisher``).
"""

from __future__ import annotations

from typing import Final

import nats.js.errors
from nats.aio.client import Client
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from events.stream_layout import DUPLICATE_WINDOW, immutability_faults
from service.feed.integration import ALL_SUBJECTS

SOURCE_SEQUENCE: Final = "Hsl-Source-Sequence"
"""Header: the event log's stream sequence the message was derived from."""
SOURCE_STREAM: Final = "Hsl-Source-Stream"
"""Header: the event log's stream name."""
_STREAM_NAME_IN_USE: Final = 10058


class FeedError(RuntimeError):
    """The feed cannot go on; the message says why."""


def public_stream(stream: str) -> str:
    """The public stream of the event log ``stream``."""
    return f"{stream}-public"


def public_stream_config(stream: str, replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=public_stream(stream),
        description=f"public outcome status changes derived from the log {stream!r} (immutable)",
        subjects=[ALL_SUBJECTS],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.NEW,
        max_msgs=-1,
        max_bytes=-1,
        max_age=0,
        max_msgs_per_subject=-1,
        num_replicas=replicas,
        duplicate_window=DUPLICATE_WINDOW.total_seconds(),
        deny_delete=True,
        deny_purge=True,
        allow_rollup_hdrs=False,
        allow_direct=True,
        allow_atomic=True,
    )


async def ensure_public_stream(nc: Client, stream: str, replicas: int | None = None) -> None:
    """Create the public stream, or check that the existing one is immutable.

    ``replicas`` defaults to the event log's own (three in the cluster profile; one if the log
    does not exist yet).
    """
    js = nc.jetstream()
    if replicas is None:
        try:
            replicas = (await js.stream_info(stream)).config.num_replicas or 1
        except nats.js.errors.NotFoundError:
            replicas = 1
    try:
        await js.add_stream(public_stream_config(stream, replicas))
    except nats.js.errors.BadRequestError as e:
        if e.err_code != _STREAM_NAME_IN_USE:
            raise
        info = await js.stream_info(public_stream(stream))
        faults = immutability_faults(info.config)
        if faults:
            msg = f"stream {public_stream(stream)!r} exists but is not immutable: " + "; ".join(
                faults
            )
            raise FeedError(msg) from e
