"""The example subscriber: a durable JetStream consumer on the public stream.

``hsl subscribe SUBJECT [--durable NAME]`` binds (or creates) a durable pull consumer on the public
stream with ``SUBJECT`` as its filter, explicit acks and delivery from the first message; it
prints each integration event as one JSON line and acks it only after the line is written,
waiting for the server to confirm the ack (a "double ack"). The server keeps the consumer's
position, so stopped and restarted it goes on with the first message it has not acked: it misses
none. It fetches one message at a time, and on SIGINT/SIGTERM finishes the message in hand
(print, confirmed ack) before it exits, so a stop and restart repeats none. Only a crash
between printing a line and the ack's confirmation can print a message twice; the second
delivery says ``"redelivered": true``. A subscriber that must never act twice keys its work on
``(source_sequence, status)``, which is unique.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Callable
from typing import Final

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from events.quarantine import QuarantineCounter, Quarantined
from service.feed.integration import check_filter, decode, to_builtins
from service.feed.stream import FeedError, change_verdict, public_stream

FETCH_TIMEOUT: Final = 1.0
"""Seconds one fetch waits for a message; a stop is noticed within this."""
ACK_CONFIRM_TIMEOUT: Final = 5.0
ACK_WAIT: Final = 30.0
"""Seconds before the server delivers an unacknowledged message again (after a crash)."""
_DURABLE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class SubscribeError(FeedError):
    """A subscription that cannot be made as asked; the message says why."""


def default_durable(subject: str) -> str:
    """A durable name for a filter: readable, and distinct for distinct filters."""
    readable = re.sub(r"[^A-Za-z0-9_-]", "_", subject.replace("*", "any").replace(">", "all"))
    digest = hashlib.sha256(subject.encode()).hexdigest()[:8]
    return f"sub_{readable[-40:]}_{digest}"


def check_durable(name: str) -> str:
    if not _DURABLE.match(name):
        msg = f"durable name {name!r}: use 1-64 letters, digits, '_' or '-'"
        raise SubscribeError(msg)
    return name


async def ensure_consumer(nc: Client, stream: str, subject: str, durable: str) -> None:
    """Create the durable consumer, or check that the existing one follows ``subject``."""
    js = nc.jetstream()
    public = public_stream(stream)
    try:
        info = await js.consumer_info(public, durable)
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
            except nats.errors.TimeoutError:
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
            except nats.errors.TimeoutError as e:
                msg = "the server did not confirm an ack; the last line may come again"
                raise SubscribeError(msg) from e
            printed += 0 if isinstance(verdict, Quarantined) else 1
    finally:
        await sub.unsubscribe()
    return printed
