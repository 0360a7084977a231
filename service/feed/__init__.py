"""The public outcome feed for downstream subscribers (issue 6).

- ``integration``: the integration event (:class:`OutcomeStatusChanged`) and the subject scheme
  ``hsl.public.outcome.<status>.<room>``;
- ``transitions``: outcome events (and the clock, for overdue) → status changes;
- ``stream``: the public stream ``<log>-public`` they are kept in;
- ``publisher``: follows the log and publishes each change exactly once (``run_feed``,
  ``catch_up``);
- ``subscriber``: the example durable subscriber behind ``hsl subscribe``;
- ``asyncapi``: the AsyncAPI 3 document (docs/asyncapi.yaml).

``hsl feed`` and ``hsl subscribe`` are :mod:`service.cli.feed`.

See docs/feed.md.
"""

from service.feed.integration import OutcomeStatusChanged
from service.feed.publisher import FeedPublisher, catch_up, run_feed
from service.feed.stream import FeedError, public_stream

__all__ = [
    "FeedError",
    "FeedPublisher",
    "OutcomeStatusChanged",
    "catch_up",
    "public_stream",
    "run_feed",
]
