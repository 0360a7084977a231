"""The live log verifier (``hsl audit verify`` without a bundle): the bundle's checks on the
running log itself, every checkpoint root recomputed from the events (``replay.verification``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field

from replay.bundle_format import CheckpointRecord
from replay.leaf_quarantine import Flagged
from replay.signed_note import VerifierKey
from replay.verification import (
    VerificationError,
    checked_events,
    first_failing_checkpoint,
    verified_checkpoints,
)


@dataclass
class LiveReport:
    """What verifying the running log established."""

    origin: str
    events: int
    checkpoints: int
    tree_size: int
    root: str
    not_yet_checkpointed: int
    """Events stored after the last checkpoint: not yet signed, checked for order only."""
    late_entries: list[int] = field(default_factory=list)
    quarantined: list[Flagged] = field(default_factory=list)
    """Stored messages that are not events (or no checkpoint of the log): named, not read."""


def verify_log(
    lines: Iterable[bytes], checkpoints: Iterable[CheckpointRecord], key: VerifierKey, origin: str
) -> LiveReport:
    """The bundle's checks on the log itself: every checkpoint root recomputed from the events.

    Recomputing each root from the leaves proves each checkpoint extends the previous one, so
    no consistency proof is needed here.
    """
    flagged: list[Flagged] = []
    verified = verified_checkpoints(
        ((n, record) for n, record in enumerate(checkpoints, start=1)), key, origin, flagged
    )
    events = checked_events(((n, line) for n, line in enumerate(lines, start=1)), "all", None)
    tree_size = verified[-1].size if verified else 0
    if len(events.lines) < tree_size:
        n = len(events.lines)
        msg = f"the log ends at event {n}, its checkpoints cover {tree_size}"
        raise VerificationError("missing", msg, n + 1)
    failing = first_failing_checkpoint(events.lines, verified)
    if failing is not None:
        index, checkpoint = failing
        start = verified[index - 1].size + 1 if index else 1
        msg = (
            f"events {start}..{checkpoint.size} do not give the signed root of tree size "
            f"{checkpoint.size} (an event was altered after it was checkpointed)"
        )
        raise VerificationError("altered", msg, start)
    return LiveReport(
        origin=origin,
        events=len(events.lines),
        checkpoints=len(verified),
        tree_size=tree_size,
        root=base64.b64encode(verified[-1].root_hash).decode() if verified else "",
        not_yet_checkpointed=len(events.lines) - tree_size,
        late_entries=events.late,
        quarantined=events.quarantined + flagged,
    )
