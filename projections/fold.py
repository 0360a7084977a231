"""The rebuild's fold: a whole range of the log folded in memory, written once at the end."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from operator import itemgetter
from typing import Any

import duckdb
import pyarrow as pa

from projections.arrow_rows import insert_arrow, insert_table, keyed_arrow_table
from projections.changes import (
    DERIVED,
    REPLACED,
    Change,
    ColumnsSpec,
    Insert,
    MissingRowError,
    Replace,
    Rows,
    Update,
    check_widths,
)
from projections.people import ACTOR, NamedColumns
from projections.tables import DEFAULTS, KEYS


class Fold:
    """A whole range of the log folded in memory, for a target whose tables are empty.

    The rebuild's path. Nothing is read back from the database: every keyed row is created by
    an event of the range, so it lives in memory from its ``Insert`` to the end and is written
    once, by :meth:`finish`. Appended rows (facts such as participants) are written in chunks
    of ``flush_rows`` as Arrow tables, so memory stays bounded by the keyed rows. A ``Replace``
    drops the pending rows it names when they are written, and the already written ones (if
    any) by one ``DELETE`` per table and column at the next write, before its inserts.
    ``DERIVED`` columns are looked up in memory as the rows are folded.

    The caller holds one transaction around all of it, so the views and the position it writes
    with them commit together.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        columns: dict[str, list[str]],
        types: dict[str, list[str]],
        *,
        flush_rows: int = 400_000,
    ) -> None:
        self.con = con
        self.columns = columns
        self.types = types
        self.flush_rows = flush_rows
        self.rows: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in KEYS}
        self._blank = {t: {c: DEFAULTS[t].get(c) for c in cols} for t, cols in columns.items()}
        # In the schema's order, which is the order of the writes (a derived column's source
        # table first).
        self._unkeyed = tuple(t for t in columns if t not in KEYS)
        self._appended: dict[str, list[dict[str, Any]]] = {t: [] for t in self._unkeyed}
        self._events = _EventColumns()
        self._named = NamedColumns()
        self._person_acts: list[pa.Table] = []
        self._person_act_count = 0
        self._lookups: dict[str, list[tuple[str, str, str, dict[Any, dict[Any, Any]]]]] = {}
        """Per source table: (outer, inner, column, outer value → inner value → value)."""
        self._derive: dict[str, list[tuple[str, str, str, dict[Any, dict[Any, Any]]]]] = {}
        """Per table with derived columns: (column, outer, inner, the source's lookup)."""
        for table, derived in DERIVED.items():
            for column, (source, (outer, inner)) in derived.items():
                lookup: dict[Any, dict[Any, Any]] = {}
                self._lookups.setdefault(source, []).append((outer, inner, column, lookup))
                self._derive.setdefault(table, []).append((column, outer, inner, lookup))
        self._written: dict[tuple[str, str], set[Any]] = {key: set() for key in REPLACED}
        """Values of the ``REPLACED`` columns among the rows handed to the writer."""
        self._cuts: dict[tuple[str, str], dict[Any, int]] = {}
        """Per (table, column) a ``Replace`` named: value → how many of the table's pending
        rows there were at the latest such ``Replace`` (those before it with the value go)."""
        self._deletes: dict[tuple[str, str], set[Any]] = {}
        self._writer: ThreadPoolExecutor | None = None
        self._writes: list[Future[None]] = []

    def apply(self, change: Change, seq: int) -> None:
        """Fold one change; the effect of ``projections.batch.Batch.apply`` on an empty database."""
        if isinstance(change, Update):
            try:
                target = self.rows[change.table][change.key]
            except KeyError:
                msg = f"event {seq} updates {change.table} row {change.key}, which does not exist"
                raise MissingRowError(msg, seq) from None
            if change.sets:
                target |= change.sets
            for column, amount in change.add.items():
                target[column] += amount
            target["seq"] = seq
            if change.backdated and "backdated_entry" in target:
                target["backdated_entry"] = True
        elif isinstance(change, Insert):
            table = change.table
            row = {**self._blank[table], **change.row, "seq": seq}
            if table not in KEYS:
                if table in self._lookups or table in self._derive:
                    self._look_up(table, row)
                self._appended[table].append(row)
            else:
                self.rows[table][str(row[KEYS[table]])] = row
        elif isinstance(change, Rows):
            self._rows(change, seq)
        else:
            self._replace(change)

    def _rows(self, change: Rows, seq: int) -> None:
        table, blank = change.table, self._blank[change.table]
        if table in KEYS:
            raise TypeError(f"Rows of the keyed table {table}: one Insert each")
        rows = [{**blank, **row, "seq": seq} for row in change.rows]
        if table in self._lookups or table in self._derive:
            for row in rows:
                self._look_up(table, row)
        self._appended[table] += rows

    def set_columns(self, spec: ColumnsSpec, key: str, seq: int, event: Any) -> None:
        """What :meth:`apply` does with ``Update(spec.table, key, sets, spec.counters,
        event.backdated)``, ``sets`` being the ``spec.readers``' values of ``event`` and the
        ``spec.constants``: the rebuild's way for the events that set one row's columns."""
        table = spec.table
        try:
            target = self.rows[table][key]
        except KeyError:
            msg = f"event {seq} updates {table} row {key}, which does not exist"
            raise MissingRowError(msg, seq) from None
        for column, read in spec.readers:
            target[column] = read(event)
        if spec.constants:
            target.update(spec.constants)
        for column, amount in spec.counters.items():
            target[column] += amount
        target["seq"] = seq
        if event.backdated and "backdated_entry" in target:
            target["backdated_entry"] = True

    def _look_up(self, table: str, row: dict[str, Any]) -> None:
        """Remember what a ``DERIVED`` column will read from ``row``; fill ``row``'s own."""
        for outer, inner, column, lookup in self._lookups.get(table, ()):
            lookup.setdefault(row[outer], {})[row[inner]] = row[column]
        for column, outer, inner, lookup in self._derive.get(table, ()):
            row[column] = lookup.get(row[outer], {}).get(row[inner])

    def _replace(self, change: Replace) -> None:
        # Nothing is searched here: the pending rows are filtered once, when written.
        table, column = change.table, change.column
        cuts = self._cuts.setdefault((table, column), {})
        cuts[change.value] = len(self._appended[table])
        for outer, _, source_column, lookup in self._lookups.get(table, ()):
            if outer != column:
                msg = f"a Replace of {table} by {column} would stale {source_column} lookups"
                raise NotImplementedError(msg)
            lookup.pop(change.value, None)
        written = self._written.get((table, column))
        if written is None or change.value in written:
            self._deletes.setdefault((table, column), set()).add(change.value)

    def _kept(self, table: str) -> list[dict[str, Any]]:
        """The table's pending rows that no later ``Replace`` dropped."""
        rows = self._appended[table]
        for (replaced, column), cuts in self._cuts.items():
            if replaced == table and cuts:
                rows = [
                    row for position, row in enumerate(rows) if position >= cuts.get(row[column], 0)
                ]
        return rows

    def flush(self) -> None:
        """Write the pending appended rows (after deleting the written rows replaced since).

        The writing happens on the writer thread, in order, while the caller folds on: DuckDB
        runs the inserts without the GIL. Only that thread uses the connection until
        :meth:`finish` or :meth:`close` has waited for it.
        """
        deletes = [(t, c, sorted(v)) for (t, c), v in self._deletes.items()]
        appended = [(table, self._kept(table)) for table in self._unkeyed]
        for table, rows in appended:
            for (replaced, column), written in self._written.items():
                if replaced == table:
                    written.update(map(itemgetter(column), rows))
        self._submit(self._write, deletes, appended, self._events, self._named, self._person_acts)
        self._deletes = {}
        self._appended = {t: [] for t in self._unkeyed}
        self._cuts = {}
        self._events = _EventColumns()
        self._named = NamedColumns()
        self._person_acts = []
        self._person_act_count = 0

    def pending(self) -> int:
        """Appended rows held in memory, not yet handed to the writer."""
        people = len(self._events.ids) + len(self._named.persons) + self._person_act_count
        return sum(map(len, self._appended.values())) + people

    def index_people(
        self, ids: list[int], oids: list[str], tags: list[str], events: list[Any]
    ) -> None:
        """The ``person_acts`` rows of consecutive events (one page), kept as columns.

        The same rows as the live path's ``Insert``s (``projections.appliers._indexed``): the
        actor of every event, then each person a field names (``PEOPLE``, ``named_people``).
        No dict per row: the actors' rows are the page's own columns, a named person costs
        three list extensions, and the event's columns are picked by index when written.
        (``member_acts`` rows, a few per cent of the events, come through :meth:`apply`.)
        A page read by the rebuild's reader child comes with these rows made already
        (:meth:`add_person_acts`).
        """
        columns = self._events
        first = len(columns.ids)
        columns.ids += ids
        columns.oids += oids
        columns.tags += tags
        columns.actors += [event.actor.id for event in events]
        self._named.add(tags, events, first)

    def add_person_acts(self, rows: pa.Table) -> None:
        """``person_acts`` rows made elsewhere (``projections.people_reader``), as they are."""
        self._person_acts.append(rows)
        self._person_act_count += rows.num_rows

    def flush_if_full(self) -> None:
        """Flush once ``flush_rows`` appended rows are pending (the caller asks between pages)."""
        if self.pending() >= self.flush_rows:
            self.flush()

    def _write(
        self,
        deletes: list[tuple[str, str, list[Any]]],
        appended: list[tuple[str, list[dict[str, Any]]]],
        events: _EventColumns | None = None,
        named: NamedColumns | None = None,
        person_acts: list[pa.Table] | None = None,
    ) -> None:
        for table, column, values in deletes:
            self.con.execute(
                f"DELETE FROM {table} WHERE {column} IN (SELECT unnest(?::VARCHAR[]))", [values]
            )
        for table, rows in appended:
            columns, types = self.columns[table], self.types[table]
            insert_arrow(self.con, table, columns, types, rows, derived=True)
        if events is not None and events.ids:
            _insert_people(self.con, events, named or NamedColumns())
        if person_acts:
            made = pa.concat_tables(person_acts)  # noqa: F841 - read by DuckDB
            self.con.execute(
                "INSERT INTO person_acts "
                "SELECT person_id, relation, event_type, aggregate_id, seq FROM made"
            )

    def _submit(self, write: Callable[..., None], *args: Any) -> None:
        self._raise_failure()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hsl-fold-writer")
        self._writes.append(self._writer.submit(write, *args))

    def _raise_failure(self) -> None:
        while self._writes and self._writes[0].done():
            self._writes.pop(0).result()  # raises the writer's error here

    def finish(self) -> None:
        """Write everything still in memory: the appended rows, then every keyed row."""
        self.flush()
        # The keyed rows are made Arrow tables here while the writer inserts the previous one
        # (DuckDB inserts without the GIL): the rebuild's tail, nothing else left to overlap.
        for table, rows in self.rows.items():
            if rows:
                keyed = list(rows.values())
                check_widths(table, self.columns[table], keyed)
                whole = keyed_arrow_table(self.columns[table], self.types[table], keyed)
                self._submit(insert_table, self.con, table, whole)
            self.rows[table] = {}
        try:
            for write in self._writes:
                write.result()
        finally:
            self.close()

    def close(self) -> None:
        """Wait for the writer thread to let go of the connection (errors are dropped here)."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        self._writes.clear()


class _EventColumns:
    """Consecutive events' own columns, for their actors' ``person_acts`` rows."""

    __slots__ = ("actors", "ids", "oids", "tags")

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.oids: list[str] = []
        self.tags: list[str] = []
        self.actors: list[str] = []


def _insert_people(
    con: duckdb.DuckDBPyConnection, events: _EventColumns, named: NamedColumns
) -> None:
    """Write ``person_acts``: the actors' rows, then the named people's (two Arrow inserts)."""
    seq = pa.array(events.ids, type=pa.int64())
    oid = pa.array(events.oids, type=pa.string())
    tag = pa.array(events.tags, type=pa.string())
    actors = pa.Table.from_arrays(  # noqa: F841 - read by DuckDB
        [pa.array(events.actors, type=pa.string()), tag, oid, seq],
        names=["person_id", "event_type", "aggregate_id", "seq"],
    )
    con.execute(
        f"INSERT INTO person_acts SELECT person_id, '{ACTOR}', event_type, aggregate_id, seq "
        "FROM actors"
    )
    if not named.persons:
        return
    at = pa.array(named.positions, type=pa.int64())
    people = pa.Table.from_arrays(  # noqa: F841 - read by DuckDB
        [
            pa.array(named.persons, type=pa.string()),
            pa.array(named.relations, type=pa.string()),
            tag.take(at),
            oid.take(at),
            seq.take(at),
        ],
        names=["person_id", "relation", "event_type", "aggregate_id", "seq"],
    )
    con.execute("INSERT INTO person_acts SELECT * FROM people")


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused: a fold makes millions of short-lived objects
    and no cycles, and each collection would walk every row held in memory."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
