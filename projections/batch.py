"""The live path's batch: row changes folded in memory, then each table written once.

A ``Batch`` loads the rows a batch of events touches (one ``SELECT`` per table), applies the
changes in notification order in Python, then writes every touched row back with one
``DELETE`` and one columnar ``INSERT … SELECT unnest(…)`` per table. The cost per batch is a
handful of statements, not one per event, and no ``UPDATE … WHERE id = ?`` scans a table per
event.
"""

from __future__ import annotations

from typing import Any

import duckdb

from projections.changes import (
    Change,
    Insert,
    MissingRowError,
    Replace,
    Rows,
    Update,
    check_widths,
    given_columns,
    insert_sql,
)
from projections.tables import DEFAULTS, KEYS


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
            defaults = DEFAULTS[change.table]
            row = {c: defaults.get(c) for c in self.columns[change.table]}
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
        check_widths(table, self.columns[table], rows)
        columns = given_columns(table, self.columns[table])
        lists = [[row[c] for row in rows] for c in columns]
        select = ", ".join(f"unnest(${i}) AS {c}" for i, c in enumerate(columns, start=1))
        self.con.execute(insert_sql(table, self.columns[table], f"(SELECT {select})"), lists)
