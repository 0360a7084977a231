"""The DuckDB tables the projection writes, and the tracking table that makes it exactly-once.

Plain tables without key constraints: every row is written by the appliers only, keyed by
the aggregate id they carry, and DuckDB's updates of indexed rows are costlier than the
checks they would buy. Times are ``TIMESTAMP`` in UTC (naive, so any DuckDB client reads
them without a time-zone extension). docs/analytics.md documents every column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, cast

import duckdb

from events.jetstream.quarantine import Kind, Quarantined
from projections.analytics import ANALYTICS_SQL
from projections.closed_loop import CLOSED_LOOP_SQL

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

DDL: Final[str] = """
CREATE TABLE IF NOT EXISTS tracking (
    application_name VARCHAR NOT NULL,
    notification_id BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    stream VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    subject VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    reason VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS rooms (
    room_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    level VARCHAR NOT NULL,
    county VARCHAR NOT NULL,
    town VARCHAR NOT NULL,
    locality VARCHAR,
    parent_room_id VARCHAR,
    established_at TIMESTAMP NOT NULL,
    convener_id VARCHAR,
    convener_name VARCHAR,
    convener_position VARCHAR,
    liaison_id VARCHAR,
    liaison_name VARCHAR,
    county_member_count INTEGER NOT NULL DEFAULT 0,
    backdated_entry BOOLEAN NOT NULL DEFAULT false,
    seq BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS room_members (
    room_id VARCHAR NOT NULL,
    member_id VARCHAR NOT NULL,
    member_name VARCHAR NOT NULL,
    member_level VARCHAR NOT NULL,
    members_group VARCHAR NOT NULL,
    linked_at TIMESTAMP NOT NULL,
    seq BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS room_plans (
    room_id VARCHAR NOT NULL,
    year INTEGER NOT NULL,
    planned_consultations INTEGER NOT NULL,
    filed_at TIMESTAMP NOT NULL,
    seq BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS topics (
    topic_id VARCHAR NOT NULL,
    room_id VARCHAR NOT NULL,
    room_level VARCHAR NOT NULL,
    title VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    reconsultation_of VARCHAR,
    status VARCHAR NOT NULL,
    proposed_at TIMESTAMP NOT NULL,
    escalated_to VARCHAR,
    escalated_at TIMESTAMP,
    approving_org VARCHAR,
    approved_by_upper_level BOOLEAN,
    approved_at TIMESTAMP,
    rejecting_org VARCHAR,
    rejection_reason VARCHAR,
    rejected_at TIMESTAMP,
    filed_with VARCHAR,
    filing_ref VARCHAR,
    filed_at TIMESTAMP,
    withdrawn_at TIMESTAMP,
    withdrawal_reason VARCHAR,
    backdated_entry BOOLEAN NOT NULL DEFAULT false,
    seq BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS consultations (
    consultation_id VARCHAR NOT NULL,
    topic_id VARCHAR NOT NULL,
    room_id VARCHAR NOT NULL,
    room_level VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    research_lead_id VARCHAR NOT NULL,
    research_group_size INTEGER NOT NULL,
    research_started_at TIMESTAMP NOT NULL,
    research_findings INTEGER NOT NULL DEFAULT 0,
    participant_count INTEGER,
    resident_count INTEGER,
    quota_met BOOLEAN,
    quota_justification VARCHAR,
    participants_confirmed_at TIMESTAMP,
    form VARCHAR,
    venue VARCHAR,
    venue_detail VARCHAR,
    scheduled_for TIMESTAMP,
    host_id VARCHAR,
    held_at TIMESTAMP,
    attendee_count INTEGER,
    opinion_count INTEGER NOT NULL DEFAULT 0,
    consensus_summary VARCHAR,
    consensus_at TIMESTAMP,
    dissent_count INTEGER NOT NULL DEFAULT 0,
    backdated_entry BOOLEAN NOT NULL DEFAULT false,
    seq BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS participants (
    consultation_id VARCHAR NOT NULL,
    person_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    confirmed_at TIMESTAMP NOT NULL,
    seq BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS motions (
    consultation_id VARCHAR NOT NULL,
    motion_id VARCHAR NOT NULL,
    text VARCHAR NOT NULL,
    put_at TIMESTAMP NOT NULL,
    votes_cast INTEGER NOT NULL DEFAULT 0,
    votes_for INTEGER,
    votes_against INTEGER,
    abstentions INTEGER,
    present INTEGER,
    result VARCHAR,
    resolved_at TIMESTAMP,
    seq BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS dissents (
    consultation_id VARCHAR NOT NULL,
    dissent_id VARCHAR NOT NULL,
    person_count INTEGER NOT NULL,
    position VARCHAR NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    seq BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS outcomes (
    outcome_id VARCHAR NOT NULL,
    consultation_id VARCHAR NOT NULL,
    topic_id VARCHAR NOT NULL,
    room_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    title VARCHAR NOT NULL,
    stage VARCHAR NOT NULL,
    drafted_at TIMESTAMP NOT NULL,
    reported_at TIMESTAMP,
    adopted_at TIMESTAMP,
    adopted_as VARCHAR,
    needs_implementation BOOLEAN,
    decided_by VARCHAR,
    not_adopted_at TIMESTAMP,
    not_adopted_reason VARCHAR,
    publicised_at TIMESTAMP,
    publicity_starts_on DATE,
    publicity_ends_on DATE,
    objection_count INTEGER NOT NULL DEFAULT 0,
    implementing_unit_id VARCHAR,
    implementing_unit_name VARCHAR,
    implementation_assigned_at TIMESTAMP,
    deadline DATE,
    progress_percent INTEGER,
    progress_at TIMESTAMP,
    implemented_at TIMESTAMP,
    verified_at TIMESTAMP,
    verified_effective BOOLEAN,
    stalled BOOLEAN NOT NULL DEFAULT false,
    stall_count INTEGER NOT NULL DEFAULT 0,
    stalled_at TIMESTAMP,
    stall_cause VARCHAR,
    reconsultation_topic_id VARCHAR,
    reconsulted_at TIMESTAMP,
    escalated_to VARCHAR,
    escalation_category VARCHAR,
    escalated_at TIMESTAMP,
    fed_back_at TIMESTAMP,
    closed_at TIMESTAMP,
    backdated_entry BOOLEAN NOT NULL DEFAULT false,
    last_event_at TIMESTAMP NOT NULL,
    seq BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS dissent_explanations (
    outcome_id VARCHAR NOT NULL,
    dissent_id VARCHAR NOT NULL,
    explained_at TIMESTAMP NOT NULL,
    seq BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS attendees (
    consultation_id VARCHAR NOT NULL,
    person_id VARCHAR NOT NULL,
    role VARCHAR,
    held_at TIMESTAMP NOT NULL,
    seq BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS opinions (
    consultation_id VARCHAR NOT NULL,
    speaker_id VARCHAR NOT NULL,
    speaker_role VARCHAR NOT NULL,
    stance VARCHAR NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    seq BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS member_acts (
    member_id VARCHAR NOT NULL,
    event_type VARCHAR NOT NULL,
    aggregate_id VARCHAR NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    seq BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS person_acts (
    person_id VARCHAR NOT NULL,
    relation VARCHAR NOT NULL,
    event_type VARCHAR NOT NULL,
    aggregate_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL
);
"""


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
    return [Quarantined(str(a), int(b), str(c), cast(Kind, d), str(e)) for a, b, c, d, e in rows]
