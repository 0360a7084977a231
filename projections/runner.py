"""Feeding the views: batches of notifications applied with their tracking position, atomically.

The guarantee (DESIGN.md, "view row and tracking position in one DuckDB transaction"): a batch's
row changes and the new tracking position commit together or not at all, so a crash between
two batches resumes exactly where the last commit left off, and a crash inside one leaves
nothing of it. This is eventsourcing's ``ProjectionRunner`` guarantee, done by hand because
the view and the tracking table live in one DuckDB file that the runner owns.

Bulk: a batch's changes are folded in memory (``projections.changes.Batch``) and each touched
table is written once: one ``DELETE`` of the old rows, one columnar ``INSERT``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import Final

import duckdb
import msgspec
from eventsourcing.persistence import ApplicationRecorder, Notification

from events.codec import decode, tag_of
from projections.appliers import APPLIERS, changes_for
from projections.changes import Batch, Change, MissingRowError
from projections.schema import TABLES, create_schema, tracking_position

DEFAULT_BATCH: Final = 5000


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
    ) -> None:
        self.con = con
        self.recorder = recorder
        self.application_name = application_name
        self._after_change = after_change
        create_schema(con)
        self._columns = {table: _columns(con, table) for table in TABLES}
        self.position = tracking_position(con, application_name)

    # --- one batch ------------------------------------------------------------------------

    def apply(self, notifications: Sequence[Notification]) -> int:
        """Apply the not-yet-applied ``notifications`` and the new position in one transaction.

        Everything is decoded first: an unknown type or a payload that does not decode raises
        before the transaction starts, so neither the views nor the tracking change.
        """
        fresh = [n for n in notifications if n.id > self.position]
        if not fresh:
            return 0
        changes = self._changes(fresh)
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
            self.con.execute(
                "DELETE FROM tracking WHERE application_name = ?", [self.application_name]
            )
            self.con.execute("INSERT INTO tracking VALUES (?, ?)", [self.application_name, last])
            self.con.execute("COMMIT")
        except MissingRowError as e:
            self.con.execute("ROLLBACK")
            raise ProjectionError(str(e)) from e
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.position = last
        return len(fresh)

    def _changes(self, notifications: Sequence[Notification]) -> list[tuple[int, Change]]:
        """Decode a batch and list its row changes, in notification order."""
        changes: list[tuple[int, Change]] = []
        for n in notifications:
            if n.topic not in APPLIERS:
                raise UnknownEventError(n.id, n.topic)
            try:
                event = decode(n.state)
            except msgspec.MsgspecError as e:
                msg = f"event {n.id} ({n.topic}) does not decode: {e}"
                raise ProjectionError(msg) from e
            if tag_of(event) != n.topic:
                msg = f"event {n.id} is stored as {n.topic!r} but its payload is {tag_of(event)!r}"
                raise ProjectionError(msg)
            changes += [(n.id, change) for change in changes_for(str(n.originator_id), event)]
        return changes

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
        while (until is None or self.position < until) and not (stop and stop.is_set()):
            batch = self.recorder.select_notifications(
                start=self.position + 1, limit=batch_size, stop=until
            )
            if not batch:
                break
            applied += self.apply(batch)
            if progress is not None:
                progress(self.position)
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
        whatever has arrived (up to ``batch_size``) and applies it as one transaction.
        """
        self.catch_up(batch_size, stop=stop, progress=on_batch)
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
                        self.catch_up(batch_size, until=batch[0].id - 1)
                    if batch:
                        self.apply(batch)
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


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """A table's columns in their stored order (the order ``INSERT … VALUES`` expects)."""
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND schema_name = 'main' "
        "ORDER BY column_index",
        [table],
    ).fetchall()
    return [str(name) for (name,) in rows]
