"""The oldest nats-server the log can run on, for every place that checks a server's version."""

from __future__ import annotations

from typing import Final

MIN_SERVER_VERSION: Final[tuple[int, int, int]] = (2, 12, 0)
"""Atomic batch publish (ADR-50), which our commits rely on, arrived in nats-server 2.12."""
