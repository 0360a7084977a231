"""The views' tables, each column declared once: its name, DuckDB type, nullability, default.

Everything else about a table's columns is made from this declaration: the DDL
(``projections.schema`` creates the tables with it), the blank row an ``Insert`` fills, the
column lists the writers pass to DuckDB, and the check that every applier writes only columns
that exist (``projections.write_check``). docs/analytics.md documents every column.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

VARCHAR: Final = "VARCHAR"
BIGINT: Final = "BIGINT"
INTEGER: Final = "INTEGER"
BOOLEAN: Final = "BOOLEAN"
TIMESTAMP: Final = "TIMESTAMP"
"""Naive, in UTC (any DuckDB client reads it without a time-zone extension)."""
DATE: Final = "DATE"


class Column(NamedTuple):
    """One column of a view table. A default makes an ``Insert`` that omits the column valid."""

    name: str
    type: str
    nullable: bool = False
    default: bool | int | None = None

    def ddl(self) -> str:
        """The column's line of ``CREATE TABLE``."""
        text = f"{self.name} {self.type}"
        if not self.nullable:
            text += " NOT NULL"
        if self.default is not None:
            literal = str(self.default).lower() if isinstance(self.default, bool) else self.default
            text += f" DEFAULT {literal}"
        return text


COLUMNS: Final[dict[str, tuple[Column, ...]]] = {
    "tracking": (
        Column("application_name", VARCHAR),
        Column("notification_id", BIGINT),
    ),
    "quarantine": (
        Column("stream", VARCHAR),
        Column("seq", BIGINT),
        Column("subject", VARCHAR),
        Column("kind", VARCHAR),
        Column("reason", VARCHAR),
    ),
    "rooms": (
        Column("room_id", VARCHAR),
        Column("name", VARCHAR),
        Column("level", VARCHAR),
        Column("county", VARCHAR),
        Column("town", VARCHAR),
        Column("locality", VARCHAR, nullable=True),
        Column("parent_room_id", VARCHAR, nullable=True),
        Column("established_at", TIMESTAMP),
        Column("convener_id", VARCHAR, nullable=True),
        Column("convener_name", VARCHAR, nullable=True),
        Column("convener_position", VARCHAR, nullable=True),
        Column("liaison_id", VARCHAR, nullable=True),
        Column("liaison_name", VARCHAR, nullable=True),
        Column("county_member_count", INTEGER, default=0),
        Column("backdated_entry", BOOLEAN, default=False),
        Column("seq", BIGINT),
    ),
    "room_members": (
        Column("room_id", VARCHAR),
        Column("member_id", VARCHAR),
        Column("member_name", VARCHAR),
        Column("member_level", VARCHAR),
        Column("members_group", VARCHAR),
        Column("linked_at", TIMESTAMP),
        Column("seq", BIGINT),
    ),
    "room_plans": (
        Column("room_id", VARCHAR),
        Column("year", INTEGER),
        Column("planned_consultations", INTEGER),
        Column("filed_at", TIMESTAMP),
        Column("seq", BIGINT),
    ),
    "topics": (
        Column("topic_id", VARCHAR),
        Column("room_id", VARCHAR),
        Column("room_level", VARCHAR),
        Column("title", VARCHAR),
        Column("source", VARCHAR),
        Column("reconsultation_of", VARCHAR, nullable=True),
        Column("status", VARCHAR),
        Column("proposed_at", TIMESTAMP),
        Column("escalated_to", VARCHAR, nullable=True),
        Column("escalated_at", TIMESTAMP, nullable=True),
        Column("approving_org", VARCHAR, nullable=True),
        Column("approved_by_upper_level", BOOLEAN, nullable=True),
        Column("approved_at", TIMESTAMP, nullable=True),
        Column("rejecting_org", VARCHAR, nullable=True),
        Column("rejection_reason", VARCHAR, nullable=True),
        Column("rejected_at", TIMESTAMP, nullable=True),
        Column("filed_with", VARCHAR, nullable=True),
        Column("filing_ref", VARCHAR, nullable=True),
        Column("filed_at", TIMESTAMP, nullable=True),
        Column("withdrawn_at", TIMESTAMP, nullable=True),
        Column("withdrawal_reason", VARCHAR, nullable=True),
        Column("backdated_entry", BOOLEAN, default=False),
        Column("seq", BIGINT),
    ),
    "consultations": (
        Column("consultation_id", VARCHAR),
        Column("topic_id", VARCHAR),
        Column("room_id", VARCHAR),
        Column("room_level", VARCHAR),
        Column("status", VARCHAR),
        Column("research_lead_id", VARCHAR),
        Column("research_group_size", INTEGER),
        Column("research_started_at", TIMESTAMP),
        Column("research_findings", INTEGER, default=0),
        Column("participant_count", INTEGER, nullable=True),
        Column("resident_count", INTEGER, nullable=True),
        Column("quota_met", BOOLEAN, nullable=True),
        Column("quota_justification", VARCHAR, nullable=True),
        Column("participants_confirmed_at", TIMESTAMP, nullable=True),
        Column("form", VARCHAR, nullable=True),
        Column("venue", VARCHAR, nullable=True),
        Column("venue_detail", VARCHAR, nullable=True),
        Column("scheduled_for", TIMESTAMP, nullable=True),
        Column("host_id", VARCHAR, nullable=True),
        Column("held_at", TIMESTAMP, nullable=True),
        Column("attendee_count", INTEGER, nullable=True),
        Column("opinion_count", INTEGER, default=0),
        Column("consensus_summary", VARCHAR, nullable=True),
        Column("consensus_at", TIMESTAMP, nullable=True),
        Column("dissent_count", INTEGER, default=0),
        Column("backdated_entry", BOOLEAN, default=False),
        Column("seq", BIGINT),
    ),
    "participants": (
        Column("consultation_id", VARCHAR),
        Column("person_id", VARCHAR),
        Column("name", VARCHAR),
        Column("role", VARCHAR),
        Column("confirmed_at", TIMESTAMP),
        Column("seq", BIGINT),
    ),
    "motions": (
        Column("consultation_id", VARCHAR),
        Column("motion_id", VARCHAR),
        Column("text", VARCHAR),
        Column("put_at", TIMESTAMP),
        Column("votes_cast", INTEGER, default=0),
        Column("votes_for", INTEGER, nullable=True),
        Column("votes_against", INTEGER, nullable=True),
        Column("abstentions", INTEGER, nullable=True),
        Column("present", INTEGER, nullable=True),
        Column("result", VARCHAR, nullable=True),
        Column("resolved_at", TIMESTAMP, nullable=True),
        Column("seq", BIGINT),
    ),
    "dissents": (
        Column("consultation_id", VARCHAR),
        Column("dissent_id", VARCHAR),
        Column("person_count", INTEGER),
        Column("position", VARCHAR),
        Column("recorded_at", TIMESTAMP),
        Column("seq", BIGINT),
    ),
    "outcomes": (
        Column("outcome_id", VARCHAR),
        Column("consultation_id", VARCHAR),
        Column("topic_id", VARCHAR),
        Column("room_id", VARCHAR),
        Column("kind", VARCHAR),
        Column("title", VARCHAR),
        Column("stage", VARCHAR),
        Column("drafted_at", TIMESTAMP),
        Column("reported_at", TIMESTAMP, nullable=True),
        Column("adopted_at", TIMESTAMP, nullable=True),
        Column("adopted_as", VARCHAR, nullable=True),
        Column("needs_implementation", BOOLEAN, nullable=True),
        Column("decided_by", VARCHAR, nullable=True),
        Column("not_adopted_at", TIMESTAMP, nullable=True),
        Column("not_adopted_reason", VARCHAR, nullable=True),
        Column("publicised_at", TIMESTAMP, nullable=True),
        Column("publicity_starts_on", DATE, nullable=True),
        Column("publicity_ends_on", DATE, nullable=True),
        Column("objection_count", INTEGER, default=0),
        Column("implementing_unit_id", VARCHAR, nullable=True),
        Column("implementing_unit_name", VARCHAR, nullable=True),
        Column("implementation_assigned_at", TIMESTAMP, nullable=True),
        Column("deadline", DATE, nullable=True),
        Column("progress_percent", INTEGER, nullable=True),
        Column("progress_at", TIMESTAMP, nullable=True),
        Column("implemented_at", TIMESTAMP, nullable=True),
        Column("verified_at", TIMESTAMP, nullable=True),
        Column("verified_effective", BOOLEAN, nullable=True),
        Column("stalled", BOOLEAN, default=False),
        Column("stall_count", INTEGER, default=0),
        Column("stalled_at", TIMESTAMP, nullable=True),
        Column("stall_cause", VARCHAR, nullable=True),
        Column("reconsultation_topic_id", VARCHAR, nullable=True),
        Column("reconsulted_at", TIMESTAMP, nullable=True),
        Column("escalated_to", VARCHAR, nullable=True),
        Column("escalation_category", VARCHAR, nullable=True),
        Column("escalated_at", TIMESTAMP, nullable=True),
        Column("fed_back_at", TIMESTAMP, nullable=True),
        Column("closed_at", TIMESTAMP, nullable=True),
        Column("backdated_entry", BOOLEAN, default=False),
        Column("last_event_at", TIMESTAMP),
        Column("seq", BIGINT),
    ),
    "dissent_explanations": (
        Column("outcome_id", VARCHAR),
        Column("dissent_id", VARCHAR),
        Column("explained_at", TIMESTAMP),
        Column("seq", BIGINT),
    ),
    "attendees": (
        Column("consultation_id", VARCHAR),
        Column("person_id", VARCHAR),
        Column("role", VARCHAR, nullable=True),
        Column("held_at", TIMESTAMP),
        Column("seq", BIGINT),
    ),
    "opinions": (
        Column("consultation_id", VARCHAR),
        Column("speaker_id", VARCHAR),
        Column("speaker_role", VARCHAR),
        Column("stance", VARCHAR),
        Column("recorded_at", TIMESTAMP),
        Column("seq", BIGINT),
    ),
    "member_acts": (
        Column("member_id", VARCHAR),
        Column("event_type", VARCHAR),
        Column("aggregate_id", VARCHAR),
        Column("occurred_at", TIMESTAMP),
        Column("seq", BIGINT),
    ),
    "person_acts": (
        Column("person_id", VARCHAR),
        Column("relation", VARCHAR),
        Column("event_type", VARCHAR),
        Column("aggregate_id", VARCHAR),
        Column("seq", BIGINT),
    ),
}
"""Every table's columns in their stored order, the tables in the order they are created."""

KEYS: Final[dict[str, str]] = {
    "rooms": "room_id",
    "topics": "topic_id",
    "consultations": "consultation_id",
    "motions": "motion_id",
    "outcomes": "outcome_id",
}
"""Tables with one row per aggregate (or motion), and the column that identifies it; the
others are appended facts."""

COLUMN_NAMES: Final[dict[str, list[str]]] = {
    table: [column.name for column in columns] for table, columns in COLUMNS.items()
}
COLUMN_TYPES: Final[dict[str, list[str]]] = {
    table: [column.type for column in columns] for table, columns in COLUMNS.items()
}
DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    table: {c.name: c.default for c in columns if c.default is not None}
    for table, columns in COLUMNS.items()
}
"""Per table, the DDL's column defaults, for rows created in memory."""


def create_table_sql(table: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` of one declared table."""
    lines = ",\n".join(f"    {column.ddl()}" for column in COLUMNS[table])
    return f"CREATE TABLE IF NOT EXISTS {table} (\n{lines}\n);\n"


DDL: Final[str] = "\n" + "".join(create_table_sql(table) for table in COLUMNS)
"""Every table, created if missing."""
