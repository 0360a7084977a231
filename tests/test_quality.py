"""Type checking and linting are part of the test suite, so CI fails on either."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a tool from this environment at the repo root, where it reads pyproject.toml."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_mypy_strict_passes() -> None:
    """mypy, strict per [tool.mypy], finds no error in any package or the tests."""
    result = run_tool("mypy")
    assert result.returncode == 0, f"mypy failed:\n{result.stdout}{result.stderr}"


def test_ruff_passes() -> None:
    """ruff check, per [tool.ruff], finds nothing in the repository."""
    result = run_tool("ruff", "check", ".")
    assert result.returncode == 0, f"ruff failed:\n{result.stdout}{result.stderr}"
