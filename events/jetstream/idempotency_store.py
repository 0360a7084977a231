"""Where a command's ``Idempotency-Key`` and its first result are kept, shared by every process.

The record of a key is written *before* the command's events are committed (``pending``:
what the request was, its answer, and the events it is about to store, by aggregate, version
and digest), and completed after (``done``) or released when nothing was stored (``void``).
Each write names the revision it replaces, so of two requests racing with one key exactly
one claims it. A ``pending`` record whose writer vanished is settled by reading the log: its
events are there (the answer stands) or not (the key is free again). So the log, not this
store, says what happened; the store only remembers the answer and the claim.

On JetStream the records live in a key-value bucket beside the log (``<app>_idempotency``,
one subject per key, the last record only) whose entries expire after
:data:`RETENTION`: a key retried later than that runs as a new request. The bucket is not
part of the audit record and holds no event content, only digests and the answer.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

import msgspec
import nats.errors
import nats.js.errors
from eventsourcing.persistence import StoredEvent
from nats.js.api import Header, KeyValueConfig, StorageType

from events.jetstream.commits import JetStreamRecorder
from events.jetstream.operations import (
    STREAM_NAME_IN_USE,
    WRONG_LAST_SEQUENCE,
    OutgoingMessage,
    commit,
    direct_get_last,
)
from events.jetstream.write_errors import NotStoredError, StorageFullError, is_storage_full

RETENTION = timedelta(hours=24)
"""How long a key's record is kept after its last write: the window for retries."""

State = Literal["pending", "done", "void"]
T = TypeVar("T")


class PlannedEvent(msgspec.Struct, frozen=True):
    """One event a keyed commit stores: where, and a digest of its stored state."""

    originator_id: str
    version: int
    digest: str

    @classmethod
    def of(cls, event: StoredEvent) -> PlannedEvent:
        digest = hashlib.sha256(event.topic.encode() + b"\0" + event.state).hexdigest()
        return cls(str(event.originator_id), event.originator_version, digest)


class KeyRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What a key stands for: the request's fingerprint, its answer and its events."""

    state: State
    fingerprint: str
    status: int
    body: str
    """The answer's JSON, exactly as first sent."""
    events: tuple[PlannedEvent, ...] = ()
    claim: str = ""
    """Which attempt wrote it: a process knows the attempts it gave up before committing."""


@dataclass(frozen=True)
class KeyEntry:
    """A key's current record, its revision (for the next write) and its age."""

    record: KeyRecord
    revision: int
    age: timedelta
    """Since the record was written, by the store's clock."""


class KeyTakenError(Exception):
    """Another request wrote the key's record first."""


class IdempotencyStore(Protocol):
    """Records of keys, written only over the revision the writer last saw (0: none)."""

    def get(self, key_id: str) -> KeyEntry | None: ...

    def put(self, key_id: str, record: KeyRecord, last_revision: int) -> int:
        """Write ``record`` if ``last_revision`` is still the key's; return the new one."""
        ...


_decode = msgspec.json.Decoder(KeyRecord).decode
_EXPECTED_LAST = Header.EXPECTED_LAST_SUBJECT_SEQUENCE.value


class JetStreamIdempotencyStore:
    """Key records in a JetStream key-value bucket beside the application's stream."""

    def __init__(self, recorder: JetStreamRecorder) -> None:
        self._bridge = recorder.bridge
        self.bucket = recorder.layout.idempotency_bucket
        self.stream = f"KV_{self.bucket}"
        self._replicas = recorder.layout.replicas
        self._ready = False

    def get(self, key_id: str) -> KeyEntry | None:
        self._ensure_bucket()
        found = self._call(direct_get_last(self._bridge.client, self.stream, self._subject(key_id)))
        if found is None or not found.payload:
            return None
        stored_at = datetime.fromisoformat(found.timestamp) if found.timestamp else None
        age = datetime.now(UTC) - stored_at if stored_at else timedelta(0)
        return KeyEntry(_decode(found.payload), found.seq, age)

    def put(self, key_id: str, record: KeyRecord, last_revision: int) -> int:
        self._ensure_bucket()
        message = OutgoingMessage(
            subject=self._subject(key_id),
            headers={_EXPECTED_LAST: str(last_revision)},
            payload=msgspec.json.encode(record),
        )
        ack = self._call(commit(self._bridge.client, [message]))
        if ack.error is None:
            return int(ack.seq)
        if ack.error.err_code in WRONG_LAST_SEQUENCE:
            raise KeyTakenError(key_id)
        what = f"the idempotency store (stream {self.stream!r})"
        if is_storage_full(ack.error.err_code, ack.error.description):
            msg = f"{what} has no room: {ack.error.description}; nothing was stored"
            raise StorageFullError(msg, store=self.stream)
        msg = f"{what} refused the write: {ack.error.description}; nothing was stored"
        raise NotStoredError(msg)

    def _subject(self, key_id: str) -> str:
        return f"$KV.{self.bucket}.{key_id}"

    def _ensure_bucket(self) -> None:
        if not self._ready:
            self._call(self._create_bucket())
            self._ready = True

    async def _create_bucket(self) -> None:
        config = KeyValueConfig(
            bucket=self.bucket,
            description="haoshangliang: Idempotency-Key records of commands (not the log)",
            history=1,
            ttl=RETENTION.total_seconds(),
            storage=StorageType.FILE,
            replicas=self._replicas,
            direct=True,
        )
        try:
            await self._bridge.client.jetstream().create_key_value(config)
        except nats.js.errors.BadRequestError as e:
            if e.err_code != STREAM_NAME_IN_USE:  # made before, with other settings: use it
                raise

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return self._bridge.run(coro)
        except (nats.errors.Error, nats.js.errors.Error) as e:
            if isinstance(e, nats.js.errors.APIError) and is_storage_full(
                e.err_code or 0, e.description or ""
            ):
                msg = f"the idempotency store (bucket {self.bucket!r}) has no room; nothing stored"
                raise StorageFullError(msg, store=self.stream) from e
            msg = f"the idempotency store (bucket {self.bucket!r}) did not answer: {e}"
            raise NotStoredError(msg) from e


class MemoryIdempotencyStore:
    """Key records in this process, for an application whose log is in memory too."""

    def __init__(self) -> None:
        self._records: dict[str, tuple[KeyRecord, int, datetime]] = {}
        self._lock = threading.Lock()
        self._revision = 0

    def get(self, key_id: str) -> KeyEntry | None:
        with self._lock:
            found = self._records.get(key_id)
        if found is None:
            return None
        record, revision, at = found
        return KeyEntry(record, revision, datetime.now(UTC) - at)

    def put(self, key_id: str, record: KeyRecord, last_revision: int) -> int:
        with self._lock:
            found = self._records.get(key_id)
            if (found[1] if found else 0) != last_revision:
                raise KeyTakenError(key_id)
            self._revision += 1
            self._records[key_id] = (record, self._revision, datetime.now(UTC))
            return self._revision
