"""Pure functions from one decoded event to the row changes it makes in the views.

An applier does no I/O: it returns ``Op`` values (an SQL statement and its parameters), so
the runner can group a whole batch into bulk statements inside one transaction, and a test
can check an event's effect without a database. ``APPLIERS`` maps every event tag to its
applier; a tag missing here is an event the projection does not know, and the runner stops
on it rather than skipping it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from events import consultation as c
from events import outcome as o
from events import room as r
from events import topic as t
from events.codec import tag_of
from events.common import BaseEvent

Op = tuple[str, tuple[Any, ...]]
"""One row change: a parametrised SQL statement and its parameters."""

Applier = Callable[[int, str, Any], list[Op]]
"""(notification id, originator id, event) → the row changes, in order."""


def utc(moment: datetime) -> datetime:
    """A naive UTC timestamp, the form every view column holds."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def _touch(table: str, key: str, sets: str = "") -> str:
    """An UPDATE that also keeps the row's last sequence and back-dated flag."""
    extra = f"{sets}, " if sets else ""
    return (
        f"UPDATE {table} SET {extra}seq = ?, backdated_entry = backdated_entry OR ? WHERE {key} = ?"
    )


def _update(table: str, key: str, sets: str, values: tuple[Any, ...]) -> Applier:
    """An applier setting ``sets`` (SQL ``col = ?`` list) from ``values`` of the event."""

    def apply(seq: int, oid: str, event: Any) -> list[Op]:
        params = tuple(v(event) if callable(v) else v for v in values)
        sql = _touch(table, key, sets)
        return [(sql, (*params, seq, event.backdated, oid))]

    return apply


# --- rooms (§四.1, §五.3–§五.5) -----------------------------------------------------------


