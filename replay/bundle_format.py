"""The export bundle's layout: file names, record shapes and the signed manifest note.

Shared by the exporter (``replay.bundle``) and the offline verifier
(``replay.bundle_verifier``); pure data, no NATS and no DuckDB. The format is described for
readers in ``FORMAT`` (written into every bundle as FORMAT.md) and in docs/integrity.md.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

FORMAT_NAME: Final = "haoshangliang-audit-bundle/1"

EVENTS: Final = "events.jsonl"
CHECKPOINTS: Final = "checkpoints.jsonl"
CONSISTENCY: Final = "consistency.jsonl"
INCLUSION: Final = "inclusion.jsonl"
LEAVES: Final = "leaves.bin"
MANIFEST: Final = "manifest.json"
MANIFEST_NOTE: Final = "manifest.note"
FORMAT_FILE: Final = "FORMAT.md"

Scope = Literal["all", "range", "outcome"]


class CheckpointRecord(msgspec.Struct, forbid_unknown_fields=True):
    """One line of checkpoints.jsonl: a signed checkpoint and its place in the checkpoint stream."""

    seq: int
    note: str


class ConsistencyRecord(msgspec.Struct, forbid_unknown_fields=True):
    """One line of consistency.jsonl: the tree of ``size2`` extends the tree of ``size1``."""

    size1: int
    size2: int
    proof: list[str]
    """Base64 hashes, bottom-up (RFC 9162 §2.1.4)."""


class InclusionRecord(msgspec.Struct, forbid_unknown_fields=True):
    """One line of inclusion.jsonl: event ``seq`` is leaf ``seq - 1`` of the tree ``tree_size``."""

    seq: int
    tree_size: int
    proof: list[str]
    """Base64 hashes, bottom-up (RFC 9162 §2.1.3)."""


class Manifest(msgspec.Struct, forbid_unknown_fields=True):
    """What the bundle holds; signed (by its SHA-256) in manifest.note."""

    format: str
    origin: str
    stream: str
    scope: Scope
    scope_detail: str
    """``all``; ``FIRST-LAST`` for a range; the outcome's id for an outcome's history."""
    events: int
    first_seq: int | None
    last_seq: int | None
    tree_size: int
    """The size of the last checkpoint: every proof in the bundle is against its root."""
    checkpoints: int
    exported_at: str
    files: dict[str, str]
    """SHA-256 (hex) of every other file of the bundle, by name."""


def manifest_note_text(origin: str, manifest_sha256: str) -> str:
    """The text of manifest.note (signed with the log's key); cannot parse as a checkpoint."""
    return f"{origin}\nexport-manifest\n{manifest_sha256}\n"


FORMAT: Final = """\
# haoshangliang audit bundle (haoshangliang-audit-bundle/1)

An export of the event log of a 有事好商量 consultation audit trail, verifiable with the log's
public (verifier) key alone: `hsl audit verify BUNDLE --key KEY`, or any tool that implements
what follows.

- `events.jsonl`: one stored event per line, in stream order. Each line is exactly the bytes of
  a Merkle leaf: `{"seq":N,"subject":"…","version":V,"stored_at":"…","event":{…}}` (keys in
  that order, no spaces, the event JSON as stored). Event `seq` is leaf `seq - 1`.
- Hashing is RFC 9162 (RFC 6962): leaf = SHA-256(0x00 ‖ line), node = SHA-256(0x01 ‖ l ‖ r).
- `checkpoints.jsonl`: `{"seq":…,"note":"…"}` per line, oldest first. Each note is a C2SP
  signed note whose text is a C2SP tlog-checkpoint: origin, tree size, base64 root.
- `consistency.jsonl`: `{"size1","size2","proof":[base64…]}` for each pair of consecutive
  checkpoints: the later tree extends the earlier (RFC 9162 §2.1.4).
- `leaves.bin` (whole-log exports): the 32-byte leaf hashes of the tree, concatenated; once
  its roots match the checkpoints it names the exact event that differs.
- `inclusion.jsonl` (partial exports): `{"seq","tree_size","proof":[base64…]}` per event, an
  RFC 9162 §2.1.3 inclusion proof against the last checkpoint.
- `manifest.json`: counts, scope, and the SHA-256 of every file; `manifest.note`: a signed note
  `<origin>\\nexport-manifest\\n<sha256 of manifest.json>\\n` by the same key.

Checks: every signature; no two checkpoints for one size with different roots (a fork);
consistency between consecutive checkpoints; every event's place (no gap, no reordering, in a
whole or range export); every event's `recorded_at` within 5 minutes of its `stored_at`, the
server's storage time, and `stored_at` never going back by more than that (no back-dating);
every event covered by a checkpoint; every root recomputed from the leaves, or every inclusion
proof; the manifest's counts and hashes.
"""
