"""Row changes: what an applier says an event does to the views' tables.

Appliers (``projections.appliers``) describe an event's effect as ``Insert``/``Update``/
``Replace``/``Rows`` values; the live path folds them by :class:`projections.batch.Batch`, the
rebuild by :class:`projections.fold.Fold`. Both write each table once per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

import msgspec

DERIVED: Final[dict[str, dict[str, tuple[str, tuple[str, str]]]]] = {
    "attendees": {"role": ("participants", ("consultation_id", "person_id"))},
}
"""Columns not given by the appliers but read from the matching row of another table when the
row is written: table → column → (that table, the two columns both rows share). The live path
joins in the ``INSERT`` (:func:`insert_sql`); the rebuild's ``projections.fold.Fold`` looks
the value up in memory. ``attendees.role`` is the attendee's role on the consultation's
confirmed participant list (the procedure confirms the list before holding, never after, and
an attendee is on it), so the member-participation query needs no join. The other table's
rows are written first (``TABLES`` order)."""

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
    """An update that sets columns of one row (``projections.updater.Updater``)."""

    table: str
    readers: list[tuple[str, Callable[[Any], Any]]]
    constants: dict[str, Any]
    counters: dict[str, int]


class MissingRowError(LookupError):
    """An event updates a row that no earlier event created; ``seq`` names the event."""

    def __init__(self, message: str, seq: int) -> None:
        super().__init__(message)
        self.seq = seq


class UndeclaredColumnError(LookupError):
    """A row change names a column its table does not declare (``projections.tables``): a
    misspelt column stops the projection instead of being dropped."""


def check_widths(table: str, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    """Raise :class:`UndeclaredColumnError` if a row holds a column ``table`` does not have.

    Every row is made from its table's blank row (or read from the table), so a row with more
    keys than the table has columns carries a column an applier misspelt; writing would drop
    it by picking the declared columns. One ``len`` per row, in C.
    """
    if not rows or max(map(len, rows)) <= len(columns):
        return
    declared = set(columns)
    for row in rows:
        extra = [column for column in row if column not in declared]
        if extra:
            msg = (
                f"event {row.get('seq')} writes {table}.{extra[0]}, a column the table does "
                "not declare (projections.tables)"
            )
            raise UndeclaredColumnError(msg)
