"""Checkpoints (c2sp.org/tlog-checkpoint): the signed statement of the log's size and root.

A checkpoint is the text of a signed note (``replay.signed_note``)::

    <origin>
    <tree size, decimal, no leading zeroes>
    <root hash, base64 of the 32-byte RFC 9162 Merkle tree hash>
    [extension lines, each non-empty]

every line ending in a newline. The origin names the log; the log's signing key should carry the
same name. Whoever holds a checkpoint and the log's verifier key can check any export against it:
recompute the root of the first ``size`` leaves, or check a consistency proof to a later one.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from events.jetstream.quarantine import QuarantineKind, short
from replay.merkle import HASH_SIZE, MAX_TREE_SIZE
from replay.signed_note import (
    NoteError,
    SignatureError,
    SignerKey,
    UnknownKeyError,
    VerifiedNote,
    VerifierKey,
    check_text,
    open_note,
    sign_note,
)

_SIZE_RE: Final = re.compile(r"0|[1-9][0-9]*")


class CheckpointError(ValueError):
    """A checkpoint body that breaks the format; the message names the line (1-based)."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.reason = reason
        self.line = line
        super().__init__(
            f"malformed checkpoint: line {line}: {reason}"
            if line
            else f"malformed checkpoint: {reason}"
        )


@dataclass(frozen=True)
class Checkpoint:
    """A log's origin, tree size and root hash, and any extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise CheckpointError("the origin must be one non-empty line", 1)
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError(f"tree size {self.size} is outside 0..{MAX_TREE_SIZE}", 2)
        if len(self.root_hash) != HASH_SIZE:
            raise CheckpointError(f"root hash is {len(self.root_hash)} bytes, want {HASH_SIZE}", 3)
        for i, ext in enumerate(self.extensions, start=4):
            if not ext or "\n" in ext:
                raise CheckpointError("an extension line must be one non-empty line", i)

    def text(self) -> str:
        """The note text of this checkpoint, ending with a newline."""
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root_hash).decode(),
            *self.extensions,
        ]
        text = "\n".join(lines) + "\n"
        check_text(text)
        return text

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Read a checkpoint's note text (what ``VerifiedNote.text`` holds)."""
        if not text.endswith("\n"):
            raise CheckpointError("the text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError(
                f"{len(lines)} lines, want at least 3 (origin, tree size, root hash)"
            )
        for number, line in enumerate(lines, start=1):
            if not line:
                raise CheckpointError("empty line", number)
        origin, size_text, root_text, *extensions = lines
        if not _SIZE_RE.fullmatch(size_text):
            raise CheckpointError(
                f"tree size {size_text!r} is not a decimal number without leading zeroes", 2
            )
        size = int(size_text)
        if size > MAX_TREE_SIZE:
            raise CheckpointError(f"tree size {size} exceeds {MAX_TREE_SIZE}", 2)
        try:
            root = base64.b64decode(root_text, validate=True)
        except (binascii.Error, ValueError) as e:
            raise CheckpointError("root hash is not valid base64", 3) from e
        if base64.b64encode(root).decode() != root_text:
            raise CheckpointError("root hash is not canonical base64", 3)
        if len(root) != HASH_SIZE:
            raise CheckpointError(f"root hash is {len(root)} bytes, want {HASH_SIZE}", 3)
        return cls(origin, size, root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, *signers: SignerKey) -> str:
    """The signed note of a checkpoint."""
    return sign_note(checkpoint.text(), *signers)


def open_checkpoint(
    message: bytes | str, known: Iterable[VerifierKey], *, origin: str | None = None
) -> tuple[Checkpoint, VerifiedNote]:
    """Verify a signed checkpoint against the ``known`` keys and read it.

    With ``origin``, the checkpoint must be that log's. Raises ``NoteError`` subclasses for the
    note and signatures, ``CheckpointError`` for the body.
    """
    note = open_note(message, known)
    checkpoint = Checkpoint.parse(note.text)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"origin {checkpoint.origin!r} is not the log {origin!r}", 1)
    return checkpoint, note


def checkpoint_fault(
    note: str, known: Iterable[VerifierKey], origin: str
) -> Checkpoint | tuple[QuarantineKind, str]:
    """The checkpoint a stored note holds, or why it is quarantined
    (``events.jetstream.quarantine``).

    Text that is no signed checkpoint is *undecodable*; a checkpoint not signed by a known
    key, or of another log, is *foreign*. The checkpointer and the live verifier both ask here.
    """
    try:
        checkpoint, _ = open_checkpoint(note, known, origin=origin)
    except (UnknownKeyError, SignatureError) as e:
        return "foreign", short(str(e))
    except CheckpointError as e:
        return ("foreign" if "origin" in e.reason else "undecodable"), short(str(e))
    except NoteError as e:
        return "undecodable", short(str(e))
    return checkpoint
