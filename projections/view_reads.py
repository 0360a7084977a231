"""The views' named reads: each a msgspec Struct, answered by this module's fixed SQL.

**Named reads, not SQL.** A request names one of the reads below (:data:`Read`, a tagged
union) with its parameters, decoded and validated by msgspec; the SQL is this module's own
fixed text. Nothing from the network is ever executed as SQL.

**One read, one snapshot.** :func:`run_read` runs every statement of a read (a room, its
members and its plans) in one DuckDB transaction on a connection of its own (a cursor of the
projector's). DuckDB's MVCC gives that transaction a snapshot of committed data, and the
projector commits each batch (rows and tracking position) in one transaction
(``projections.runner``), so a read sees a batch entirely or not at all, never half of it.
The API runs them in-process, or sends them to the projector (``projections.views_wire``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Final
from uuid import UUID

import duckdb
import msgspec

from projections.analytics import VIEWS

MAX_OFFSET: Final = 2**53
"""The largest offset a read takes: past any table, within DuckDB's BIGINT (an offset past it
failed in DuckDB, a 500), and exact as a JSON number (the OpenAPI schema's ``maximum``)."""
Limit = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
Offset = Annotated[int, msgspec.Meta(ge=0, le=MAX_OFFSET)]


class _Read(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="read"):
    """A named read; the tag (``read``) is its name on the wire."""


class Ping(_Read, tag="ping", forbid_unknown_fields=True):
    """Whether the views answer (``/readyz``): ``True``."""


class Position(_Read, tag="position", forbid_unknown_fields=True):
    """The log position the views have reached (their tracking record; 0 before any)."""


class Rooms(_Read, tag="rooms", forbid_unknown_fields=True):
    """Rooms, filtered by county, town or level."""

    county: str | None = None
    town: str | None = None
    level: str | None = None
    limit: Limit = 1000
    offset: Offset = 0


class Room(_Read, tag="room", forbid_unknown_fields=True):
    """One room with its linked members and annual plans (``None``: no such room)."""

    room_id: UUID


class Topics(_Read, tag="topics", forbid_unknown_fields=True):
    """Topics, filtered by room, status or source."""

    room_id: UUID | None = None
    status: str | None = None
    source: str | None = None
    limit: Limit = 1000
    offset: Offset = 0


class Topic(_Read, tag="topic", forbid_unknown_fields=True):
    """One topic (``None``: no such topic)."""

    topic_id: UUID


class Outcomes(_Read, tag="outcomes", forbid_unknown_fields=True):
    """The closed-loop status of outcomes (``outcome_status``), by room or stage."""

    room_id: UUID | None = None
    stage: str | None = None
    limit: Limit = 1000
    offset: Offset = 0


class Analytics(_Read, tag="analytics", forbid_unknown_fields=True):
    """One of the office's analytics views (``projections.analytics.VIEWS``)."""

    view: str
    limit: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 100_000

    def __post_init__(self) -> None:
        if self.view not in VIEWS:
            msg = f"unknown analytics view {self.view!r} - at `$.view`"
            raise ValueError(msg)


class Quarantine(_Read, tag="quarantine", forbid_unknown_fields=True):
    """How many stored messages the views skipped (``events.jetstream.quarantine``) and the
    first ones: ``{"count": n, "rows": [{stream, seq, subject, kind, reason} …]}``."""

    limit: Limit = 20


Read = Ping | Position | Rooms | Room | Topics | Topic | Outcomes | Analytics | Quarantine
"""Every read the views answer."""

READ_NAMES: Final[tuple[str, ...]] = tuple(
    str(kind.__struct_config__.tag)
    for kind in (Ping, Position, Rooms, Room, Topics, Topic, Outcomes, Analytics, Quarantine)
)

ResultRows = list[dict[str, Any]]


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Iterable[object] = ()) -> ResultRows:
    cursor = con.execute(sql, list(params))
    columns = [d[0] for d in cursor.description or ()]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _where(filters: Mapping[str, object]) -> tuple[str, list[object]]:
    """``WHERE column = ? AND …`` over the filters given (column names are this module's)."""
    given = {k: v for k, v in filters.items() if v is not None}
    clause = " AND ".join(f"{k} = ?" for k in given)
    return (f" WHERE {clause}" if clause else ""), list(given.values())


def _text(value: UUID | None) -> str | None:
    return None if value is None else str(value)


def _answer(con: duckdb.DuckDBPyConnection, read: Read) -> Any:  # noqa: PLR0911 - one per read
    match read:
        case Ping():
            return _rows(con, "SELECT 1 AS ok")[0]["ok"] == 1
        case Position():
            value = _rows(con, "SELECT max(notification_id) AS n FROM tracking")[0]["n"]
            return 0 if value is None else int(value)
        case Rooms():
            where, params = _where({"county": read.county, "town": read.town, "level": read.level})
            sql = f"SELECT * FROM rooms{where} ORDER BY county, town, locality NULLS FIRST, name"
            return _rows(con, f"{sql} LIMIT ? OFFSET ?", [*params, read.limit, read.offset])
        case Room():
            ident = str(read.room_id)
            found = _rows(con, "SELECT * FROM rooms WHERE room_id = ?", [ident])
            if not found:
                return None
            room = found[0]
            room["members"] = _rows(
                con, "SELECT * FROM room_members WHERE room_id = ? ORDER BY seq", [ident]
            )
            room["plans"] = _rows(
                con, "SELECT * FROM room_plans WHERE room_id = ? ORDER BY year", [ident]
            )
            return room
        case Topics():
            filters = {"room_id": _text(read.room_id), "status": read.status, "source": read.source}
            where, params = _where(filters)
            sql = f"SELECT * FROM topics{where} ORDER BY proposed_at, topic_id LIMIT ? OFFSET ?"
            return _rows(con, sql, [*params, read.limit, read.offset])
        case Topic():
            found = _rows(con, "SELECT * FROM topics WHERE topic_id = ?", [str(read.topic_id)])
            return found[0] if found else None
        case Outcomes():
            where, params = _where({"room_id": _text(read.room_id), "stage": read.stage})
            sql = f"SELECT * FROM outcome_status{where} ORDER BY outcome_id LIMIT ? OFFSET ?"
            return _rows(con, sql, [*params, read.limit, read.offset])
        case Analytics():
            if read.view not in VIEWS:  # checked on decoding too; the name becomes SQL
                msg = f"unknown analytics view {read.view!r}"
                raise ValueError(msg)
            return _rows(con, f'SELECT * FROM "{read.view}" LIMIT ?', [read.limit])
        case Quarantine():
            count = _rows(con, "SELECT count(*) AS n FROM quarantine")[0]["n"]
            sql = "SELECT * FROM quarantine ORDER BY stream, seq LIMIT ?"
            return {"count": int(count), "rows": _rows(con, sql, [read.limit])}
    msg = f"not a read: {read!r}"  # pragma: no cover - the union is exhaustive
    raise TypeError(msg)


def run_read(con: duckdb.DuckDBPyConnection, read: Read) -> Any:
    """Answer ``read`` on ``con`` inside one transaction: one consistent snapshot.

    ``con`` must be this thread's own connection (a cursor, or a read-only connection); the
    transaction is rolled back at the end, so nothing a read could do would stay.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        return _answer(con, read)
    finally:
        with contextlib.suppress(duckdb.Error):  # an error may have ended the transaction
            con.execute("ROLLBACK")
