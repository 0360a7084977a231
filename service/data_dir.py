"""The data directory is its owner's alone: every ``hsl`` command writes owner-only.

The data directory holds people's names (the DuckDB views), the NATS passwords, the people
and tokens of the API and the checkpoint signing key. Each of those files was made private
one by one, but DuckDB creates its database, its write-ahead log and a rebuild's new file
with the process's umask, so the views came out world-readable. Rather than chase every
file, ``hsl`` runs each command under umask ``077`` (:func:`owner_only`, entered once in
``service.cli.main``): whatever a command creates, inside the data directory or at a path the
user names (``hsl export``, ``hsl replay --as-of``), is readable by its owner only, and a
directory it creates is ``0700``. Child processes (the embedded nats-server, the log reader)
inherit the umask.

A data directory made by an older ``hsl`` is closed up when a command starts
(:func:`protect`): group and others lose every permission on the directory itself (``0700``)
and on ``hsl``'s own entries directly in it (the views, the API's users, the ``nats`` and
``audit`` directories); the directory's mode already keeps them out of what lies deeper.
Only a directory that holds such an entry is touched, and nothing else in it: pointed at a
directory that is not ``hsl``'s alone (``HSL_DATA_DIR=$HOME``), ``hsl`` changes no mode there
it did not create.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

import structlog

from projections.views_file import VIEWS_FILE

if TYPE_CHECKING:
    from service.settings import Settings

OWNER_ONLY_UMASK: Final = 0o077
"""Group and others get no permission on what is created."""
OWN_NAMES: Final = (VIEWS_FILE, "views-as-of-", "users.json", "nats", "audit")
"""What ``hsl`` keeps directly in a data directory: these names, or names starting so."""

log = structlog.get_logger(__name__)


def views_path(settings: Settings) -> Path:
    """Where the views live: one DuckDB file under the data directory."""
    return settings.data_dir / VIEWS_FILE


@contextlib.contextmanager
def owner_only(data_dir: Path) -> Iterator[None]:
    """Run the block under umask ``077`` with ``data_dir`` closed up; restore the umask after."""
    previous = os.umask(OWNER_ONLY_UMASK)
    try:
        protect(data_dir)
        yield
    finally:
        os.umask(previous)


def protect(data_dir: Path) -> None:
    """Take group's and others' permissions from ``data_dir`` and ``hsl``'s entries in it.

    Nothing happens to a data directory that does not exist yet (the first command that
    writes creates it, under the umask, as ``0700``), nor to one holding nothing of
    ``hsl``'s. A file or directory that is not ours to change (another owner) is logged and
    left as it is: the command still runs.
    """
    try:
        info = data_dir.stat()
    except OSError:
        return  # missing, or unusable: the command that uses it names the problem
    if not stat.S_ISDIR(info.st_mode):
        return
    try:
        ours = [e for e in os.scandir(data_dir) if e.name.startswith(OWN_NAMES)]
    except OSError:
        return
    if not ours:
        return
    _restrict(data_dir, info)
    for entry in ours:
        with contextlib.suppress(OSError):
            if not entry.is_symlink():
                _restrict(Path(entry.path), entry.stat(follow_symlinks=False))


def _restrict(path: Path, info: os.stat_result) -> None:
    """Take away group's and others' permissions; the owner's stay as they are."""
    current = stat.S_IMODE(info.st_mode)
    wanted = current & ~OWNER_ONLY_UMASK
    if current == wanted:
        return
    try:
        os.chmod(path, wanted)
    except OSError as e:
        log.warning("cannot make owner-only", path=str(path), error=e.strerror or str(e))
