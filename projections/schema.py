"""Creating the views' DuckDB tables (declared in ``projections.tables``), and the tracking
table that makes the projection exactly-once.

Plain tables without key constraints: every row is written by the appliers only, keyed by
the aggregate id they carry, and DuckDB's updates of indexed rows are costlier than the
checks they would buy. Times are ``TIMESTAMP`` in UTC (naive, so any DuckDB client reads
them without a time-zone extension).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, cast

import duckdb

from events.jetstream.quarantine import Quarantined, QuarantineKind
from projections.analytics import ANALYTICS_SQL
from projections.closed_loop import CLOSED_LOOP_SQL
from projections.tables import DDL

TABLES: Final[tuple[str, ...]] = (
    "rooms",
    "room_members",
    "room_plans",
    "topics",
    "consultations",
    "participants",
    "motions",
    "dissents",
    "outcomes",
    "dissent_explanations",
    "attendees",
    "opinions",
    "member_acts",
    "person_acts",
    "quarantine",
    "tracking",
)
"""Every table, in the order a comparison (live vs. rebuild) walks them."""

ORDER_BY: Final[dict[str, str]] = {
    "rooms": "room_id",
    "room_members": "room_id, member_id, seq",
    "room_plans": "room_id, year, seq",
    "topics": "topic_id",
    "consultations": "consultation_id",
    "participants": "consultation_id, person_id, seq",
    "motions": "consultation_id, motion_id",
    "dissents": "consultation_id, dissent_id",
    "outcomes": "outcome_id",
    "dissent_explanations": "outcome_id, dissent_id, seq",
    "attendees": "consultation_id, person_id, seq",
    "opinions": "consultation_id, seq",
    "member_acts": "seq",
    "person_acts": "seq, person_id, relation",
    "quarantine": "stream, seq",
    "tracking": "application_name",
}
"""A total order per table, so two databases compare row by row."""


SCHEMA_VERSION: Final = 5
"""Raise when a table or column changes: a file built by another version must be rebuilt.

2: ``attendees``, ``opinions`` and ``member_acts`` (for member participation, §五.3) and
the office's analytics views (``projections.analytics``).
3: ``person_acts``, every person an event concerns (for ``hsl replay person``).
4: ``attendees.role``, the attendee's role on the confirmed participant list (member
participation without a join).
5: ``quarantine``, the stored messages the projection skipped (``events.jetstream.quarantine``)."""


class SchemaMismatchError(RuntimeError):
    """The views file was built by another version of the projection."""


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table and view if missing (idempotent: a restart reuses the file).

    A file whose recorded schema version differs is refused: applying new events to tables
    of another layout would mix two projections in one file.
    """
    con.execute("CREATE TABLE IF NOT EXISTS projection_schema (version INTEGER NOT NULL)")
    row = con.execute("SELECT max(version) FROM projection_schema").fetchone()
    found = None if row is None else row[0]
    if found is None:
        con.execute("INSERT INTO projection_schema VALUES (?)", [SCHEMA_VERSION])
    elif found != SCHEMA_VERSION:
        msg = (
            f"the views were built by projection schema {found}, this version writes "
            f"{SCHEMA_VERSION}: run `hsl projections rebuild`"
        )
        raise SchemaMismatchError(msg)
    con.execute(DDL)
    con.execute(CLOSED_LOOP_SQL)
    con.execute(ANALYTICS_SQL)


def tracking_position(con: duckdb.DuckDBPyConnection, application_name: str) -> int:
    """The last notification id applied for ``application_name`` (0 before the first)."""
    row = con.execute(
        "SELECT notification_id FROM tracking WHERE application_name = ?", [application_name]
    ).fetchone()
    return 0 if row is None else int(row[0])


def record_quarantined(con: duckdb.DuckDBPyConnection, found: Sequence[Quarantined]) -> None:
    """Add quarantined messages to the ``quarantine`` table (inside the caller's transaction,
    beside the tracking position that moves past them)."""
    if found:
        con.executemany(
            "INSERT INTO quarantine VALUES (?, ?, ?, ?, ?)",
            [(q.stream, q.seq, q.subject, q.kind, q.reason) for q in found],
        )


def quarantined(con: duckdb.DuckDBPyConnection) -> list[Quarantined]:
    """Every message the views quarantined, in log order."""
    rows = con.execute(
        "SELECT stream, seq, subject, kind, reason FROM quarantine ORDER BY stream, seq"
    ).fetchall()
    return [
        Quarantined(str(a), int(b), str(c), cast(QuarantineKind, d), str(e))
        for a, b, c, d, e in rows
    ]
