"""Every applier's writes checked against the tables' declaration, when the appliers load.

A misspelt column used to be dropped without a word: ``Update("topics", id, {"statsu": …})``
wrote nothing and the position advanced past the event. So ``projections.appliers`` calls
:func:`check_appliers` on its own map at import: each applier is run on sample events of its
type (one per value of the widest ``Literal`` field, optional fields alternately set and
``None``, every list holding one item), and every change it makes must name a declared table
(``projections.tables``), declared columns with values of their types, and every required
column of a new row. A failure names the table, the column, the event type and the applier.

What samples cannot reach (a column written only for some other value) is still not dropped:
the writers refuse a row with an undeclared column (``projections.changes.check_widths``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, Final
from uuid import UUID

import msgspec.inspect as mi

from events.codec import EVENT_TYPES
from projections.changes import DERIVED, Change, Insert, Replace, Rows, Update
from projections.tables import COLUMNS, INTEGER, KEYS, Column
from projections.updater import Applier


class WriteCheckError(LookupError):
    """An applier writes something the tables do not declare (found when the module loads)."""


_PYTHON_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "VARCHAR": (str,),
    "BIGINT": (int,),
    "INTEGER": (int,),
    "BOOLEAN": (bool,),
    "TIMESTAMP": (datetime,),
    "DATE": (date,),
}
"""The Python values DuckDB stores in each declared type (checked as below)."""

_DECLARED: Final[dict[str, dict[str, Column]]] = {
    table: {column.name: column for column in columns} for table, columns in COLUMNS.items()
}

_SAMPLE_TIME: Final = datetime(2024, 3, 1, 8, 30, tzinfo=UTC)
_SAMPLE_ID: Final = "00000000-0000-4000-8000-000000000001"


def check_appliers(appliers: Mapping[str, Applier]) -> None:
    """Raise :class:`WriteCheckError` on the first write of ``appliers`` the tables lack."""
    for tag, applier in appliers.items():
        for event in sample_events(EVENT_TYPES[tag]):
            try:
                changes = applier(_SAMPLE_ID, event)
            except Exception as e:
                msg = f"{applier_name(applier)} fails on a sample {tag} event: {e!r}"
                raise WriteCheckError(msg) from e
            for change in changes:
                problem = write_problem(change)
                if problem is not None:
                    msg = f"{problem}: written for {tag} by {applier_name(applier)}"
                    raise WriteCheckError(msg)


def write_problem(change: Change) -> str | None:  # noqa: PLR0911 - one return per finding
    """What in ``change`` the tables' declaration does not allow, or None."""
    columns = _DECLARED.get(change.table)
    if columns is None:
        return f"table {change.table} is not declared (projections.tables)"
    if isinstance(change, Replace):
        return _unknown(change.table, [change.column], columns)
    if isinstance(change, Update):
        if change.table not in KEYS:
            return f"{change.table} has no row per aggregate: an Update cannot name one"
        problem = _unknown(change.table, [*change.sets, *change.add], columns)
        problem = problem or _values(change.table, change.sets, columns)
        for name in change.add:
            if columns[name].type != INTEGER:
                problem = problem or f"{change.table}.{name} is no counter: it cannot be added to"
        return problem
    rows = [change.row] if isinstance(change, Insert) else change.rows
    if isinstance(change, Rows) and change.table in KEYS:
        return f"{change.table} has one row per aggregate: Rows cannot make several"
    for row in rows:
        problem = _unknown(change.table, row, columns) or _values(change.table, row, columns)
        problem = problem or _required(change.table, row, columns)
        if problem is not None:
            return problem
    return None


def _unknown(table: str, names: Any, columns: Mapping[str, Column]) -> str | None:
    for name in names:
        if name not in columns:
            return f"{table}.{name} is not a declared column (projections.tables)"
        if name == "seq" or name in DERIVED.get(table, {}):
            return f"{table}.{name} is written by the projection, not by an applier"
    return None


def _values(table: str, row: Mapping[str, Any], columns: Mapping[str, Column]) -> str | None:
    for name, value in row.items():
        column = columns[name]
        if value is None:
            if not column.nullable:
                return f"{table}.{name} is NOT NULL but is given None"
            continue
        if not _fits(column.type, value):
            given = type(value).__name__
            if isinstance(value, datetime) and value.tzinfo is not None:
                given = "an aware datetime (views hold naive UTC: projections.updater.utc)"
            return f"{table}.{name} is {column.type} but is given {given}"
    return None


