"""``Idempotency-Key`` on commands: a retried request gets the first answer, stored once.

A client that cannot tell whether its command was recorded (a timeout, a dropped connection,
a 503 "result unknown") sends it again with the same key. The first request with a key runs
the command without saving it, claims the key in the shared store with its answer and the
digests of the events it will commit, and only then commits them; so every API process on
the log, and the same one after a restart, finds the key and answers it:

- claimed and its events are in the log: the first answer, byte for byte (``Idempotent-
  Replayed: true``), nothing stored again;
- claimed by a request with another body: 422, nothing stored;
- claimed moments ago and its events not (yet) in the log: 409, retry after a few seconds
  (the first request may still be committing; after :data:`LEASE` the claim lapses, and at
  once in the process that gave the claim up before committing);
- released (nothing was stored) or unknown: the command runs as new.

A keyed command draws its new ids from the key and the request (:func:`key_ids`), not at
random: if a claim lapsed while its request was stalled, not lost, and the retry ran the
command again, both create the same aggregates, and the log takes only the first commit;
the other finds the aggregates it would create already stored and answers as a replay.

Keys are per caller (another person's key is another key) and kept for
``events.jetstream.idempotency_store.RETENTION``. A refused command (4xx) stores nothing and keeps
no answer, so a retry runs again.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import re
import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from events.jetstream.commits import JetStreamRecorder
from events.jetstream.idempotency_store import (
    IdempotencyStore,
    JetStreamIdempotencyStore,
    KeyRecord,
    KeyTakenError,
    MemoryIdempotencyStore,
    PlannedEvent,
    State,
)
from events.jetstream.write_errors import ResultUnknownError
from service.application import HaoshangliangApplication
from service.commands.base import deferred_saves, ids_from
from service.domain.base import IdSource

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
_VALID_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}")
"""Visible ASCII, no spaces: a UUID, a ULID or any token a client makes fits."""

KEY_IDS = uuid.UUID("7d0c4d4e-5a56-4c1b-9a53-0b8f3c6f2e11")
"""The namespace of the ids a keyed command draws (:func:`key_ids`)."""

LEASE = timedelta(seconds=60)
"""How long a claim belongs to the request that made it, while its events are not in the log.

Longer than any commit may take (``events.jetstream.commits``: its attempts and waits are
bounded well below this); after it, a claim whose events never reached the log is free.
"""


class IdempotencyKeyError(Exception):
    """The ``Idempotency-Key`` header is malformed."""


class IdempotencyKeyReusedError(Exception):
    """The key was first used with another request (route, path or body)."""


class IdempotencyKeyBusyError(Exception):
    """Another request with this key is still being recorded."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Answer:
    """What a keyed command answers: the status and JSON body, and whether it is a replay."""

    status: int
    body: bytes
    replayed: bool


def idempotency_key(headers: Mapping[str, str]) -> str | None:
    """The request's key, or None; a malformed one raises :class:`IdempotencyKeyError`."""
    key = headers.get(HEADER.lower())
    if key is None:
        return None
    if not _VALID_KEY.fullmatch(key):
        msg = (
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} visible ASCII characters without spaces "
            f"(got {len(key)} characters)"
        )
        raise IdempotencyKeyError(msg)
    return key


def fingerprint(command: str, ident: uuid.UUID | None, body: bytes) -> str:
    """What makes two requests the same request: the command, its path id and its body."""
    return hashlib.sha256(f"{command}\n{ident or ''}\n".encode() + body).hexdigest()


_STORES: weakref.WeakKeyDictionary[Application[uuid.UUID], IdempotencyStore] = (
    weakref.WeakKeyDictionary()
)


def store_for(app: HaoshangliangApplication) -> IdempotencyStore:
    """The application's key store: beside its log on JetStream, else in this process."""
    store = _STORES.get(app)
    if store is None:
        recorder = app.recorder
        store = (
            JetStreamIdempotencyStore(recorder)
            if isinstance(recorder, JetStreamRecorder)
            else MemoryIdempotencyStore()
        )
        _STORES[app] = store
    return store


_ABANDONED: OrderedDict[str, None] = OrderedDict()
"""Claims this process gave up before committing their events: those will never be stored."""
_ABANDONED_KEPT = 10_000
_abandoned_lock = threading.Lock()


