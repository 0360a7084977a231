"""A small tmpfs for full-disk tests, and filling it; skipped where mounting is not allowed."""

from __future__ import annotations

import errno
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_disk(parent: Path, size: str = "4m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted under ``parent`` for the block only (needs root)."""
    where = parent / f"tmpfs-{uuid.uuid4().hex[:8]}"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", f"hsl-test-{where.name}", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill_disk(where: Path) -> Path:
    """Write zeros until the volume is full; the file, to remove when space should return."""
    filler = where / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb") as out:
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
    return filler