def _fits(kind: str, value: Any) -> bool:
    if not isinstance(value, _PYTHON_TYPES[kind]):
        return False
    if kind in ("BIGINT", "INTEGER"):
        return not isinstance(value, bool)
    if kind == "TIMESTAMP":
        return isinstance(value, datetime) and value.tzinfo is None  # naive UTC, as stored
    if kind == "DATE":
        return not isinstance(value, datetime)
    return True


def _required(table: str, row: Mapping[str, Any], columns: Mapping[str, Column]) -> str | None:
    derived = DERIVED.get(table, {})
    for name, column in columns.items():
        needed = not column.nullable and column.default is None
        if needed and name != "seq" and name not in derived and name not in row:
            return f"{table}.{name} is NOT NULL without a default but a new row omits it"
    return None


def applier_name(applier: Any) -> str:
    """How a message names an applier: its function, or the ``Updater`` and its table."""
    wrapped = getattr(applier, "__wrapped__", None)
    name = getattr(applier, "__qualname__", None)
    if name is None:
        name = f"{type(applier).__qualname__}({getattr(applier, 'table', '?')!r}, …)"
    else:
        name = f"{applier.__module__}.{name}"
    return name if wrapped is None else f"{name} around {applier_name(wrapped)}"


# --- sample events ----------------------------------------------------------------------


def sample_events(cls: type[Any]) -> list[Any]:
    """Events of ``cls`` that reach every branch an applier takes on a ``Literal`` or ``None``.

    Built by the Struct's constructor (which validates nothing), variant ``k`` taking the
    ``k``-th value of every ``Literal`` (cycling) and leaving every optional field ``None``
    when ``k`` is odd, for as many variants as the widest ``Literal`` has values (two at least).
    """
    return _samples()[cls]


@cache
def _samples() -> dict[type[Any], list[Any]]:
    """Every event type's samples (their types translated by one call: shared parts once)."""
    classes = list(dict.fromkeys(EVENT_TYPES.values()))
    found = {}
    for cls, info in zip(classes, mi.multi_type_info(classes), strict=True):
        build = _builder(info)
        found[cls] = [build(k) for k in range(max(2, _widest_literal(info)))]
    return found


def _walk(t: mi.Type) -> Iterator[mi.Type]:
    yield t
    if isinstance(t, mi.Metadata):
        yield from _walk(t.type)
    elif isinstance(t, mi.UnionType):
        for member in t.types:
            yield from _walk(member)
    elif isinstance(t, mi.ListType | mi.VarTupleType):
        yield from _walk(t.item_type)
    elif isinstance(t, mi.StructType):
        for field in t.fields:
            yield from _walk(field.type)


def _widest_literal(t: mi.Type) -> int:
    return max((len(x.values) for x in _walk(t) if isinstance(x, mi.LiteralType)), default=0)


Builder = Callable[[int], Any]
"""Variant ``k`` of a sample value of one type."""


def _builder(t: mi.Type) -> Builder:
    """How to build variants of a value of type ``t`` (the type walked once, not per variant)."""
    if isinstance(t, mi.Metadata):
        return _builder(t.type)
    if isinstance(t, mi.StructType):
        cls, fields = t.cls, [(f.name, _builder(f.type)) for f in t.fields]
        return lambda k: cls(**{name: build(k) for name, build in fields})
    if isinstance(t, mi.UnionType):
        members = [_builder(m) for m in t.types if not isinstance(m, mi.NoneType)]
        optional = len(members) < len(t.types)
        return lambda k: None if optional and k % 2 else members[k % len(members)](k)
    if isinstance(t, mi.LiteralType):
        values = t.values
        return lambda k: values[k % len(values)]
    if isinstance(t, mi.ListType | mi.VarTupleType):
        item = _builder(t.item_type)
        return lambda k: [item(k)]
    scalars: dict[type[mi.Type], Builder] = {
        mi.StrType: lambda k: f"sample {k}",
        mi.IntType: lambda k: k + 1,
        mi.FloatType: lambda k: k + 0.5,
        mi.BoolType: lambda k: bool(k % 2),
        mi.DateTimeType: lambda _: _SAMPLE_TIME,
        mi.DateType: lambda _: _SAMPLE_TIME.date(),
        mi.UUIDType: lambda k: UUID(int=k + 1),
    }
    if type(t) not in scalars:
        msg = f"no sample value for {t!r}: teach projections.write_check this type"
        raise TypeError(msg)
    return scalars[type(t)]
