"""The views a known lifecycle produces, on the POPO store: rows, closed-loop flags, links."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from events.codec import EVENT_TYPES
from events.common import CHINA_STANDARD_TIME
from projections.appliers import APPLIERS
from projections.batch import Batch
from projections.changes import Insert, Replace
from projections.people import PEOPLE
from projections.schema import TABLES, create_schema
from tests.support.rebuilt_views import project
from tests.support.scenario import PARTY, FakeClock, Scenario, full_lifecycle


class TestAppliers:
    def test_every_event_type_has_an_applier(self) -> None:
        """No event of the catalogue falls through to the unknown-type stop."""
        assert set(APPLIERS) == set(EVENT_TYPES)

    def test_every_field_naming_people_is_indexed(self) -> None:
        """``person_acts`` relations: the fields docs/analytics.md lists, found from the types
        (a field's description added to ``PersonId`` once hid the single-id fields)."""
        relations = {relation for readers in PEOPLE.values() for relation, _ in readers}
        assert relations == {
            "voter_id", "speaker_id", "participants", "attendee_ids", "members", "lead_id",
            "host_id", "person_ids", "objector_id", "unit", "convener", "liaison", "member",
        }  # fmt: skip


class TestLifecycleRows:
    def test_full_lifecycle_rows(self, tmp_path: Path) -> None:
        """Rooms, topics, consultations, participants, motions and outcomes hold what happened."""
        s = Scenario()
        full_lifecycle(s)
        con = project(s, tmp_path / "v.duckdb")
        last = s.app.recorder.max_notification_id()
        assert con.execute("SELECT * FROM tracking").fetchall() == [("hsl", last)]
        rooms = con.execute(
            "SELECT level, convener_name, liaison_name, county_member_count FROM rooms "
            "ORDER BY level"
        ).fetchall()
        assert rooms == [("town", "赵副书记", "钱联络员", 0), ("village", None, None, 1)]
        statuses = con.execute("SELECT status, count(*) FROM topics GROUP BY 1").fetchall()
        # the proposed one is the re-consultation topic opened by open_reconsultation
        assert dict(statuses) == {"filed": 2, "proposed": 1, "rejected": 1, "withdrawn": 1}
        roles = con.execute("SELECT role, count(*) FROM participants GROUP BY 1").fetchall()
        assert dict(roles) == {"resident_rep": 6, "cppcc_member": 1, "official": 1, "expert": 1}
        consultation = con.execute(
            "SELECT status, participant_count, resident_count, quota_met, attendee_count, "
            "opinion_count, dissent_count, consensus_summary FROM consultations"
        ).fetchall()
        assert consultation == [("held", 9, 6, True, 9, 1, 1, "分批试点")]
        motion = con.execute(
            "SELECT votes_cast, votes_for, votes_against, abstentions, present, result FROM motions"
        ).fetchall()
        assert motion == [(3, 2, 1, 0, 9, "defeated")]
        # Each attendee carries their role on the confirmed participant list.
        attendees = con.execute(
            "SELECT a.role, p.role FROM attendees a LEFT JOIN participants p "
            "USING (consultation_id, person_id)"
        ).fetchall()
        assert len(attendees) == 9
        assert all(mine is not None and mine == theirs for mine, theirs in attendees)

    def test_closed_loop_status(self, tmp_path: Path) -> None:
        """The adopted outcome went the whole loop; the declined one closed after feedback."""
        s = Scenario()
        full_lifecycle(s)
        con = project(s, tmp_path / "v.duckdb")
        loop = con.execute(
            "SELECT stage, adopted_at IS NOT NULL, not_adopted_at IS NOT NULL, "
            "implementing_unit_name, deadline, progress_percent, overdue, stalled, reconsulted, "
            "escalated, escalated_to, dissent_explained, backdated_entry "
            "FROM outcome_status ORDER BY drafted_at"
        ).fetchall()
        assert loop == [
            ("closed", True, False, "镇建设局", date(2024, 12, 31), 100, False, False, True,
             True, "county", True, False),
            ("closed", False, True, None, None, None, False, False, False,
             False, None, True, False),
        ]  # fmt: skip


class TestBatch:
    def test_replace_keeps_only_the_latest_participant_list(self) -> None:
        """A re-confirmed list replaces the earlier one, within a batch and across batches."""
        con = duckdb.connect(":memory:")
        create_schema(con)
        columns = {t: [r[0] for r in con.execute(f"DESCRIBE {t}").fetchall()] for t in TABLES}

        def confirm(batch: Batch, people: list[str], seq: int) -> None:
            batch.apply(Replace("participants", "consultation_id", "c1"), seq)
            for person in people:
                row = {"consultation_id": "c1", "person_id": person, "name": person,
                       "role": "resident_rep", "confirmed_at": datetime(2024, 1, 1)}  # fmt: skip
                batch.apply(Insert("participants", row), seq)

        first = Batch(con, columns)
        confirm(first, ["a", "b"], 1)
        confirm(first, ["c"], 2)
        first.write()
        second = Batch(con, columns)
        confirm(second, ["d", "e"], 3)
        second.write()
        got = con.execute("SELECT person_id, seq FROM participants ORDER BY 1").fetchall()
        assert got == [("d", 3), ("e", 3)]


class TestBackdated:
    def test_a_late_entry_flags_the_outcome(self, tmp_path: Path) -> None:
        """An adoption recorded ten days after it happened marks the outcome back-dated."""
        s = Scenario()
        outcome_id = s.reported()
        happened = s.clock.now + timedelta(minutes=5)
        s.clock.tick(timedelta(days=10))
        s.app.adopt_outcome(
            outcome_id,
            actor=PARTY,
            occurred_at=happened,
            adopted_as="decision",
            decided_by="镇党委",
        )
        con = project(s, tmp_path / "v.duckdb")
        row = con.execute("SELECT stage, backdated_entry, adopted_at FROM outcome_status")
        assert row.fetchall() == [("adopted", True, happened.replace(tzinfo=None))]


class TestChinaTime:
    """The seed's years and days are China's (UTC+8): the views count in it, whatever the
    DuckDB session's time zone."""

    def test_an_activity_on_new_years_night_counts_for_the_new_year(self, tmp_path: Path) -> None:
        s = Scenario(clock=FakeClock(datetime(2025, 12, 31, 8, 0, tzinfo=UTC)))
        room = s.town_room()
        s.held(s.approved_topic(room))
        con = project(s, tmp_path / "v.duckdb")
        row = con.execute("SELECT held_at FROM consultations").fetchone()
        assert row is not None
        held_at: datetime = row[0]
        # 31 December in UTC, already 1 January 2026 in China
        assert (held_at.year, held_at.month, held_at.day) == (2025, 12, 31)
        assert held_at.hour >= 16
        held = con.execute(
            "SELECT year, consultations_held FROM room_year_consultations WHERE room_id = ? "
            "ORDER BY year",
            [str(room)],
        ).fetchall()
        assert held == [(2025, 0), (2026, 1)]

    def test_today_is_chinas_whatever_the_session_time_zone(self, tmp_path: Path) -> None:
        con = project(Scenario(), tmp_path / "v.duckdb")
        china = datetime.now(CHINA_STANDARD_TIME).date()
        for zone in ("UTC", "America/Los_Angeles", "Pacific/Kiritimati"):
            con.execute(f"SET TimeZone = '{zone}'")
            row = con.execute("SELECT china_today()").fetchone()
            assert row is not None
            assert row[0] == china, zone
