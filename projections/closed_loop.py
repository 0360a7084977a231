"""The outcome closed-loop view (闭环: 采纳、落实、反馈, §四.6), as SQL over the tables.

The ``outcomes`` table holds what the events said; the flags that depend on a date
(overdue) or on other tables (re-consulted topic, dissent explained) are computed here, at
query time, so they are right on the day a supervisor asks rather than on the day the
last event arrived.

``outcome_status_as_of(DATE)`` is a table macro for any reference date (an auditor's "as
it stood on 30 June"); ``outcome_status`` is that macro at ``china_today()``.

Times in the tables are naive UTC, but the seed's years and days are China's
(``events.common.CHINA_STANDARD_TIME``, UTC+8, no daylight saving): ``china_year(ts)`` and
``china_today()`` count in it, and never in the DuckDB session's time zone (``current_date``
follows the machine's), so every client and every server gives the same answer.
"""

from __future__ import annotations

from typing import Final

STAGES: Final[tuple[str, ...]] = (
    "drafted",  # §四.2 协商成果 drawn up
    "reported",  # §四.2 报送 to the same-level party committee / government
    "adopted",  # §四.6 采纳
    "not_adopted",  # §四.6 not adopted, reason given
    "publicised",  # §四.6 公示
    "implementing",  # §四.6 责任单位 assigned, tracked (跟踪)
    "implemented",  # §四.6 reported done
    "verified",  # §四.6 监督落实成效
    "fed_back",  # §四.2, §四.6 成果运用反馈 to residents
    "closed",  # §四.6 the loop is closed
)
"""The ``stage`` values of an outcome, in the order of the procedure."""

CLOSED_LOOP_SQL: Final[str] = """
-- China Standard Time (UTC+8): the year (§四.1 每年, §五.3 年终) of a naive UTC timestamp,
-- and today's date in China (a deadline day ends at 24:00 there).
CREATE OR REPLACE MACRO china_year(ts) AS year(ts + INTERVAL 8 HOUR);
CREATE OR REPLACE MACRO china_today() AS
    CAST(make_timestamp(epoch_us(get_current_timestamp()) + 28800000000) AS DATE);

CREATE OR REPLACE MACRO outcome_status_as_of(as_of) AS TABLE
SELECT
    o.outcome_id,
    o.room_id,
    r.name AS room_name,
    r.county,
    r.town,
    o.topic_id,
    o.consultation_id,
    o.kind,
    o.title,
    o.stage,
    o.drafted_at,
    o.reported_at,
    o.adopted_at,
    o.adopted_as,
    o.not_adopted_at,
    o.publicised_at,
    o.implementation_assigned_at,
    o.implementing_unit_id,
    o.implementing_unit_name,
    o.deadline,
    o.progress_percent,
    o.implemented_at,
    o.verified_at,
    o.fed_back_at,
    o.closed_at,
    -- §四.6 落实: a deadline passed without the unit reporting the matter done.
    coalesce(
        o.deadline IS NOT NULL AND o.deadline < as_of
        AND o.implemented_at IS NULL AND o.closed_at IS NULL,
        false
    ) AS overdue,
    -- §四.6 落实不到位: stalled and not completed since.
    o.stalled,
    o.stall_cause,
    -- §四.6 再协商: this outcome's new topic, and the topic (if any) that names this outcome.
    o.reconsultation_topic_id IS NOT NULL OR t.topic_id IS NOT NULL AS reconsulted,
    coalesce(o.reconsultation_topic_id, t.topic_id) AS reconsultation_topic_id,
    -- §四.6: raised upward through the CPPCC channel.
    o.escalated_at IS NOT NULL AS escalated,
    o.escalated_to,
    -- §四.6 rule 7: every dissent of the consultation explained (NULL: there was none).
    d.dissents AS dissent_count,
    coalesce(x.explained, 0) AS dissents_explained,
    CASE WHEN coalesce(d.dissents, 0) = 0 THEN NULL
         ELSE coalesce(x.explained, 0) >= d.dissents END AS dissent_explained,
    -- An event of this outcome was recorded more than 7 days after it occurred.
    o.backdated_entry
FROM outcomes o
LEFT JOIN rooms r ON r.room_id = o.room_id
LEFT JOIN (
    SELECT reconsultation_of, min(topic_id) AS topic_id
    FROM topics WHERE reconsultation_of IS NOT NULL GROUP BY reconsultation_of
) t ON t.reconsultation_of = o.outcome_id
LEFT JOIN (
    SELECT consultation_id, count(*) AS dissents FROM dissents GROUP BY consultation_id
) d ON d.consultation_id = o.consultation_id
LEFT JOIN (
    SELECT outcome_id, count(DISTINCT dissent_id) AS explained
    FROM dissent_explanations GROUP BY outcome_id
) x ON x.outcome_id = o.outcome_id;

CREATE OR REPLACE VIEW outcome_status AS
SELECT * FROM outcome_status_as_of(china_today());
"""
"""The macro and the view; ``create_schema`` runs this after the tables."""
