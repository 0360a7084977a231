"""Fixtures of the command-line tests: a data directory, its embedded server stopped after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.nats.embedded import stop_embedded
from service.settings import Settings


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh HSL_DATA_DIR; any embedded server started on it is stopped afterwards."""
    path = tmp_path / "data"
    try:
        yield path
    finally:
        stop_embedded(Settings.from_env({"HSL_DATA_DIR": str(path)}))
