"""Feeding the views: batches of notifications applied with their tracking position, atomically.

The guarantee (the view row and the tracking position in one DuckDB transaction): a batch's
row changes and the new tracking position commit together or not at all, so a crash between
two batches resumes exactly where the last commit left off, and a crash inside one leaves
nothing of it. This is eventsourcing's ``ProjectionRunner`` guarantee, done by hand because
the view and the tracking table live in one DuckDB file that the runner owns.

Bulk: a batch's changes are folded in memory (``projections.batch.Batch``) and each touched
table is written once: one ``DELETE`` of the old rows, one columnar ``INSERT``.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Generator, Sequence
from typing import Any, Final
from uuid import UUID

import duckdb
import structlog
from eventsourcing.persistence import ApplicationRecorder, Notification, OperationalError

from events.common import BaseEvent
from events.jetstream.bulk_reader import CHILD, PAGE, PROCESS_THRESHOLD, Page, read_pages
from events.jetstream.quarantine import (
    FOREIGN_TOPIC,
    QuarantineCounter,
    Quarantined,
    payload_verdict,
    short,
)
from events.jetstream.stream_layout import aggregate_token
from projections.appliers import APPLIERS, TABLE_APPLIERS, UPDATERS, member_act
from projections.batch import Batch
from projections.changes import Change, Insert, MissingRowError
from projections.fold import Fold, collector_paused
from projections.page_decoding import decode_page
from projections.people_reader import person_acts
from projections.schema import TABLES, create_schema, record_quarantined, tracking_position
from projections.tables import COLUMN_NAMES, COLUMN_TYPES

DEFAULT_BATCH: Final = 5000

STALL_PAUSE: Final = (0.2, 5.0)
"""Seconds between tries of a batch the views file could not take: the first, the longest."""
_FULL_DISK_WORDS: Final = ("no space left", "disk quota", "could not write file", "disk full")

log = structlog.get_logger(__name__)


def views_write_failed(error: duckdb.Error) -> bool:
    """Whether DuckDB refused a write for want of space (the batch was rolled back whole)."""
    text = str(error).lower()
    return any(word in text for word in _FULL_DISK_WORDS)


class ProjectionError(RuntimeError):
    """The projection cannot apply an event; names the sequence so an operator can look."""


class UnknownEventError(ProjectionError):
    """An event type the projection does not know: it stops instead of skipping the event."""

    def __init__(self, sequence: int, event_type: str) -> None:
        super().__init__(
            f"event {sequence} has type {event_type!r}, which the projection does not know; "
            "stopped before applying its batch (upgrade the projector, then restart)"
        )
        self.sequence = sequence
        self.event_type = event_type


Hook = Callable[[int], None]
"""Test-only: called with an event's sequence after its changes are folded, inside the
transaction, so a test can crash the projector in the middle of a batch."""


class Projector:
    """Applies an application's notifications to the DuckDB views, exactly once."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        recorder: ApplicationRecorder,
        application_name: str,
        *,
        after_change: Hook | None = None,
        on_stall: Callable[[str | None], None] | None = None,
    ) -> None:
        self.con = con
        self.recorder = recorder
        self.application_name = application_name
        self._after_change = after_change
        self._on_stall = on_stall
        self.stalled: str | None = None
        """Why the views file takes no batch now (a full disk), while following; else None."""
        create_schema(con)
        self._columns = {table: COLUMN_NAMES[table] for table in TABLES}
        self._types = {table: COLUMN_TYPES[table] for table in TABLES}
        self.process_threshold = PROCESS_THRESHOLD
        """Catch-ups of at least this many events read the log in a child process."""
        self.position = tracking_position(con, application_name)
        layout = getattr(recorder, "layout", None)
        self.stream = str(getattr(layout, "stream", application_name))
        """The log's stream, as the ``quarantine`` table names it."""
        self._prefix = str(getattr(layout, "prefix", f"hsl.{self.stream}"))
        self.quarantine = QuarantineCounter("projector")
        """The messages this projector skipped (also rows of the ``quarantine`` table)."""
        self._refused: dict[int, str] = {}
        """Events found to update a row no earlier event created, and why: quarantined."""

    # --- one batch ------------------------------------------------------------------------

    def apply(self, notifications: Sequence[Notification]) -> int:
        """Apply the not-yet-applied ``notifications`` and the new position in one transaction.

        Everything is decoded first. A message that is not an event
        (``events.jetstream.quarantine``) is skipped: its row in ``quarantine`` commits with the
        position that moves past it.
        """
        fresh = [n for n in notifications if n.id > self.position]
        if not fresh:
            return 0
        while True:
            try:
                return self._apply(fresh)
            except MissingRowError as e:  # rolled back: apply the batch again without it
                self._refuse(e)

    def _refuse(self, error: MissingRowError) -> None:
        """Quarantine the event that updates a row no earlier event created (a well-formed
        event on an aggregate that never began: ``foreign``), or give up if it was already."""
        if error.seq in self._refused:
            raise ProjectionError(str(error)) from error
        self._refused[error.seq] = short(f"its aggregate has no such row: {error}")

    def _apply(self, fresh: Sequence[Notification]) -> int:
        changes, skipped = self._changes(fresh)
        last = fresh[-1].id
        batch = Batch(self.con, self._columns)
        self.con.execute("BEGIN TRANSACTION")
        try:
            batch.load([change for _, change in changes])
            for seq, change in changes:
                batch.apply(change, seq)
                if self._after_change is not None:
                    self._after_change(seq)
            batch.write()
            record_quarantined(self.con, skipped)
            self.con.execute(
                "DELETE FROM tracking WHERE application_name = ?", [self.application_name]
            )
            self.con.execute("INSERT INTO tracking VALUES (?, ?)", [self.application_name, last])
            self.con.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        self.position = last
        for found in skipped:
            self.quarantine.note(found)
        return len(fresh)

    def _rollback(self) -> None:
        # A failed COMMIT (a full disk) has ended the transaction already; keep its error.
        with contextlib.suppress(duckdb.Error):
            self.con.execute("ROLLBACK")

    def _apply_riding_out(
        self, notifications: Sequence[Notification], stop: threading.Event | None
    ) -> int:
        """``apply``, for a follower: a batch the views file cannot take for want of space is
        rolled back whole and tried again, pausing longer each time, until it is written or
        ``stop`` is set; the service goes on (reads answer the views as they were)."""
        if stop is None:
            return self.apply(notifications)
        pause = STALL_PAUSE[0]
        while True:
            try:
                applied = self.apply(notifications)
            except duckdb.Error as e:
                if not views_write_failed(e):
                    raise
                self._stall(f"the views file cannot be written: {e}")
                if stop.wait(pause):
                    return 0
                pause = min(pause * 2, STALL_PAUSE[1])
                continue
            if self.stalled is not None:
                self._stall(None)
            return applied

    def _stall(self, why: str | None) -> None:
        if why is not None and self.stalled is None:
            log.warning("views not updated; retrying", position=self.position, reason=why)
        elif why is None:
            log.info("views updated again", position=self.position)
        self.stalled = why
        if self._on_stall is not None:
            self._on_stall(why)

    def _changes(
        self, notifications: Sequence[Notification]
    ) -> tuple[list[tuple[int, Change]], list[Quarantined]]:
        """Decode a batch and list its row changes, in notification order, and what it skips."""
        changes: list[tuple[int, Change]] = []
        skipped: list[Quarantined] = []
        for n in notifications:
            oid = str(n.originator_id)
            event = self.verdict(n.id, oid, n.topic, n.state)
            if isinstance(event, Quarantined):
                skipped.append(event)
                continue
            if n.topic not in APPLIERS:  # pragma: no cover - every event type has an applier
                raise UnknownEventError(n.id, n.topic)
            changes += [(n.id, change) for change in APPLIERS[n.topic](oid, event)]
        return changes, skipped

    def verdict(self, seq: int, originator_id: str, topic: str, state: bytes) -> Any:
        """The event a notification holds, or the :class:`Quarantined` it is."""
        refused = self._refused.get(seq)
        found = payload_verdict(topic, state) if refused is None else ("foreign", refused)
        if isinstance(found, BaseEvent):
            return found
        if topic.startswith(FOREIGN_TOPIC):  # the reader kept the subject's token, or subject
            token = originator_id
        else:
            token = aggregate_token(_uuid_or_text(originator_id))
        subject = token if "." in token else f"{self._prefix}.events.{token}"
        return Quarantined(self.stream, seq, subject, *found)

    # --- an empty target: the rebuild's path ------------------------------------------------

    def fold_all(
        self,
        until: int,
        *,
        page: int = PAGE,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Apply everything up to ``until`` to empty views in **one** transaction.

        For a file nobody else uses (the rebuild's): the log is read by a child process while
        this one decodes and folds in memory (:class:`projections.fold.Fold`), the rows are
        written as Arrow tables, and the views and the new position commit together at the end.
        A failure anywhere rolls all of it back. Python's cyclic garbage collector is paused
        meanwhile: the fold creates millions of short-lived objects and no cycles, and each
        collection would walk every row held in memory.
        """
        if self.position != 0:
            msg = f"fold_all needs empty views; these are at event {self.position}"
            raise ProjectionError(msg)
        while True:
            try:
                return self._fold_all(until, page, progress)
            except MissingRowError as e:  # rolled back: fold again without that event
                self._refuse(e)

    def _fold_all(self, until: int, page: int, progress: Callable[[int], None] | None) -> int:
        fold = Fold(self.con, self._columns, self._types)
        applied = 0
        skipped: list[Quarantined] = []
        with collector_paused():
            self.con.execute("BEGIN TRANSACTION")
            try:
                for chunk in self._pages(1, until, page, child=PEOPLE_READER):
                    skipped += self._fold_page(fold, chunk)
                    fold.flush_if_full()
                    applied += len(chunk)
                    last = chunk.ids[-1]
                    if progress is not None:
                        progress(last)
                if applied:
                    fold.finish()
                    record_quarantined(self.con, skipped)
                    self.con.execute(
                        "INSERT INTO tracking VALUES (?, ?)", [self.application_name, last]
                    )
                self.con.execute("COMMIT")
            except BaseException:
                fold.close()
                self.con.execute("ROLLBACK")
                raise
        if applied:
            self.position = last
        for found in skipped:
            self.quarantine.note(found)
        return applied

    def _fold_page(self, fold: Fold, chunk: Page) -> list[Quarantined]:
        """Fold one page: its events decoded (all at once when they can be), then applied.

        The tables' changes go through ``fold.apply`` event by event, in order; the people
        index (``person_acts``) is added as columns for the whole page, or as the rebuild's
        reader child made it (``projections.people_reader``). Returns what the page skips.
        """
        ids, oids, tags = chunk.ids, chunk.originator_ids, chunk.topics
        refused = self._refused and not self._refused.keys().isdisjoint(ids)
        events = None if refused else decode_page(chunk)
        skipped: list[Quarantined] = []
        # The reader child's person_acts rows, taken only if every payload is current.
        annex = chunk.annex if events is not None else None
        if annex is not None:
            fold.add_person_acts(person_acts(annex))
        if events is None:  # something to upcast or to skip: one by one, in order
            verdicts = [self.verdict(*row) for row in zip(
                ids, oids, tags, chunk.states, strict=True)]  # fmt: skip
            skipped = [v for v in verdicts if isinstance(v, Quarantined)]
            if skipped:
                kept = [i for i, v in enumerate(verdicts) if not isinstance(v, Quarantined)]
                ids, oids, tags = [ids[i] for i in kept], [oids[i] for i in kept], [
                    tags[i] for i in kept]  # fmt: skip
                verdicts = [verdicts[i] for i in kept]
            events = verdicts
        apply, hook, appliers = fold.apply, self._after_change, TABLE_APPLIERS
        updaters, set_columns = UPDATERS, fold.set_columns
        for seq, oid, tag, event in zip(ids, oids, tags, events, strict=True):
            updater = updaters.get(tag)
            if updater is not None:  # one row's columns: no Update made
                key = oid if updater.key is None else updater.key(event)
                set_columns(updater, key, seq, event)
                if hook is not None:
                    hook(seq)
            else:
                for change in appliers[tag](oid, event):
                    apply(change, seq)
                    if hook is not None:
                        hook(seq)
            if event.actor.role == "cppcc_member":
                act = member_act(tag, oid, event)
                assert act is not None
                apply(Insert("member_acts", act), seq)
        if annex is None:
            fold.index_people(ids, oids, tags, events)
        return skipped

    def _pages(
        self, start: int, stop: int, page: int, child: str = CHILD
    ) -> Generator[Page, None, None]:
        return read_pages(
            self.recorder,
            start,
            stop,
            page=page,
            process_threshold=self.process_threshold,
            child=child,
        )

    # --- reading the log ------------------------------------------------------------------

    def catch_up(
        self,
        batch_size: int = DEFAULT_BATCH,
        *,
        until: int | None = None,
        progress: Callable[[int], None] | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Apply everything stored after the position (up to ``until``); returns the count.

        ``stop`` ends it between two batches (a long catch-up still answers SIGTERM).
        """
        applied = 0
        if until is None:
            until = self.recorder.max_notification_id() or 0
        # One reader for the whole range; its pages are cut into batches of ``batch_size``.
        pages = self._pages(self.position + 1, until, max(batch_size, 1))
        try:
            for chunk in pages:
                notifications = chunk.notifications()
                for first in range(0, len(notifications), batch_size):
                    if stop is not None and stop.is_set():
                        return applied
                    batch = notifications[first : first + batch_size]
                    applied += self._apply_riding_out(batch, stop)
                    if progress is not None:
                        progress(self.position)
        finally:
            pages.close()  # stops a reader process still running
        return applied

    def follow(
        self,
        stop: threading.Event,
        batch_size: int = DEFAULT_BATCH,
        *,
        idle: float = 0.2,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        """Catch up, then apply new events as the log delivers them, until ``stop`` is set.

        A reader thread drains the recorder's subscription into a queue; this thread takes
        whatever has arrived (up to ``batch_size``) and applies it as one transaction. While
        the log does not answer (NATS restarting, a cluster electing a leader) it waits,
        longer each time, and follows again from its position: the views stay as they were
        and say why they are behind.
        """
        pause = STALL_PAUSE[0]
        while not stop.is_set():
            try:
                self._follow_once(stop, batch_size, idle=idle, on_batch=on_batch)
                return
            except (OperationalError, ProjectionError) as e:
                cause = e.__cause__ if isinstance(e, ProjectionError) else e
                if not isinstance(cause, OperationalError):
                    raise
                self._stall(f"the event log (NATS) does not answer: {cause}")
                if stop.wait(pause):
                    return
                pause = min(pause * 2, STALL_PAUSE[1])

    def _follow_once(
        self,
        stop: threading.Event,
        batch_size: int,
        *,
        idle: float,
        on_batch: Callable[[int], None] | None,
    ) -> None:
        self.catch_up(batch_size, stop=stop, progress=on_batch)
        if self.stalled is not None and not stop.is_set():
            self._stall(None)  # the log answered and the views took what it held
        if stop.is_set():
            return
        arrived: queue.Queue[Notification | None] = queue.Queue()
        failure: list[BaseException] = []

        with self.recorder.subscribe(gt=self.position) as subscription:

            def read() -> None:
                try:
                    for notification in subscription:
                        arrived.put(notification)
                except BaseException as e:  # handed to the applying thread
                    failure.append(e)
                finally:
                    arrived.put(None)

            reader = threading.Thread(target=read, name="hsl-projection-reader", daemon=True)
            reader.start()
            try:
                while not stop.is_set():
                    try:
                        first = arrived.get(timeout=idle)
                    except queue.Empty:
                        continue
                    batch, ended = _drain(arrived, first, batch_size)
                    if batch and batch[0].id > self.position + 1:
                        # Never skip: fetch anything the subscription did not hand over.
                        self.catch_up(batch_size, until=batch[0].id - 1, stop=stop)
                    if batch:
                        self._apply_riding_out(batch, stop)
                        if on_batch is not None:
                            on_batch(self.position)
                    if ended:
                        if failure:
                            raise ProjectionError("the log subscription failed") from failure[0]
                        break
            finally:
                subscription.stop()
                reader.join(timeout=5)


def _drain(
    arrived: queue.Queue[Notification | None], first: Notification | None, limit: int
) -> tuple[list[Notification], bool]:
    """What has arrived so far (at most ``limit``), and whether the subscription ended."""
    batch: list[Notification] = []
    item = first
    while True:
        if item is None:
            return batch, True
        batch.append(item)
        if len(batch) >= limit:
            return batch, False
        try:
            item = arrived.get_nowait()
        except queue.Empty:
            return batch, False


PEOPLE_READER: Final = "projections.people_reader"
"""The rebuild's reader child: reads the log and makes each page's ``person_acts`` rows."""


def _uuid_or_text(text: str) -> UUID | str:
    """An aggregate id as a notification gives it as text: a UUID's, or a string id."""
    try:
        return UUID(text)
    except ValueError:
        return text