def _abandon(claim: str) -> None:
    with _abandoned_lock:
        _ABANDONED[claim] = None
        if len(_ABANDONED) > _ABANDONED_KEPT:
            _ABANDONED.popitem(last=False)


def _abandoned(claim: str) -> bool:
    with _abandoned_lock:
        return claim in _ABANDONED


def key_ids(key_id: str, request_fingerprint: str) -> IdSource:
    """The ids a keyed request draws, the same each time it runs: its n-th new id is a name-
    based UUID of the key, the request and n (another body under the key: other ids)."""
    drawn = itertools.count()
    return lambda: uuid.uuid5(KEY_IDS, f"{key_id}/{request_fingerprint}/{next(drawn)}")


def run_once(
    app: HaoshangliangApplication,
    *,
    caller: str,
    key: str,
    request_fingerprint: str,
    execute: Callable[[], Answer],
) -> Answer:
    """Answer a keyed command: the first answer if the key stored it, else run ``execute``
    (which runs the command, its ``save`` deferred) and commit it under the key's claim."""
    store = store_for(app)
    key_id = hashlib.sha256(f"{caller}\n{key}".encode()).hexdigest()
    entry = store.get(key_id)
    base = 0
    if entry is not None:
        record = entry.record
        if record.state != "void" and record.fingerprint != request_fingerprint:
            raise IdempotencyKeyReusedError(key)
        if record.state == "done":
            return Answer(record.status, record.body.encode(), replayed=True)
        if record.state == "pending":
            if _in_log(app, record.events):
                with contextlib.suppress(Exception):  # the log says it; this only saves a read
                    store.put(key_id, _settled(record, "done"), entry.revision)
                return Answer(record.status, record.body.encode(), replayed=True)
            if entry.age < LEASE and not _abandoned(record.claim):
                raise IdempotencyKeyBusyError(int((LEASE - entry.age).total_seconds()) + 1)
        base = entry.revision
    with deferred_saves() as collected, ids_from(key_ids(key_id, request_fingerprint)):
        answer = execute()
    planned = tuple(PlannedEvent.of(event) for event in app.stored_events_of(collected))
    claim = KeyRecord(
        state="pending",
        fingerprint=request_fingerprint,
        status=answer.status,
        body=answer.body.decode(),
        events=planned,
        claim=uuid.uuid4().hex,
    )
    try:
        revision = store.put(key_id, claim, base)
    except KeyTakenError:
        raise IdempotencyKeyBusyError(int(LEASE.total_seconds())) from None
    except Exception:
        _abandon(claim.claim)  # it may be stored, but its events will never be
        raise
    try:
        app.save(*collected)
    except ResultUnknownError:
        raise  # the claim stays: a retry with the key reads the log and answers
    except Exception as e:
        if isinstance(e, IntegrityError) and _created_already(app, planned):
            # by another run of this request, whose claim lapsed while it was stalled
            with contextlib.suppress(Exception):
                store.put(key_id, _settled(claim, "done"), revision)
            return Answer(answer.status, answer.body, replayed=True)
        _abandon(claim.claim)
        with contextlib.suppress(Exception):  # nothing was stored: free the key
            store.put(key_id, _settled(claim, "void"), revision)
        raise
    with contextlib.suppress(Exception):  # if this is lost, a retry reads the log instead
        store.put(key_id, _settled(claim, "done"), revision)
    return answer


def _settled(record: KeyRecord, state: State) -> KeyRecord:
    return KeyRecord(
        state=state,
        fingerprint=record.fingerprint,
        status=record.status,
        body=record.body,
        events=record.events if state == "done" else (),
        claim=record.claim,
    )


def _created_already(app: HaoshangliangApplication, planned: tuple[PlannedEvent, ...]) -> bool:
    """Whether the aggregates this command creates are stored: their ids come from the key
    and the request, so only another run of this same request can have created them."""
    created = [event for event in planned if event.version == 1]
    return bool(created) and all(
        app.recorder.select_events(uuid.UUID(event.originator_id), lte=1) for event in created
    )


def _in_log(app: HaoshangliangApplication, planned: tuple[PlannedEvent, ...]) -> bool:
    """Whether the claim's events are stored, each at its version with its digest."""
    if not planned:
        return False
    for event in planned:
        stored = app.recorder.select_events(
            uuid.UUID(event.originator_id), gt=event.version - 1, lte=event.version
        )
        if not stored or PlannedEvent.of(stored[0]).digest != event.digest:
            return False
    return True
