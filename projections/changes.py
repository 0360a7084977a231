"""Row changes, and a batch that folds them in memory and writes each table once.

Appliers describe what an event does as ``Insert``/``Update``/``Replace`` values. A ``Batch``
loads the rows a batch of events touches (one ``SELECT`` per table), applies the changes in
notification order in Python, then writes every touched row back with one ``DELETE`` and one
columnar ``INSERT … SELECT unnest(…)`` per table. The cost per batch is a handful of
statements, not one per event, and no ``UPDATE … WHERE id = ?`` scans a table per event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from operator import itemgetter
from typing import Any, Final, Protocol

import duckdb
import msgspec
import pyarrow as pa

from projections.people import ACTOR, NamedColumns

KEYS: Final[dict[str, str]] = {
    "rooms": "room_id",
    "topics": "topic_id",
    "consultations": "consultation_id",
    "motions": "motion_id",
    "outcomes": "outcome_id",
}
"""Tables with one row per aggregate (or motion), and the column that identifies it."""

DEFAULTS: Final[dict[str, Any]] = {
    "backdated_entry": False,
    "county_member_count": 0,
    "research_findings": 0,
    "opinion_count": 0,
    "dissent_count": 0,
    "votes_cast": 0,
    "objection_count": 0,
    "stalled": False,
    "stall_count": 0,
}
"""Column defaults of the DDL, for rows created in memory."""

DERIVED: Final[dict[str, dict[str, tuple[str, tuple[str, str]]]]] = {
    "attendees": {"role": ("participants", ("consultation_id", "person_id"))},
}
"""Columns not given by the appliers but read from the matching row of another table when the
row is written: table → column → (that table, the two columns both rows share). The live path
joins in the ``INSERT`` (:func:`insert_sql`); the rebuild's :class:`Fold` looks the value up in
memory. ``attendees.role`` is the attendee's role on the consultation's confirmed participant
list (the procedure confirms the list before holding, never after, and an attendee is on it),
so the member-participation query needs no join. The other table's rows are written first
(``TABLES`` order)."""

REPLACED: Final[frozenset[tuple[str, str]]] = frozenset({("participants", "consultation_id")})
"""(table, column) pairs the appliers' ``Replace`` names: the fold remembers which values it
has written, so that a ``Replace`` deletes from the database only when there is something."""


def insert_sql(table: str, columns: Sequence[str], source: str) -> str:
    """``INSERT`` of ``table``'s rows from ``source`` (which lacks the derived columns)."""
    derived = DERIVED.get(table, {})
    if not derived:
        return f"INSERT INTO {table} SELECT * FROM {source}"
    given = [c for c in columns if c not in derived]
    values = [f"s.{c}" for c in given]
    joins = []
    for i, (column, (other, (outer, inner))) in enumerate(derived.items()):
        values.append(f"d{i}.{column}")
        joins.append(
            f"LEFT JOIN {other} d{i} ON d{i}.{outer} = s.{outer} AND d{i}.{inner} = s.{inner}"
        )
    return (
        f"INSERT INTO {table} ({', '.join([*given, *derived])}) "
        f"SELECT {', '.join(values)} FROM {source} s {' '.join(joins)}"
    )


def given_columns(table: str, columns: Sequence[str]) -> list[str]:
    """The columns of ``table`` that its rows carry (all but the derived ones)."""
    derived = DERIVED.get(table, {})
    return [c for c in columns if c not in derived]


# msgspec Structs rather than dataclasses: an applier makes one or more per event, and a
# frozen dataclass's __init__ (object.__setattr__ per field) cost six times as much.


class Insert(msgspec.Struct, frozen=True):
    """A new row (a new aggregate's row in a keyed table, or an appended fact)."""

    table: str
    row: dict[str, Any]


class Update(msgspec.Struct, frozen=True):
    """Set columns of the keyed row ``key``; ``add`` increments counters."""

    table: str
    key: str
    sets: dict[str, Any] = {}
    add: dict[str, int] = {}
    backdated: bool = False


