"""How a commit to the log can fail, told apart by what the caller may conclude.

A failed write is one of two things for whoever asked for it, and they must never be
confused: *nothing was stored* (the server answered no, or the request never left), so a
plain retry is safe; or *the result is unknown* (the request was sent and no answer came:
a lost ack, a connection that dropped after sending), so a blind retry could store the
same act twice. Both are ``OperationalError`` for eventsourcing; these subclasses say which,
and :class:`StorageFullError` says why nothing was stored when the log's store has no room.
"""

from __future__ import annotations

from typing import Protocol

from eventsourcing.persistence import DatabaseError, OperationalError

from events.jetstream.operations import (
    ATOMIC_BATCH_INCOMPLETE,
    ATOMIC_PUBLISH_DISABLED,
    DUPLICATE_MESSAGE_ID,
    WRONG_LAST_SEQUENCE,
)

INSUFFICIENT_RESOURCES = 10023
"""The server's JetStream storage limit (``max_file_store``) is reached."""
STORAGE_RESOURCES_EXCEEDED = 10047
"""The account's JetStream storage limit is reached."""
STORE_FAILED = 10077
"""The stream's store refused the message; its description says why."""
_FULL_STORE_WORDS = ("maximum bytes", "maximum messages", "no space", "insufficient")


class NotStoredError(OperationalError):
    """The log refused the commit or never received it: nothing of it was stored."""


class StorageFullError(NotStoredError):
    """The log's store has no room: nothing was stored; writes succeed again once it has."""

    def __init__(self, message: str, *, store: str) -> None:
        super().__init__(message)
        self.store = store
        """Which store is full, as the operator knows it (the NATS stream's name)."""


class ResultUnknownError(OperationalError):
    """The commit was sent but no answer came: it may or may not be stored."""

    def __init__(self, message: str, *, aggregate_ids: tuple[str, ...]) -> None:
        super().__init__(message)
        self.aggregate_ids = aggregate_ids
        """The aggregates the commit would have written: where to look for it."""


def is_storage_full(err_code: int, description: str) -> bool:
    """Whether a JetStream refusal means that the store has no room for the message.

    A commit of several messages is an atomic batch sent whole, on one connection, so "batch
    incomplete" means the server could not stage it: it writes a batch to disk before the
    stream, and a full disk is what makes that fail.
    """
    if err_code in (INSUFFICIENT_RESOURCES, STORAGE_RESOURCES_EXCEEDED, ATOMIC_BATCH_INCOMPLETE):
        return True
    text = description.lower()
    return err_code == STORE_FAILED and any(word in text for word in _FULL_STORE_WORDS)


class ServerRefusal(Protocol):
    """The error part of a JetStream publish ack."""

    err_code: int
    description: str


def what_is_full(store: str, error: ServerRefusal) -> str:
    """The operator's words for a full store: which stream, and what the server said."""
    said = f"{error.description} ({error.err_code})"
    if error.err_code == ATOMIC_BATCH_INCOMPLETE:
        return f"stream {store!r} could not stage the write on its disk, which is full ({said})"
    return f"stream {store!r} has no room: {said}"


def refusal_error(stream: str, error: ServerRefusal) -> DatabaseError | None:
    """What a refused commit raises; None for a stale position or a duplicate message id,
    which the recorder resolves by reading what is stored."""
    if error.err_code in WRONG_LAST_SEQUENCE or error.err_code == DUPLICATE_MESSAGE_ID:
        return None
    if error.err_code == ATOMIC_PUBLISH_DISABLED:
        return NotStoredError(f"stream {stream!r} does not allow atomic batch publish")
    if is_storage_full(error.err_code, error.description):
        msg = f"{what_is_full(stream, error)}; nothing was stored"
        return StorageFullError(msg, store=stream)
    msg = f"JetStream refused the commit: {error.description} ({error.err_code})"
    return DatabaseError(msg)
