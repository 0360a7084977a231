"""Test streams on a NATS server: messages appended where the service user may publish."""

from __future__ import annotations

import nats
import nats.aio.client
import nats.errors


async def publish(url: str, stream: str, count: int) -> None:
    """Create ``stream`` (if needed) and append ``count`` messages to it.

    Its subjects are ``hsl.public.<stream>.…``: the embedded server's ``service`` user, which
    ``url`` names there, may publish only the service's own subjects (a test stream, so no
    public stream is created beside it).
    """
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"hsl.public.{stream.lower()}.>"])
        for i in range(count):
            await js.publish(f"hsl.public.{stream.lower()}.event", f"event {i}".encode())
    finally:
        await nc.close()
