"""The example subscriber: a durable JetStream consumer on the public stream.

``hsl subscribe SUBJECT --as NAME [--durable D]`` connects as the downstream system ``NAME``
(its own NATS user and inbox, ``service.nats.subscribers``) and binds (or creates) its durable pull
consumer on the public stream (``NAME``, or another granted to it) with ``SUBJECT`` as its
filter, explicit acks and delivery from the first message; it
prints each integration event as one JSON line and acks it only after the line is written,
waiting for the server to confirm the ack (a "double ack"). The server keeps the consumer's
position, so stopped and restarted it goes on with the first message it has not acked: it misses
none. It fetches one message at a time, and on SIGINT/SIGTERM finishes the message in hand
(print, confirmed ack) before it exits, so a stop and restart repeats none. Only a crash, or
a connection lost, between printing a line and the ack's confirmation can print a message
twice; the second delivery says ``"redelivered": true``. A NATS fault does not end it: it
fetches again until the server (a restarted one, or a surviving node) answers. A subscriber
that must never act twice keys its work on ``(source_sequence, status)``, which is unique.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Final

import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from events.jetstream.connection import RETRY_WAIT, is_transient
from events.jetstream.quarantine import QuarantineCounter, Quarantined
from service.feed.integration import check_filter, decode, to_builtins
from service.feed.stream import FeedError, change_verdict, public_stream
from service.nats.subscribers import SubscriberError, check_durable_name

log = structlog.get_logger(__name__)

FETCH_TIMEOUT: Final = 1.0
"""Seconds one fetch waits for a message; a stop is noticed within this."""
ACK_CONFIRM_TIMEOUT: Final = 5.0
ACK_WAIT: Final = 10.0
"""Seconds before the server delivers an unacknowledged message again (after a crash). With
one message in hand at a time, a subscriber restarted after a crash waits this long for it:
short, since the example prints and acks at once; a consumer doing slow work per message
would want more (or ``in_progress`` acks)."""


class SubscribeError(FeedError):
    """A subscription that cannot be made as asked; the message says why."""


def check_durable(name: str) -> str:
    try:
        return check_durable_name(name)
    except SubscriberError as e:
        raise SubscribeError(str(e)) from None


async def ensure_consumer(nc: Client, stream: str, subject: str, durable: str) -> None:
    """Create the durable consumer, or check that the existing one follows ``subject``."""
    js = nc.jetstream()
    public = public_stream(stream)
    try:
        info = await js.consumer_info(public, durable)
    except nats.errors.TimeoutError as e:
        # A request the server refuses (a permissions violation) is never answered.
        msg = (
            f"no answer about the durable {durable!r} on {public!r}: is it one this NATS user "
            "may keep? (a downstream system keeps its NAME and the durables granted with "
            "`hsl subscribers add NAME --durable D`)"
        )
        raise SubscribeError(msg) from e
    except nats.js.errors.NotFoundError as e:
        if getattr(e, "err_code", None) == 10059:  # the stream itself is missing
            msg = f"the public stream {public!r} does not exist yet: run `hsl feed` (or serve)"
            raise SubscribeError(msg) from e
        try:
            await js.add_consumer(
                public,
                ConsumerConfig(
                    durable_name=durable,
                    description=f"hsl subscribe {subject}",
                    filter_subject=subject,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=ACK_WAIT,
                    max_ack_pending=1,
                ),
            )
        except nats.js.errors.NotFoundError as missing:
            msg = f"the public stream {public!r} does not exist yet: run `hsl feed` (or serve)"
            raise SubscribeError(msg) from missing
        return
    following = info.config.filter_subject
    if following != subject:
        msg = (
            f"durable {durable!r} follows {following!r}, not {subject!r}: "
            "give another --durable for another subject"
        )
        raise SubscribeError(msg)


def render(message: Msg) -> str:
    """One JSON line: the integration event, and ``redelivered`` when it was delivered before."""
    document = to_builtins(decode(message.data))
    if message.metadata.num_delivered > 1:
        document["redelivered"] = True
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


async def subscribe(
    nc: Client,
    stream: str,
    subject: str,
    durable: str,
    stop: asyncio.Event,
    *,
    out: Callable[[str], None],
    count: int | None = None,
) -> int:
    """Print each event on ``subject`` with ``out`` and ack it, until ``stop`` (or ``count``).

    Returns how many were printed. A message that is not an integration event (anyone who may
    publish on the feed's subjects can store one) is not printed but logged and acked, so the
    consumer goes on past it (``service.feed.stream.change_verdict``).
    """
    subject = check_filter(subject)
    await ensure_consumer(nc, stream, subject, check_durable(durable))
    public = public_stream(stream)
    sub = await nc.jetstream().pull_subscribe_bind(durable, stream=public)
    quarantine = QuarantineCounter("subscriber")
    printed = 0
    try:
        while not stop.is_set() and (count is None or printed < count):
            try:
                # One at a time: a stop between two messages leaves none fetched and unprinted,
                # so nothing comes back marked redelivered that was not printed before.
                (message,) = await sub.fetch(1, timeout=FETCH_TIMEOUT)
            except Exception as e:
                # No message yet, or NATS away (a reconnect, a leader election): the durable
                # consumer keeps the position on the server, so fetching again goes on there.
                if not is_transient(e):
                    raise
                if not isinstance(e, nats.errors.TimeoutError):
                    log.warning("subscriber: NATS unavailable; fetching again", error=str(e))
                    await asyncio.sleep(RETRY_WAIT)
                continue
            verdict = change_verdict(
                public,
                message.metadata.sequence.stream,
                message.subject,
                message.headers,
                message.data,
                own=False,
            )
            if isinstance(verdict, Quarantined):  # not an integration event: skip it, acked
                quarantine.note(verdict)
            else:
                out(render(message))
            try:
                await message.ack_sync(timeout=ACK_CONFIRM_TIMEOUT)
            except Exception as e:
                if not is_transient(e):
                    raise
                # Unconfirmed, perhaps lost with the connection: the server delivers the
                # event again after ACK_WAIT, marked redelivered (module docstring).
                log.warning("subscriber: ack not confirmed; the event may come again", error=str(e))
            printed += 0 if isinstance(verdict, Quarantined) else 1
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    return printed