class Replace(msgspec.Struct, frozen=True):
    """Drop the appended rows of ``table`` whose ``column`` is ``value``; a new list follows."""

    table: str
    column: str
    value: str


class Rows(msgspec.Struct, frozen=True):
    """Several new rows of one appended table (a participant list, the attendees): the same
    as one ``Insert`` per row, in order, made and folded as one change."""

    table: str
    rows: list[dict[str, Any]]


Change = Insert | Update | Replace | Rows


class ColumnsSpec(Protocol):
    """An update that sets columns of one row (``projections.appliers.Updater``)."""

    table: str
    readers: list[tuple[str, Callable[[Any], Any]]]
    constants: dict[str, Any]
    counters: dict[str, int]


class MissingRowError(LookupError):
    """An event updates a row that no earlier event created; ``seq`` names the event."""

    def __init__(self, message: str, seq: int) -> None:
        super().__init__(message)
        self.seq = seq


class Batch:
    """The changes of one batch, folded in memory and written table by table."""

    def __init__(self, con: duckdb.DuckDBPyConnection, columns: dict[str, list[str]]) -> None:
        self.con = con
        self.columns = columns
        self.rows: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in KEYS}
        self.existing: dict[str, set[str]] = {t: set() for t in KEYS}
        self.appended: dict[str, list[dict[str, Any]]] = {}
        self.replaced: list[Replace] = []

    def load(self, changes: list[Change]) -> None:
        """Read the stored rows the changes will update, one query per table."""
        wanted: dict[str, set[str]] = {t: set() for t in KEYS}
        for change in changes:
            if isinstance(change, Update):
                wanted[change.table].add(change.key)
        for table, keys in wanted.items():
            if not keys:
                continue
            key = KEYS[table]
            cursor = self.con.execute(
                f"SELECT * FROM {table} WHERE {key} IN (SELECT unnest(?::VARCHAR[]))",
                [sorted(keys)],
            )
            names = [d[0] for d in cursor.description or ()]
            for values in cursor.fetchall():
                row = dict(zip(names, values, strict=True))
                self.rows[table][row[key]] = row
                self.existing[table].add(row[key])

    def apply(self, change: Change, seq: int) -> None:
        """Fold one change into the batch's rows."""
        if isinstance(change, Insert):
            row = {c: DEFAULTS.get(c) for c in self.columns[change.table]}
            row |= change.row
            row["seq"] = seq
            if change.table in KEYS:
                self.rows[change.table][str(row[KEYS[change.table]])] = row
            else:
                self.appended.setdefault(change.table, []).append(row)
        elif isinstance(change, Update):
            try:
                target = self.rows[change.table][change.key]
            except KeyError:
                msg = f"event {seq} updates {change.table} row {change.key}, which does not exist"
                raise MissingRowError(msg, seq) from None
            target |= change.sets
            for column, amount in change.add.items():
                target[column] += amount
            target["seq"] = seq
            if "backdated_entry" in target:
                target["backdated_entry"] = target["backdated_entry"] or change.backdated
        elif isinstance(change, Rows):
            for row in change.rows:
                self.apply(Insert(change.table, row), seq)
        else:
            pending = self.appended.get(change.table, [])
            pending[:] = [r for r in pending if r[change.column] != change.value]
            self.replaced.append(change)

    def write(self) -> None:
        """Write every touched row: delete the old versions, insert the new, per table."""
        for replace in self.replaced:
            self.con.execute(
                f"DELETE FROM {replace.table} WHERE {replace.column} = ?", [replace.value]
            )
        for table, key in KEYS.items():
            stale = sorted(self.existing[table])
            if stale:
                self.con.execute(
                    f"DELETE FROM {table} WHERE {key} IN (SELECT unnest(?::VARCHAR[]))", [stale]
                )
            self._insert(table, list(self.rows[table].values()))
        for table in self.columns:  # the schema's order: a derived column's source first
            if table not in KEYS and self.appended.get(table):
                self._insert(table, self.appended[table])

    def _insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        """One statement per table: each column passed as one list, zipped back by ``unnest``."""
        if not rows:
            return
        columns = given_columns(table, self.columns[table])
        lists = [[row[c] for row in rows] for c in columns]
        select = ", ".join(f"unnest(${i}) AS {c}" for i, c in enumerate(columns, start=1))
        self.con.execute(insert_sql(table, self.columns[table], f"(SELECT {select})"), lists)


