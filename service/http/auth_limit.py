"""A limit on failed authentications per client address, so tokens cannot be guessed fast.

Each client address has a bucket of :data:`FAILED_AUTH_BURST` attempts that refills by one
every :data:`FAILED_AUTH_REFILL_SECONDS`. Every request that presents credentials takes one
attempt *before* its token is checked, and a token that authenticates gives it back: a client
that logs in correctly never waits, concurrent guesses cannot overtake the count, and a client
with an empty bucket is answered 429 with ``Retry-After`` without its token being checked at
all (docs/api.md). A good token from another address is not affected.

The address is the TCP peer the API sees: behind a reverse proxy every client shares the
proxy's (``X-Forwarded-For`` is not trusted, anyone can write it). At most
:data:`TRACKED_CLIENTS` addresses are remembered; past that the least recently seen are
forgotten.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

FAILED_AUTH_BURST: Final = 10
"""Failed authentications a client address may make in a row before it must wait."""
FAILED_AUTH_REFILL_SECONDS: Final = 6.0
"""After the burst, one more attempt is allowed per this many seconds (ten a minute)."""
TRACKED_CLIENTS: Final = 10_000
"""Client addresses remembered at most (the least recently seen are dropped past that)."""


class Throttled(Exception):  # noqa: N818 - reads as what happened to the request
    """Too many failed authentications from this client: 429, try again in ``retry_after`` s."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many failed authentications; retry after {retry_after} s")


@dataclass
class _Bucket:
    attempts: float
    updated: float


class FailedAuthLimiter:
    """Token buckets of authentication attempts, one per client address (thread-safe)."""

    def __init__(
        self,
        burst: int = FAILED_AUTH_BURST,
        refill_seconds: float = FAILED_AUTH_REFILL_SECONDS,
        *,
        max_clients: int = TRACKED_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1 or refill_seconds <= 0 or max_clients < 1:
            msg = "burst and max_clients must be 1 or more, refill_seconds above 0"
            raise ValueError(msg)
        self.burst = burst
        self.refill_seconds = refill_seconds
        self.max_clients = max_clients
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, client: str) -> None:
        """Take one attempt for ``client``, or raise :class:`Throttled` if none is left."""
        with self._lock:
            bucket = self._refilled(client)
            if bucket.attempts < 1:
                wait = (1 - bucket.attempts) * self.refill_seconds
                raise Throttled(max(1, math.ceil(wait)))
            bucket.attempts -= 1

    def give_back(self, client: str) -> None:
        """The attempt ``client`` took authenticated: it does not count."""
        with self._lock:
            bucket = self._refilled(client)
            bucket.attempts = min(float(self.burst), bucket.attempts + 1)

    def _refilled(self, client: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = _Bucket(attempts=float(self.burst), updated=now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(client)
            gained = (now - bucket.updated) / self.refill_seconds
            bucket.attempts = min(float(self.burst), bucket.attempts + gained)
            bucket.updated = now
        return bucket