def _room_established(seq: int, oid: str, e: r.RoomEstablished) -> list[Op]:
    parent = None if e.parent_room_id is None else str(e.parent_room_id)
    sql = (
        "INSERT INTO rooms (room_id, name, level, county, town, locality, parent_room_id, "
        "established_at, backdated_entry, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    region = e.region
    params = (oid, e.name, e.level, region.county, region.town, region.locality, parent)
    return [(sql, (*params, utc(e.occurred_at), e.backdated, seq))]


def _member_linked(seq: int, oid: str, e: r.MemberLinked) -> list[Op]:
    insert = (
        "INSERT INTO room_members (room_id, member_id, member_name, member_level, "
        "members_group, linked_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    county = 1 if e.member_level == "county" else 0
    return [
        (insert, (oid, e.member.id, e.member.name, e.member_level, e.members_group,
                  utc(e.occurred_at), seq)),
        (_touch("rooms", "room_id", "county_member_count = county_member_count + ?"),
         (county, seq, e.backdated, oid)),
    ]  # fmt: skip


def _plan_filed(seq: int, oid: str, e: r.AnnualPlanFiled) -> list[Op]:
    insert = (
        "INSERT INTO room_plans (room_id, year, planned_consultations, filed_at, seq) "
        "VALUES (?, ?, ?, ?, ?)"
    )
    return [(insert, (oid, e.year, e.planned_consultations, utc(e.occurred_at), seq))]


# --- topics (§二.1, §四.3) -----------------------------------------------------------------


def _topic_proposed(seq: int, oid: str, e: t.TopicProposed) -> list[Op]:
    sql = (
        "INSERT INTO topics (topic_id, room_id, room_level, title, source, reconsultation_of, "
        "status, proposed_at, backdated_entry, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    again = None if e.reconsultation_of is None else str(e.reconsultation_of)
    params = (oid, str(e.room_id), e.room_level, e.title, e.source, again, "proposed")
    return [(sql, (*params, utc(e.occurred_at), e.backdated, seq))]


def _at(e: Any) -> datetime:
    return utc(e.occurred_at)


# --- consultations (§四.2, §四.4, §四.5) -------------------------------------------------


def _research_group_formed(seq: int, oid: str, e: c.ResearchGroupFormed) -> list[Op]:
    sql = (
        "INSERT INTO consultations (consultation_id, topic_id, room_id, room_level, status, "
        "research_lead_id, research_group_size, research_started_at, backdated_entry, seq) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    params = (oid, str(e.topic_id), str(e.room_id), e.room_level, "researching", e.lead_id)
    return [(sql, (*params, len(e.members), _at(e), e.backdated, seq))]


def _participants_confirmed(seq: int, oid: str, e: c.ParticipantsConfirmed) -> list[Op]:
    ops: list[Op] = [("DELETE FROM participants WHERE consultation_id = ?", (oid,))]
    insert = (
        "INSERT INTO participants (consultation_id, person_id, name, role, confirmed_at, seq) "
        "VALUES (?, ?, ?, ?, ?, ?)"
    )
    ops += [(insert, (oid, p.id, p.name, p.role, _at(e), seq)) for p in e.participants]
    sets = (
        "participant_count = ?, resident_count = ?, quota_met = ?, quota_justification = ?, "
        "participants_confirmed_at = ?, status = 'participants_confirmed'"
    )
    params = (e.participant_count, e.resident_count, e.quota_met, e.quota_justification, _at(e))
    ops.append((_touch("consultations", "consultation_id", sets),
                (*params, seq, e.backdated, oid)))  # fmt: skip
    return ops


def _motion_put(seq: int, oid: str, e: c.MotionPut) -> list[Op]:
    sql = "INSERT INTO motions (consultation_id, motion_id, text, put_at, seq) VALUES (?,?,?,?,?)"
    return [(sql, (oid, str(e.motion_id), e.text, _at(e), seq))]


def _vote_cast(seq: int, oid: str, e: c.VoteCast) -> list[Op]:
    sql = "UPDATE motions SET votes_cast = votes_cast + 1, seq = ? WHERE motion_id = ?"
    return [(sql, (seq, str(e.motion_id)))]


def _motion_resolved(seq: int, oid: str, e: c.MotionResolved) -> list[Op]:
    sql = (
        "UPDATE motions SET votes_for = ?, votes_against = ?, abstentions = ?, present = ?, "
        "result = ?, resolved_at = ?, seq = ? WHERE motion_id = ?"
    )
    tally = e.tally
    params = (tally.votes_for, tally.votes_against, tally.abstentions, tally.present)
    return [(sql, (*params, e.result, _at(e), seq, str(e.motion_id)))]


def _dissent_recorded(seq: int, oid: str, e: c.DissentRecorded) -> list[Op]:
    insert = (
        "INSERT INTO dissents (consultation_id, dissent_id, person_count, position, "
        "recorded_at, seq) VALUES (?, ?, ?, ?, ?, ?)"
    )
    count = _touch("consultations", "consultation_id", "dissent_count = dissent_count + 1")
    return [
        (insert, (oid, str(e.dissent_id), len(e.person_ids), e.position, _at(e), seq)),
        (count, (seq, e.backdated, oid)),
    ]


# --- outcomes (§四.2, §四.6) ---------------------------------------------------------------


def _outcome_drafted(seq: int, oid: str, e: o.OutcomeDrafted) -> list[Op]:
    sql = (
        "INSERT INTO outcomes (outcome_id, consultation_id, topic_id, room_id, kind, title, "
        "stage, drafted_at, backdated_entry, last_event_at, seq) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    ids = (oid, str(e.consultation_id), str(e.topic_id), str(e.room_id))
    return [(sql, (*ids, e.kind, e.title, "drafted", _at(e), e.backdated, _at(e), seq))]


def _outcome(sets: str, *values: Any) -> Applier:
    """An outcome update that also records when its latest event happened."""
    return _update("outcomes", "outcome_id", f"{sets}, last_event_at = ?", (*values, _at))


def _dissent_explained(seq: int, oid: str, e: o.DissentExplained) -> list[Op]:
    insert = (
        "INSERT INTO dissent_explanations (outcome_id, dissent_id, explained_at, seq) "
        "VALUES (?, ?, ?, ?)"
    )
    touch = _outcome("stage = stage")(seq, oid, e)
    return [(insert, (oid, str(e.dissent_id), _at(e), seq)), *touch]


def _verified(seq: int, oid: str, e: o.ImplementationVerified) -> list[Op]:
    # Not effective reopens the work (§四.6 监督落实成效): back to implementing.
    stage = "verified" if e.effective else "implementing"
    sets = "verified_at = ?, verified_effective = ?, stage = ?"
    return _outcome(sets, _at, e.effective, stage)(seq, oid, e)


APPLIERS: Final[dict[str, Applier]] = {
    tag_of(r.RoomEstablished): _room_established,
    tag_of(r.ConvenerAssigned): _update(
        "rooms", "room_id", "convener_id = ?, convener_name = ?, convener_position = ?",
        (lambda e: e.convener.id, lambda e: e.convener.name, lambda e: e.position),
    ),
    tag_of(r.LiaisonAssigned): _update(
        "rooms", "room_id", "liaison_id = ?, liaison_name = ?",
        (lambda e: e.liaison.id, lambda e: e.liaison.name),
    ),
    tag_of(r.MemberLinked): _member_linked,
    tag_of(r.AnnualPlanFiled): _plan_filed,
    tag_of(t.TopicProposed): _topic_proposed,
    tag_of(t.TopicApprovalEscalated): _update(
        "topics", "topic_id", "status = 'awaiting_upper_approval', escalated_to = ?, "
        "escalated_at = ?", (lambda e: e.upper_org, _at),
    ),
    tag_of(t.TopicApproved): _update(
        "topics", "topic_id", "status = 'approved', approving_org = ?, "
        "approved_by_upper_level = ?, approved_at = ?",
        (lambda e: e.approving_org, lambda e: e.by_upper_level, _at),
    ),
    tag_of(t.TopicRejected): _update(
        "topics", "topic_id", "status = 'rejected', rejecting_org = ?, rejection_reason = ?, "
        "rejected_at = ?", (lambda e: e.rejecting_org, lambda e: e.reason, _at),
    ),
    tag_of(t.TopicFiled): _update(
        "topics", "topic_id", "status = 'filed', filed_with = ?, filing_ref = ?, filed_at = ?",
        (lambda e: e.filed_with, lambda e: e.filing_ref, _at),
    ),
    tag_of(t.TopicWithdrawn): _update(
        "topics", "topic_id", "status = 'withdrawn', withdrawal_reason = ?, withdrawn_at = ?",
        (lambda e: e.reason, _at),
    ),
    tag_of(c.ResearchGroupFormed): _research_group_formed,
    tag_of(c.ResearchFindingRecorded): _update(
        "consultations", "consultation_id", "research_findings = research_findings + 1", (),
    ),
    tag_of(c.ParticipantsConfirmed): _participants_confirmed,
    tag_of(c.ConsultationScheduled): _update(
        "consultations", "consultation_id", "status = 'scheduled', form = ?, venue = ?, "
        "venue_detail = ?, scheduled_for = ?, host_id = ?",
        (lambda e: e.form, lambda e: e.venue, lambda e: e.venue_detail,
         lambda e: utc(e.scheduled_for), lambda e: e.host_id),
    ),
    tag_of(c.ConsultationHeld): _update(
        "consultations", "consultation_id", "status = 'held', form = ?, venue = ?, "
        "venue_detail = ?, held_at = ?, attendee_count = ?",
        (lambda e: e.form, lambda e: e.venue, lambda e: e.venue_detail, _at,
         lambda e: len(e.attendee_ids)),
    ),
    tag_of(c.OpinionRecorded): _update(
        "consultations", "consultation_id", "opinion_count = opinion_count + 1", (),
    ),
    tag_of(c.MotionPut): _motion_put,
    tag_of(c.VoteCast): _vote_cast,
    tag_of(c.MotionResolved): _motion_resolved,
    tag_of(c.ConsensusReached): _update(
        "consultations", "consultation_id", "consensus_summary = ?, consensus_at = ?",
        (lambda e: e.summary, _at),
    ),
    tag_of(c.DissentRecorded): _dissent_recorded,
    tag_of(o.OutcomeDrafted): _outcome_drafted,
    tag_of(o.OutcomeReported): _outcome("stage = 'reported', reported_at = ?", _at),
    tag_of(o.OutcomeAdopted): _outcome(
        "stage = 'adopted', adopted_at = ?, adopted_as = ?, decided_by = ?, "
        "needs_implementation = ?",
        _at, lambda e: e.adopted_as, lambda e: e.decided_by, lambda e: e.needs_implementation,
    ),
    tag_of(o.OutcomeNotAdopted): _outcome(
        "stage = 'not_adopted', not_adopted_at = ?, decided_by = ?, not_adopted_reason = ?",
        _at, lambda e: e.decided_by, lambda e: e.reason,
    ),
    tag_of(o.PublicityNoticePublished): _outcome(
        "stage = 'publicised', publicised_at = ?, publicity_starts_on = ?, "
        "publicity_ends_on = ?", _at, lambda e: e.starts_on, lambda e: e.ends_on,
    ),
    tag_of(o.ObjectionReceived): _outcome("objection_count = objection_count + 1"),
    tag_of(o.ImplementationAssigned): _outcome(
        "stage = 'implementing', implementation_assigned_at = ?, implementing_unit_id = ?, "
        "implementing_unit_name = ?, deadline = ?",
        _at, lambda e: e.unit.id, lambda e: e.unit.name, lambda e: e.deadline,
    ),
    tag_of(o.ProgressReported): _outcome(
        "progress_percent = ?, progress_at = ?", lambda e: e.percent, _at
    ),
    tag_of(o.ImplementationCompleted): _outcome(
        "stage = 'implemented', implemented_at = ?, progress_percent = 100, stalled = false",
        _at,
    ),
    tag_of(o.ImplementationVerified): _verified,
    tag_of(o.ImplementationStalled): _outcome(
        "stalled = true, stall_count = stall_count + 1, stalled_at = ?, stall_cause = ?",
        _at, lambda e: e.cause,
    ),
    tag_of(o.ReconsultationOpened): _outcome(
        "reconsultation_topic_id = ?, reconsulted_at = ?", lambda e: str(e.new_topic_id), _at
    ),
    tag_of(o.FeedbackDelivered): _outcome("stage = 'fed_back', fed_back_at = ?", _at),
    tag_of(o.DissentExplained): _dissent_explained,
    tag_of(o.EscalatedViaCppcc): _outcome(
        "escalated_to = ?, escalation_category = ?, escalated_at = ?",
        lambda e: e.to_level, lambda e: e.category, _at,
    ),
    tag_of(o.OutcomeClosed): _outcome("stage = 'closed', closed_at = ?", _at),
}  # fmt: skip
"""Every event tag the projection knows, and how it changes the views."""


def ops_for(seq: int, originator_id: str, event: BaseEvent) -> list[Op]:
    """The row changes of one event; ``KeyError`` if its tag has no applier."""
    return APPLIERS[tag_of(event)](seq, originator_id, event)