ARROW_TYPES: Final[dict[str, Any]] = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "SMALLINT": pa.int16(),
    "BOOLEAN": pa.bool_(),
    "DOUBLE": pa.float64(),
    "TIMESTAMP": pa.timestamp("us"),
    "DATE": pa.date32(),
}
"""DuckDB column types and the Arrow type their Python values convert to (others: inferred)."""


def arrow_table(
    columns: Sequence[str], types: Sequence[str], rows: Sequence[dict[str, Any]]
) -> pa.Table:
    """``rows`` as one Arrow table of ``columns`` (each column converted once, in C)."""
    # Column by column, the values picked by map(itemgetter) in C (4x faster than zip(*rows)).
    arrays = [
        pa.array(list(map(itemgetter(column), rows)), type=ARROW_TYPES.get(kind))
        for column, kind in zip(columns, types, strict=True)
    ]
    return pa.Table.from_arrays(arrays, names=list(columns))


def keyed_arrow_table(
    columns: Sequence[str], types: Sequence[str], rows: Sequence[dict[str, Any]]
) -> pa.Table:
    """:func:`arrow_table` for the fold's keyed rows, read once each.

    Those rows hold exactly their table's columns, in order (each made from the blank row),
    and are made over the whole fold, far apart in a big heap: picking a column at a time
    read every row once per column, a cache miss each time (~0.8 s of a 1M-event rebuild's
    tail). Transposed by one pass over the rows instead, once every row is checked to hold
    the columns in order; otherwise picked by name as :func:`arrow_table` does.
    """
    names = tuple(columns)
    if not rows or not all(tuple(row) == names for row in rows):  # ~0.5 µs a row
        return arrow_table(columns, types, rows)
    values = list(zip(*map(dict.values, rows), strict=True))
    arrays = [
        pa.array(column, type=ARROW_TYPES.get(kind))
        for column, kind in zip(values, types, strict=True)
    ]
    return pa.Table.from_arrays(arrays, names=list(names))


def insert_arrow(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[str],
    types: Sequence[str],
    rows: Sequence[dict[str, Any]],
    *,
    derived: bool = False,
) -> None:
    """Append ``rows`` to ``table`` as one Arrow table.

    ``derived``: the rows already hold the ``DERIVED`` columns (the fold's); otherwise they
    are joined in by the ``INSERT``.
    """
    if not rows:
        return
    if derived:
        insert_table(con, table, arrow_table(columns, types, rows))
        return
    joined = DERIVED.get(table, {})
    pairs = [(c, k) for c, k in zip(columns, types, strict=True) if c not in joined]
    chunk = arrow_table([c for c, _ in pairs], [k for _, k in pairs], rows)  # noqa: F841
    con.execute(insert_sql(table, columns, "chunk"))


def insert_table(con: duckdb.DuckDBPyConnection, table: str, whole: pa.Table) -> None:
    """Append an Arrow table holding every column of ``table``, in order."""
    con.execute(f"INSERT INTO {table} SELECT * FROM whole")


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
        self._blank = {t: {c: DEFAULTS.get(c) for c in cols} for t, cols in columns.items()}
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
        """Fold one change; same effect as :meth:`Batch.apply` on an empty database."""
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
                whole = keyed_arrow_table(
                    self.columns[table], self.types[table], list(rows.values())
                )
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
