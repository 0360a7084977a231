"""The leading-group office's analytics (领导小组办公室, §五.1): plain DuckDB views over the tables.

Nothing here is stored: every view is SQL over the projection's tables, created by
``create_schema`` beside them, so a rebuilt file and a live-followed one have the same views
and any DuckDB client can query them (no Python functions involved). docs/analytics.md
describes every column, the events behind it and the seed section it checks.

Traceability: every row carries the ids of the aggregates it counts and the ``seq``
(notification ids) of the rows behind it, so a number leads back to the events that earned it.

Times are the events' ``occurred_at``, stored in UTC; a "year" is the calendar year in China
(``china_year``, UTC+8) and "today" is China's date (``china_today``), both defined in
``projections.closed_loop``.
"""

from __future__ import annotations

from typing import Final

from events.common import (
    MIN_TOWN_CONSULTATIONS_PER_YEAR,
    RESIDENT_QUOTA_DENOMINATOR,
    RESIDENT_QUOTA_NUMERATOR,
)
from projections.analytics_headers import ANALYTICS_HEADERS

# Rule 9 and rule 3 take their numbers from events.common, the one home of both.
ANALYTICS_SQL: Final[str] = f"""
-- 1. Coverage (§四.1: every 镇/街道/园区 sets up a room; lower levels where conditions allow).
-- A town is known to the log through the rooms established in it: a town without any room
-- does not appear (there is no town register event).
CREATE OR REPLACE VIEW coverage_by_town AS
SELECT
    county,
    town,
    count(*) FILTER (WHERE level = 'town') AS town_rooms,
    count(*) FILTER (WHERE level = 'town') > 0 AS has_town_room,
    count(*) FILTER (WHERE level = 'village') AS village_rooms,
    count(*) FILTER (WHERE level = 'community') AS community_rooms,
    count(*) FILTER (WHERE level = 'enterprise') AS enterprise_rooms,
    count(*) AS rooms,
    list(room_id ORDER BY room_id) AS room_ids,
    list(seq ORDER BY seq) AS seqs
FROM rooms
GROUP BY county, town;

CREATE OR REPLACE VIEW coverage_by_county AS
SELECT
    county,
    count(*) AS towns,
    count(*) FILTER (WHERE has_town_room) AS towns_with_town_room,
    count(*) FILTER (WHERE has_town_room) / count(*) AS coverage,
    coalesce(list(town ORDER BY town) FILTER (WHERE NOT has_town_room), []::VARCHAR[])
        AS towns_without_town_room,
    sum(rooms)::BIGINT AS rooms,
    sum(town_rooms)::BIGINT AS town_rooms,
    sum(village_rooms)::BIGINT AS village_rooms,
    sum(community_rooms)::BIGINT AS community_rooms,
    sum(enterprise_rooms)::BIGINT AS enterprise_rooms,
    sum(rooms) / count(*) AS rooms_per_town,
    list_sort(flatten(list(room_ids))) AS room_ids,
    list_sort(flatten(list(seqs))) AS seqs
FROM coverage_by_town
GROUP BY county;

-- 2. Consultations held per room per calendar year (§四.1: a town room holds no fewer than
-- two a year; lower rooms' frequency is set locally, so no rule applies to them). Every
-- year from the room's establishment to the last year the log speaks of gets a row, so a
-- year without any activity shows as 0.
CREATE OR REPLACE VIEW room_year_consultations AS
WITH last_year AS (
    SELECT greatest(
        (SELECT max(china_year(held_at)) FROM consultations),
        (SELECT max(year) FROM room_plans),
        (SELECT max(china_year(established_at)) FROM rooms)
    ) AS year
),
room_years AS (
    SELECT r.room_id, unnest(range(china_year(r.established_at), l.year + 1)) AS year
    FROM rooms r, last_year l
    UNION
    SELECT room_id, year FROM room_plans
),
held AS (
    SELECT
        c.room_id,
        china_year(c.held_at) AS year,
        count(*) AS held,
        list(c.consultation_id ORDER BY a.seq) AS consultation_ids,
        list(a.seq ORDER BY a.seq) AS seqs
    FROM consultations c
    JOIN (
        SELECT consultation_id, min(seq) AS seq FROM attendees GROUP BY consultation_id
    ) a ON a.consultation_id = c.consultation_id
    WHERE c.held_at IS NOT NULL
    GROUP BY c.room_id, china_year(c.held_at)
),
plans AS (
    SELECT room_id, year, arg_max(planned_consultations, seq) AS planned, max(seq) AS seq
    FROM room_plans
    GROUP BY room_id, year
)
SELECT
    ry.room_id,
    r.name AS room_name,
    r.level AS room_level,
    r.county,
    r.town,
    ry.year,
    coalesce(h.held, 0) AS consultations_held,
    CASE WHEN r.level = 'town' THEN {MIN_TOWN_CONSULTATIONS_PER_YEAR} END AS required,
    CASE WHEN r.level = 'town'
         THEN coalesce(h.held, 0) >= {MIN_TOWN_CONSULTATIONS_PER_YEAR} END AS meets_rule,
    p.planned AS planned_consultations,
    CASE WHEN p.planned IS NOT NULL THEN coalesce(h.held, 0) >= p.planned END AS meets_plan,
    coalesce(h.consultation_ids, []::VARCHAR[]) AS consultation_ids,
    coalesce(h.seqs, []::BIGINT[]) AS seqs,
    p.seq AS plan_seq
FROM room_years ry
JOIN rooms r ON r.room_id = ry.room_id
LEFT JOIN held h ON h.room_id = ry.room_id AND h.year = ry.year
LEFT JOIN plans p ON p.room_id = ry.room_id AND p.year = ry.year;

-- 3. The two-thirds quota (§四.4: 原则上 resident representatives are no fewer than two
-- thirds of the participants; a shortfall needs a recorded justification, rule 3).
CREATE OR REPLACE VIEW consultation_quota AS
WITH roles AS (
    SELECT
        consultation_id,
        count(*) AS participants,
        count(*) FILTER (WHERE role = 'resident_rep') AS resident_reps,
        count(*) FILTER (WHERE role = 'cppcc_member') AS cppcc_members,
        count(*) FILTER (WHERE role = 'official') AS officials,
        count(*) FILTER (WHERE role = 'party_rep') AS party_reps,
        count(*) FILTER (WHERE role = 'npc_deputy') AS npc_deputies,
        count(*) FILTER (WHERE role = 'notable') AS notables,
        count(*) FILTER (WHERE role = 'expert') AS experts,
        max(seq) AS seq
    FROM participants
    GROUP BY consultation_id
)
SELECT
    c.consultation_id,
    c.topic_id,
    c.room_id,
    r.name AS room_name,
    r.level AS room_level,
    r.county,
    r.town,
    c.status,
    c.held_at,
    china_year(coalesce(c.held_at, c.participants_confirmed_at)) AS year,
    q.participants,
    q.resident_reps,
    q.cppcc_members,
    q.officials,
    q.party_reps,
    q.npc_deputies,
    q.notables,
    q.experts,
    q.resident_reps / q.participants AS resident_share,
    {RESIDENT_QUOTA_DENOMINATOR} * q.resident_reps
        >= {RESIDENT_QUOTA_NUMERATOR} * q.participants AS meets_quota,
    CASE WHEN {RESIDENT_QUOTA_DENOMINATOR} * q.resident_reps
              < {RESIDENT_QUOTA_NUMERATOR} * q.participants
         THEN coalesce(c.quota_justification, '') <> '' END AS justified,
    nullif(c.quota_justification, '') AS justification,
    q.seq,
    c.seq AS consultation_seq
FROM consultations c
JOIN roles q ON q.consultation_id = c.consultation_id
LEFT JOIN rooms r ON r.room_id = c.room_id;

-- 4. The closed loop (§四.6 采纳、落实、反馈; the procedure of §四.2): which stages each
-- outcome has reached, and the funnel per town and per county. "Reached" is read from the
-- step's time being recorded, not from the current stage, so an outcome that went on counts
-- at every stage it passed. An adopted outcome's loop is complete when it was fed back and
-- closed and, if it needed implementing, implemented and verified effective.
CREATE OR REPLACE VIEW outcome_loop AS
SELECT
    o.outcome_id,
    o.room_id,
    r.name AS room_name,
    r.county,
    r.town,
    o.stage,
    o.reported_at IS NOT NULL AS reported,
    o.adopted_at IS NOT NULL AS adopted,
    o.not_adopted_at IS NOT NULL AS not_adopted,
    o.publicised_at IS NOT NULL AS publicised,
    o.implementation_assigned_at IS NOT NULL AS implementing,
    o.implemented_at IS NOT NULL AS implemented,
    coalesce(o.verified_effective, false) AS verified,
    o.fed_back_at IS NOT NULL AS fed_back,
    o.closed_at IS NOT NULL AS closed,
    coalesce(
        o.adopted_at IS NOT NULL AND o.fed_back_at IS NOT NULL AND o.closed_at IS NOT NULL
        AND (NOT o.needs_implementation
             OR (o.implemented_at IS NOT NULL AND o.verified_effective)),
        false
    ) AS loop_complete,
    o.seq
FROM outcomes o
LEFT JOIN rooms r ON r.room_id = o.room_id;

CREATE OR REPLACE VIEW closed_loop_funnel_by_town AS
SELECT
    county,
    town,
    count(*) AS drafted,
    count(*) FILTER (WHERE reported) AS reported,
    count(*) FILTER (WHERE adopted) AS adopted,
    count(*) FILTER (WHERE not_adopted) AS not_adopted,
    count(*) FILTER (WHERE publicised) AS publicised,
    count(*) FILTER (WHERE implementing) AS implementing,
    count(*) FILTER (WHERE implemented) AS implemented,
    count(*) FILTER (WHERE verified) AS verified,
    count(*) FILTER (WHERE fed_back) AS fed_back,
    count(*) FILTER (WHERE closed) AS closed,
    count(*) FILTER (WHERE loop_complete) AS loop_complete,
    count(*) FILTER (WHERE loop_complete) / nullif(count(*) FILTER (WHERE adopted), 0)
        AS completion_rate,
    list(outcome_id ORDER BY seq) AS outcome_ids,
    list(seq ORDER BY seq) AS seqs
FROM outcome_loop
GROUP BY county, town;

CREATE OR REPLACE VIEW closed_loop_funnel_by_county AS
SELECT
    county,
    count(*) AS drafted,
    count(*) FILTER (WHERE reported) AS reported,
    count(*) FILTER (WHERE adopted) AS adopted,
    count(*) FILTER (WHERE not_adopted) AS not_adopted,
    count(*) FILTER (WHERE publicised) AS publicised,
    count(*) FILTER (WHERE implementing) AS implementing,
    count(*) FILTER (WHERE implemented) AS implemented,
    count(*) FILTER (WHERE verified) AS verified,
    count(*) FILTER (WHERE fed_back) AS fed_back,
    count(*) FILTER (WHERE closed) AS closed,
    count(*) FILTER (WHERE loop_complete) AS loop_complete,
    count(*) FILTER (WHERE loop_complete) / nullif(count(*) FILTER (WHERE adopted), 0)
        AS completion_rate,
    list(outcome_id ORDER BY seq) AS outcome_ids,
    list(seq ORDER BY seq) AS seqs
FROM outcome_loop
GROUP BY county;

-- 5. Overdue and stalled implementations (§四.6: 跟踪监督落实成效; 落实不到位 → 分析原因,
-- 再协商), on outcome_status_as_of's flags so the numbers agree with outcome_status.
CREATE OR REPLACE MACRO overdue_implementations_as_of(as_of) AS TABLE
SELECT
    s.outcome_id,
    s.title,
    s.room_id,
    s.room_name,
    s.county,
    s.town,
    s.implementing_unit_id,
    s.implementing_unit_name,
    s.implementation_assigned_at,
    s.deadline,
    CAST(as_of AS DATE) - s.deadline AS days_overdue,
    s.progress_percent,
    s.stage,
    s.stalled,
    o.seq
FROM outcome_status_as_of(CAST(as_of AS DATE)) s
JOIN outcomes o ON o.outcome_id = s.outcome_id
WHERE s.overdue;

CREATE OR REPLACE VIEW overdue_implementations AS
SELECT * FROM overdue_implementations_as_of(china_today());

CREATE OR REPLACE MACRO stalled_implementations_as_of(as_of) AS TABLE
SELECT
    s.outcome_id,
    s.title,
    s.room_id,
    s.room_name,
    s.county,
    s.town,
    s.implementing_unit_id,
    s.implementing_unit_name,
    s.deadline,
    CASE WHEN s.overdue THEN CAST(as_of AS DATE) - s.deadline END AS days_overdue,
    o.stalled_at,
    CAST(as_of AS DATE) - CAST(o.stalled_at AS DATE) AS days_stalled,
    o.stall_count,
    s.stall_cause,
    s.reconsulted,
    s.reconsultation_topic_id,
    s.stage,
    o.seq
FROM outcome_status_as_of(CAST(as_of AS DATE)) s
JOIN outcomes o ON o.outcome_id = s.outcome_id
WHERE s.stalled AND CAST(o.stalled_at AS DATE) <= CAST(as_of AS DATE);

CREATE OR REPLACE VIEW stalled_implementations AS
SELECT * FROM stalled_implementations_as_of(china_today());

-- 6. Where topics come from (§四.3: 党委政府点题、委员荐题、群众出题、向社会公开征集),
-- per calendar year of the proposal.
CREATE OR REPLACE VIEW topic_sources_by_town AS
SELECT
    r.county,
    r.town,
    china_year(t.proposed_at) AS year,
    t.source,
    count(*) AS topics,
    count(*) FILTER (WHERE t.approved_at IS NOT NULL) AS approved,
    count(*) FILTER (WHERE t.rejected_at IS NOT NULL) AS rejected,
    count(*) FILTER (WHERE t.withdrawn_at IS NOT NULL) AS withdrawn,
    count(*) FILTER (WHERE t.reconsultation_of IS NOT NULL) AS reconsultations,
    list(t.topic_id ORDER BY t.seq) AS topic_ids,
    list(t.seq ORDER BY t.seq) AS seqs
FROM topics t
LEFT JOIN rooms r ON r.room_id = t.room_id
GROUP BY r.county, r.town, china_year(t.proposed_at), t.source;

CREATE OR REPLACE VIEW topic_sources_by_county AS
SELECT
    county,
    year,
    source,
    sum(topics)::BIGINT AS topics,
    sum(approved)::BIGINT AS approved,
    sum(rejected)::BIGINT AS rejected,
    sum(withdrawn)::BIGINT AS withdrawn,
    sum(reconsultations)::BIGINT AS reconsultations,
    list_sort(flatten(list(topic_ids))) AS topic_ids,
    list_sort(flatten(list(seqs))) AS seqs
FROM topic_sources_by_town
GROUP BY county, year, source;

-- 7. How long the loop takes (§四.2 报送 → §四.6 采纳 → 落实), in days (fractional).
CREATE OR REPLACE VIEW outcome_durations AS
SELECT
    o.outcome_id,
    o.room_id,
    r.county,
    r.town,
    o.reported_at,
    o.adopted_at,
    o.implemented_at,
    (epoch_us(o.adopted_at) - epoch_us(o.reported_at)) / 86400e6 AS report_to_adoption_days,
    (epoch_us(o.implemented_at) - epoch_us(o.adopted_at)) / 86400e6
        AS adoption_to_implementation_days,
    o.seq
FROM outcomes o
LEFT JOIN rooms r ON r.room_id = o.room_id
WHERE o.adopted_at IS NOT NULL AND o.reported_at IS NOT NULL;

CREATE OR REPLACE VIEW loop_durations AS
SELECT
    CASE WHEN grouping(county) = 0 THEN 'county' ELSE 'all' END AS scope,
    county,
    count(report_to_adoption_days) AS adopted,
    quantile_cont(report_to_adoption_days, 0.5) AS report_to_adoption_median_days,
    quantile_cont(report_to_adoption_days, 0.9) AS report_to_adoption_p90_days,
    count(adoption_to_implementation_days) AS implemented,
    quantile_cont(adoption_to_implementation_days, 0.5)
        AS adoption_to_implementation_median_days,
    quantile_cont(adoption_to_implementation_days, 0.9) AS adoption_to_implementation_p90_days,
    list(outcome_id ORDER BY seq) AS outcome_ids,
    list(seq ORDER BY seq) AS seqs
FROM outcome_durations
GROUP BY GROUPING SETS ((county), ());

-- 8. CPPCC members' participation per year, for the annual evaluation (§五.3: 年终要把政协
-- 委员参加协商议事活动情况纳入委员履职考评范围). A member is anyone linked to a room
-- (room_members), confirmed as a participant in the role cppcc_member, speaking in that
-- role, or acting as cppcc_member in an event (member_acts).
CREATE OR REPLACE VIEW member_participation AS
WITH cppcc AS MATERIALIZED (
    -- participants is the largest table read here: scanned once, for acts and names.
    SELECT consultation_id, person_id, name, confirmed_at, seq
    FROM participants WHERE role = 'cppcc_member'
),
acts AS (
    SELECT p.person_id AS member_id,
           china_year(coalesce(c.held_at, p.confirmed_at)) AS year,
           'confirmed' AS kind, p.consultation_id AS ref_id, p.seq
    FROM cppcc p JOIN consultations c ON c.consultation_id = p.consultation_id
    UNION ALL
    SELECT person_id, china_year(held_at), 'attended', consultation_id, seq
    FROM attendees WHERE role = 'cppcc_member'
    UNION ALL
    SELECT speaker_id, china_year(recorded_at), 'opinion', consultation_id, seq
    FROM opinions WHERE speaker_role = 'cppcc_member'
    UNION ALL
    SELECT member_id, china_year(occurred_at), event_type, aggregate_id, seq FROM member_acts
),
links AS (
    SELECT member_id, room_id, china_year(linked_at) AS year, member_name, member_level, seq
    FROM room_members
),
members AS (
    SELECT member_id, min(year) AS first_year
    FROM (SELECT member_id, year FROM links UNION ALL SELECT member_id, year FROM acts)
    GROUP BY member_id
),
years AS (
    SELECT year FROM acts
    UNION SELECT year FROM links
    UNION SELECT china_year(held_at) FROM consultations WHERE held_at IS NOT NULL
),
linked_names AS (
    SELECT member_id, arg_min(member_name, seq) AS name, arg_min(member_level, seq) AS level
    FROM links GROUP BY member_id
),
participant_names AS (
    SELECT person_id AS member_id, arg_max(name, seq) AS name
    FROM cppcc GROUP BY person_id
),
room_firsts AS (
    SELECT member_id, room_id, min(year) AS year FROM links GROUP BY member_id, room_id
),
-- Rooms a member was linked to by each year, as a join (a correlated subquery per row was
-- a third of the office's member-participation query on the million-event views).
rooms_linked AS (
    SELECT m.member_id, y.year, count(DISTINCT r.room_id) AS rooms_linked
    FROM members m
    JOIN years y ON y.year >= m.first_year
    JOIN room_firsts r ON r.member_id = m.member_id AND r.year <= y.year
    GROUP BY m.member_id, y.year
),
counted AS (
    SELECT
        m.member_id,
        y.year,
        -- list_distinct of plain aggregates, not DISTINCT aggregates: one hash table, not six.
        coalesce(len(list_distinct(list(a.ref_id) FILTER (WHERE a.kind = 'confirmed'))), 0)
            AS consultations_confirmed,
        coalesce(len(list_distinct(list(a.ref_id) FILTER (WHERE a.kind = 'attended'))), 0)
            AS consultations_attended,
        count(a.seq) FILTER (WHERE a.kind = 'opinion') AS opinions_voiced,
        count(a.seq) FILTER (WHERE a.kind = 'topic.proposed') AS topics_recommended,
        count(a.seq) FILTER (WHERE a.kind = 'consultation.vote_cast') AS votes,
        count(a.seq) FILTER (WHERE a.kind = 'outcome.escalated') AS escalations,
        count(a.seq) FILTER (WHERE a.kind LIKE '%.%') AS acts_as_member,
        coalesce(list_distinct(list(a.ref_id) FILTER (WHERE a.kind = 'attended')), [])
            AS attended_consultation_ids,
        coalesce(list_distinct(list(a.ref_id) FILTER (WHERE a.kind = 'topic.proposed')), [])
            AS recommended_topic_ids,
        coalesce(list_distinct(list(a.seq)), []) AS seqs
    FROM members m
    JOIN years y ON y.year >= m.first_year
    LEFT JOIN acts a ON a.member_id = m.member_id AND a.year = y.year
    GROUP BY m.member_id, y.year
)
SELECT
    k.member_id,
    coalesce(ln.name, pn.name) AS member_name,
    ln.level AS member_level,
    k.year,
    coalesce(rl.rooms_linked, 0) AS rooms_linked,
    k.consultations_confirmed,
    k.consultations_attended,
    k.opinions_voiced,
    k.topics_recommended,
    k.votes,
    k.escalations,
    k.acts_as_member,
    list_sort(k.attended_consultation_ids) AS attended_consultation_ids,
    list_sort(k.recommended_topic_ids) AS recommended_topic_ids,
    list_sort(k.seqs) AS seqs
FROM counted k
LEFT JOIN linked_names ln ON ln.member_id = k.member_id
LEFT JOIN participant_names pn ON pn.member_id = k.member_id
LEFT JOIN rooms_linked rl ON rl.member_id = k.member_id AND rl.year = k.year;
"""
"""The views and macros; ``projections.schema.create_schema`` runs this after the tables."""

VIEWS: Final[tuple[str, ...]] = tuple(
    name
    for name in ANALYTICS_HEADERS
    if name not in ("attendees", "opinions", "member_acts", "person_acts")
)
"""The analytics views, in the order docs/analytics.md presents them."""
