"""Every fault scenario, in the order they run."""

from __future__ import annotations

from tests.faults import checkpoint, cluster, concurrency, disk, embedded, feed, projection
from tests.faults.scenario import Scenario

SCENARIOS: list[Scenario] = [
    embedded.SCENARIO,
    cluster.SCENARIO,
    projection.SCENARIO,
    checkpoint.SCENARIO,
    feed.SCENARIO,
    disk.SCENARIO,
    concurrency.SCENARIO,
]
