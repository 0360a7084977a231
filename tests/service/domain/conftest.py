"""Fixtures of the domain tests: a fresh application on the in-memory POPO store."""

from __future__ import annotations

import pytest

from tests.support.scenario import Scenario


@pytest.fixture
def s() -> Scenario:
    """A new scenario: its own application, store and clock."""
    return Scenario()
